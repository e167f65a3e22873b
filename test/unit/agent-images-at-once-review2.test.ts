/**
 * Review 2 of the agent's bound on images decided at once (verify-server.ts, MAX_IMAGES_AT_ONCE):
 * a pod author names as many images as they like, each behind a registry that never answers. At
 * most 32 are decided at once: another image is declined at once (its hook decides itself), a
 * start of an image already being decided is not (it joins that image's verification); every
 * decision gives its place back when it ends (at the hook's until at the latest), so the agent
 * decides again afterwards. Real policy and configuration files, a loopback registry that answers
 * nothing (a fault a real registry will not produce on demand), decideRequest in this process.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decideRequest } from '../../src/agent/verify-server.js';
import { hookState } from '../support/oci-bundle.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-images-at-once-');
const open = new Set<Socket>();
let server: Server;
let host: string;
let own: { config: string; policy: string };

beforeAll(async () => {
  server = createServer(() => {
    /* never answered */
  });
  server.on('connection', (c) => {
    open.add(c);
    c.once('close', () => open.delete(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pub = join(dir, 'key.pub');
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString());
  own = { config: join(dir, 'config.yaml'), policy: join(dir, 'policy.yaml') };
  writeFileSync(
    own.policy,
    `version: 1\ndefault: reject\nscopes:\n  "${host}":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n      signedIdentity: {type: matchRepository}\n`,
  );
  writeFileSync(own.config, `cache:\n  dir: ${join(dir, 'cache')}\nnode:\n  containerdSocket: ${join(dir, 'no-runtime.sock')}\n`);
});
afterAll(async () => {
  for (const c of open) c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

let n = 0;
const image = (i: number) => `${host}/app${i}@sha256:${i.toString(16).padStart(64, '0')}`;
const request = (img: string, until: number) =>
  JSON.stringify({ v: 1, state: hookState(`c${++n}`, img), config: own.config, policy: own.policy, until });

it('32 images at once; a 33rd declined at once, a start of one of the 32 joins it; all places back once they end', async () => {
  // the documents validated first (a decision that ends at once: no time left for the registry)
  await decideRequest(request(image(1000), Date.now() + 300), own);
  const until = Date.now() + 2500;
  const deciding = Array.from({ length: 32 }, (_, i) => decideRequest(request(image(i), until), own));
  await new Promise((r) => setTimeout(r, 200));

  const t = Date.now();
  expect(await decideRequest(request(image(32), until), own)).toEqual({ v: 1, decline: 'busy: 32 images being decided' });
  expect(Date.now() - t).toBeLessThan(500);
  // the same image string as one being decided is no new image: decided (and declined when its time is up)
  const joined = decideRequest(request(image(5), until), own);

  const answers = await Promise.all([...deciding, joined]);
  for (const a of answers) {
    expect(a).not.toHaveProperty('allow');
    expect(a.decline).not.toMatch(/^busy/);
    expect(a.decline).toMatch(/DEADLINE_EXCEEDED|deadline/i);
  }
  expect(Date.now()).toBeLessThan(until + 2000);
  // every place given back: another new image is decided, not declined as busy
  const after = await decideRequest(request(image(33), Date.now() + 500), own);
  expect(after.decline).not.toMatch(/^busy/);
}, 30_000);
