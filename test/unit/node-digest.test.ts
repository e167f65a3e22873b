import { describe, expect, it } from 'vitest';
import { type NodeImages, digestForImage, imageForContainer } from '../../src/hook/node-digest.js';
import { parseReference } from '../../src/reference/reference.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function node(
  imageRef: string,
  repoDigests: string[] | undefined,
  imageId = `sha256:${'f'.repeat(64)}`,
  userSpecifiedImage?: string,
): NodeImages & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async containerImage() {
      asked.push('ContainerStatus');
      return { imageId, imageRef, userSpecifiedImage };
    },
    async repoDigests() {
      asked.push('ImageStatus');
      return repoDigests;
    },
    async imageStatus() {
      asked.push('ImageStatus');
      return repoDigests && { id: imageId, repoDigests };
    },
  };
}

describe('the digest the node runs', () => {
  it('takes ContainerStatus image_ref when its repository is the pod’s', async () => {
    const n = node(`localhost:5001/app@${D1}`, undefined);
    expect(await imageForContainer(n, 'c', parseReference('localhost:5001/app:v1'))).toEqual({
      named: parseReference('localhost:5001/app:v1'),
      digest: D1,
      repoDigest: `localhost:5001/app@${D1}`,
      imageId: `sha256:${'f'.repeat(64)}`,
    });
    expect(n.asked).toEqual(['ContainerStatus']);
  });

  it('normalises docker.io names on both sides (containerd 2.x passes the raw pod-spec string)', async () => {
    const n = node(`docker.io/library/nginx@${D1}`, undefined);
    expect((await imageForContainer(n, 'c', parseReference('nginx'))).digest).toBe(D1);
  });

  it('asks ImageStatus when ContainerStatus shows another repository’s digest (same content, two names)', async () => {
    const n = node(`localhost:5001/other@${D2}`, [`localhost:5001/other@${D2}`, `localhost:5001/app@${D1}`]);
    expect((await imageForContainer(n, 'c', parseReference('localhost:5001/app:v1'))).digest).toBe(D1);
    expect(n.asked).toEqual(['ContainerStatus', 'ImageStatus']);
  });

  it('refuses when no repo digest is in the pod’s repository', async () => {
    const n = node(`localhost:5001/other@${D2}`, [`localhost:5001/other@${D2}`]);
    await expect(imageForContainer(n, 'c', parseReference('localhost:5001/app:v1'))).rejects.toMatchObject({
      code: 'NODE_IMAGE_MISMATCH',
      message: expect.stringMatching(/has no repo digest in localhost:5001\/app \(repo digests: localhost:5001\/other@sha256:2+\)/),
    });
  });

  it('containerd 1.7: the pod’s own image name (user_specified_image) wins over the annotation’s other name', async () => {
    const n = node(
      `127.0.0.1:5000/app@${D1}`,
      [`127.0.0.1:5000/app@${D1}`, `localhost:5001/app@${D1}`],
      'sha256:f',
      `localhost:5001/app@${D1}`,
    );
    const found = await imageForContainer(n, 'c', parseReference('127.0.0.1:5000/app:v1'));
    expect(found.named).toEqual(parseReference(`localhost:5001/app@${D1}`));
    expect(found.digest).toBe(D1);
    const byTag = await imageForContainer(
      node(`127.0.0.1:5000/app@${D1}`, [`127.0.0.1:5000/app@${D1}`, `localhost:5001/app@${D2}`], 'sha256:f', 'localhost:5001/app:v1'),
      'c',
      parseReference('127.0.0.1:5000/app:v1'),
    );
    expect([byTag.named.registry, byTag.digest]).toEqual(['localhost:5001', D2]);
  });

  it('CRI-O: by image id, filtered the same way', async () => {
    const n = node('', [`quay.io/org/app@${D2}`, `localhost:5001/app@${D1}`]);
    expect((await digestForImage(n, 'abc', parseReference('localhost:5001/app:v1'))).digest).toBe(D1);
    await expect(digestForImage(node('', undefined), 'abc', parseReference('x.io/a:v1'))).rejects.toMatchObject({
      code: 'NODE_IMAGE_MISMATCH',
    });
  });
});
