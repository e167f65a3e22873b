/**
 * The hook on CRI-O. CRI-O's annotations carry no manifest digest (ImageRef is its storage
 * id), so the hook asks CRI-O's socket ImageStatus(image id) for the repo digests and keeps
 * the one in the pod's repository. There is no CRI-O here: a small CRI server on a unix
 * socket answers ImageStatus as CRI-O does (image id, repo tags, repo digests).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameMessage, unframeMessage } from '../../src/cri/grpc.js';
import { encode } from '../../src/cri/messages.js';
import { ProtoMessage } from '../../src/cri/protobuf.js';
import { sigguard } from '../support/cli.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let server: http2.Http2Server;
let socket: string;
let policy: string;
let config: string;
let n = 0;
/** image id → repo digests, as CRI-O would answer */
const images = new Map<string, string[]>();
const asked: string[] = [];

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  policy = w.policy('crio-hook-policy.yaml', standardPolicy(w));
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-crio-'));
  socket = join(dir, 'crio.sock');
  config = w.config('crio-hook-config.yaml', `node:\n  crioSocket: ${socket}\n`);
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path']);
      if (path !== '/runtime.v1.ImageService/ImageStatus') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      const req = ProtoMessage.decode(unframeMessage(Buffer.concat(chunks)));
      const id = req.message(1)?.string(1) ?? '';
      asked.push(id);
      const digests = images.get(id);
      // ImageStatusResponse { image = 1 (Image { id = 1; repo_tags = 2; repo_digests = 3 }) }; none: no image
      const body = encode((m) =>
        m.message(1, digests ? (i) => i.string(1, id).string(2, `${digests[0]!.split('@')[0]}:v1`).strings(3, digests) : undefined),
      );
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frameMessage(body));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
}, 240_000);

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await w?.stop();
});

function crioState(imageName: string, imageId: string) {
  return JSON.stringify({
    ociVersion: '1.2.0',
    id: `crio-${++n}`,
    status: 'creating',
    pid: 1,
    bundle: '/nonexistent',
    annotations: {
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.ImageName': imageName,
      'io.kubernetes.cri-o.Image': imageId,
      'io.kubernetes.cri-o.ImageRef': imageId,
      'io.kubernetes.cri-o.Namespace': 'default',
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.container.name': 'app',
    },
  });
}

async function hook(imageName: string, imageId: string, cfg = config) {
  const log = join(w.cosign.dir, `crio-${n + 1}.log`);
  const r = await sigguard(['hook', '--config', cfg, '--policy', policy, '--log', log], { input: crioState(imageName, imageId) });
  return { ...r, d: JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) };
}

describe('the hook on CRI-O asks ImageStatus for the digest', () => {
  it('a tag is pinned to the repo digest in the pod’s repository: signed runs', async () => {
    const id = 'a'.repeat(64);
    images.set(id, [`quay.io/elsewhere/app@sha256:${'0'.repeat(64)}`, `${w.registry.host}/signed@${w.digests.signed}`]);
    const r = await hook(`${w.registry.host}/signed:v1`, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.d).toMatchObject({ decision: 'allow', code: 'ALLOWED', runtime: 'cri-o', digest: w.digests.signed, namespace: 'default', pod: 'web' });
    expect(asked.at(-1)).toBe(id);
  });

  it('unsigned content under the tag is refused', async () => {
    const id = 'b'.repeat(64);
    images.set(id, [`${w.registry.host}/unsigned@${w.digests.unsigned}`]);
    const r = await hook(`${w.registry.host}/unsigned:v1`, id);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sigguard: denied ${w.registry.host}/unsigned@${w.digests.unsigned}: no legacy or bundle signature found [NO_SIGNATURE]\n`);
  });

  it('no repo digest in the pod’s repository is refused, naming what the node has', async () => {
    const id = 'c'.repeat(64);
    images.set(id, [`quay.io/elsewhere/app@sha256:${'0'.repeat(64)}`]);
    const r = await hook(`${w.registry.host}/signed:v1`, id);
    expect(r.code).toBe(1);
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
    expect(r.d.reason).toContain('quay.io/elsewhere/app@sha256:');
  });

  it('an image CRI-O does not have is refused', async () => {
    const r = await hook(`${w.registry.host}/signed:v1`, 'd'.repeat(64));
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
    expect(r.d.reason).toMatch(/the node has no image d{64}/);
  });

  it('no CRI-O socket: a tag is refused, never resolved silently at the registry', async () => {
    const noSocket = w.config('crio-nosocket.yaml', `node:\n  crioSocket: ${join(tmpdir(), 'no-such-crio.sock')}\n`);
    const r = await hook(`${w.registry.host}/signed:v1`, 'a'.repeat(64), noSocket);
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_LOOKUP_FAILED' });
  });
});
