/**
 * Verifications one after another in one process (the tests, any long-lived caller): each one's
 * registry connections are closed before its verdict is returned, never while the next one's
 * requests are in flight (Agent.destroy() ends sockets in use too: a signed image was refused).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { verifyWithConfig } from '../../src/engine/session.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { type World, makeWorld } from '../support/world.js';

let w: World;
beforeAll(async () => {
  w = await makeWorld();
}, 120_000);
afterAll(() => w?.stop());

/** Verifications of the world's images in this process, under a policy of the trusted key (written as `name`). */
async function verifier(name: string) {
  const policy = compilePolicy(
    {
      version: 1,
      scopes: { [w.registry.host]: [{ type: 'sigstoreSigned', keyPath: w.trusted.pub, signedIdentity: { type: 'matchRepository' } }] },
    },
    join(w.cosign.dir, name),
  );
  const config = await compileConfig({}, undefined);
  return (image: string) =>
    verifyWithConfig(parseReference(image), { config, policy, signal: AbortSignal.timeout(30_000), allowTagResolution: true });
}

describe('verifications back to back in one process', () => {
  it('every one of them allows the signed image (none loses its sockets to the one before)', async () => {
    const verify = await verifier('back-to-back.yaml');
    const verdicts = [];
    for (let i = 0; i < 8; i++) verdicts.push(await verify(i % 2 ? w.ref('signed-bundle') : `${w.registry.host}/signed:v1`));
    expect(verdicts.map((v) => `${v.decision} ${v.code}`)).toEqual(Array(8).fill('allow ALLOWED'));
  }, 60_000);

  it('and at the same time (the agent deciding for several hooks): none loses its sockets to one that ends first', async () => {
    const verify = await verifier('side-by-side.yaml');
    // an unsigned image ends first (no signature: fewer round trips) while the signed ones are mid-way
    const images = Array.from({ length: 12 }, (_, i) => [w.ref('unsigned'), w.ref('signed'), w.ref('signed-bundle')][i % 3]!);
    const verdicts = await Promise.all(images.map(verify));
    expect(verdicts.map((v) => `${v.decision} ${v.code}`)).toEqual(
      images.map((i) => (i === w.ref('unsigned') ? 'deny NO_SIGNATURE' : 'allow ALLOWED')),
    );
  }, 60_000);
});
