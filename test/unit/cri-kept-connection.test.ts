/**
 * The agent's kept connection to the runtime (src/hook/cri-images.ts, `keep`): one connection
 * serves start after start, a runtime that restarts is asked again over a new one, and one start's
 * deadline cancels its own call only, never the connection another start is being answered over.
 * Against a CRI server made with @grpc/grpc-js (test/support/fake-crio.ts), not sigguard's code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { FakeCrio } from '../support/fake-crio.js';

const ID = 'a'.repeat(64);
const image = { id: ID, repoDigests: [`registry.example/app@sha256:${'b'.repeat(64)}`] };
let fakes: FakeCrio[] = [];
afterEach(async () => {
  for (const f of fakes) await f.close();
  fakes = [];
});
async function fake(socket?: string): Promise<FakeCrio> {
  const f = await FakeCrio.start(socket);
  f.images.set('registry.example/app:v1', image);
  fakes.push(f);
  return f;
}
const live = () => new AbortController().signal;

describe('the kept connection to the runtime', () => {
  it('serves start after start, each client closed as the agent closes it', async () => {
    const f = await fake();
    for (let i = 0; i < 3; i++) {
      const node = criNodeImages(f.socket, live(), true);
      expect(await node.imageStatus('registry.example/app:v1')).toEqual(image);
      node.close();
    }
    expect(f.asked).toHaveLength(3);
  });

  it('a runtime that restarted on the same socket: asked again over a new connection', async () => {
    const first = await fake();
    const before = criNodeImages(first.socket, live(), true);
    expect(await before.imageStatus('registry.example/app:v1')).toEqual(image);
    before.close();
    await first.close();
    fakes = [];
    const second = await fake(first.socket);
    const after = criNodeImages(second.socket, live(), true);
    // the old connection's end may come with the first call: at most that call fails (the agent then
    // declines and the hook asks the runtime itself); the one after it is answered
    let found = await after.imageStatus('registry.example/app:v1').catch(() => undefined);
    if (found === undefined) found = await after.imageStatus('registry.example/app:v1');
    expect(found).toEqual(image);
    expect(second.asked.length).toBeGreaterThan(0);
  });

  it("one start's deadline cancels its own call, not another start's on the same connection", async () => {
    const f = await fake();
    const warm = criNodeImages(f.socket, live(), true);
    await warm.imageStatus('registry.example/app:v1');
    const expiring = new AbortController();
    const a = criNodeImages(f.socket, expiring.signal, true).imageStatus('registry.example/app:v1');
    const b = criNodeImages(f.socket, live(), true).imageStatus('registry.example/app:v1');
    expiring.abort();
    await expect(a).rejects.toThrow(/cannot ask the runtime|deadline|cancel/);
    expect(await b).toEqual(image);
    expect(await criNodeImages(f.socket, live(), true).imageStatus('registry.example/app:v1')).toEqual(image);
  });
});
