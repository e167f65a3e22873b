/**
 * The agent's socket for hooks (src/agent/verify-server.ts) under clients that misbehave: what
 * each connection may cost the agent, and that nothing a client sends but one exact request for
 * the agent's own documents is ever decided. A reviewer's attacks (the hook's side is
 * test/integration/hook-agent-attacks.test.ts); the server runs in this process, on a socket in a
 * folder of its own, and every request here names documents the agent does not serve for, so each
 * is declined without a registry.
 */
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifyServer, startVerifyServer } from '../../src/agent/verify-server.js';
import { MAX_REQUEST_BYTES } from '../../src/hook/agent-protocol.js';
import { hookState } from '../support/oci-bundle.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-agent-limits-');
const socket = join(dir, 'agent', 'hook.sock');
const own = { config: join(dir, 'config.yaml'), policy: join(dir, 'policy.yaml') };
let server: VerifyServer;

beforeAll(async () => {
  mkdirSync(join(dir, 'agent'), { mode: 0o700 });
  writeFileSync(own.config, 'cache:\n  dir: /nonexistent\n');
  writeFileSync(own.policy, 'version: 1\ndefault: accept\nscopes: {}\n');
  server = await startVerifyServer({ socket, config: own.config, policy: own.policy, maxConnections: 4 });
});
afterAll(async () => {
  await server?.close();
});

/** A client's connection: what it got, and when it closed (ms after it connected). */
function client(): { sock: Socket; got: () => string; closed: Promise<number> } {
  const sock = connect(socket);
  const t0 = Date.now();
  let got = '';
  sock.on('data', (d) => (got += d));
  sock.on('error', () => {});
  const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now() - t0)));
  return { sock, got: () => got, closed };
}

const otherDocs = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, state: hookState('c1', 'r.example/app:v1'), policy: join(dir, 'other.yaml'), until: Date.now() + 4000, ...extra });

describe("the agent's socket", () => {
  it('is a socket only its owner can reach (0600)', () => {
    const st = lstatSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('a connection that sends nothing is closed after about 2 s', async () => {
    const c = client();
    const ms = await c.closed;
    expect(ms).toBeGreaterThanOrEqual(1_500);
    expect(ms).toBeLessThan(4_000);
    expect(c.got()).toBe('');
  });

  it('a request that never ends its line is declined when the client ends its side', async () => {
    const c = client();
    c.sock.end('{"v":1');
    await c.closed;
    expect(JSON.parse(c.got())).toEqual({ v: 1, decline: 'no whole request line' });
  });

  it('a request over the limit is declined at the limit, not read to its end', async () => {
    const c = client();
    const big = Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20);
    c.sock.write(big);
    await c.closed;
    expect(JSON.parse(c.got().split('\n')[0]!)).toEqual({ v: 1, decline: `request over ${MAX_REQUEST_BYTES} bytes` });
  });

  it('a request for documents the agent does not serve for is declined, whatever else it says', async () => {
    for (const req of [otherDocs(), otherDocs({ config: own.config }), otherDocs({ policy: `${own.policy}/.`, config: '/etc/passwd' })]) {
      const c = client();
      c.sock.end(`${req}\n`);
      await c.closed;
      const a = JSON.parse(c.got());
      expect(Object.keys(a).sort()).toEqual(['decline', 'v']);
      expect(a.decline).toMatch(/^the agent decides under /);
    }
  });

  it('several lines on one connection: one answer line, for the first; nothing after it is answered', async () => {
    const c = client();
    c.sock.write(`${otherDocs()}\n`);
    c.sock.write('{"v":1,"state":"x","policy":"p","until":1}\n');
    c.sock.end('not json\n');
    await c.closed;
    const lines = c.got().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(JSON.parse(lines[0]!).decline).toMatch(/^the agent decides under /);
  });

  it('past maxConnections a new connection is closed at once (the hook decides itself), and the server serves again after', async () => {
    const held = [client(), client(), client(), client()];
    await new Promise((r) => setTimeout(r, 100));
    const over = client();
    expect(await over.closed).toBeLessThan(1_000);
    expect(over.got()).toBe('');
    for (const h of held) h.sock.destroy();
    await Promise.all(held.map((h) => h.closed));
    // a connection the client closed without a request is the server's until its 2 s idle timer
    // (allowHalfOpen: the client's end alone does not close it): asked again until it answers
    const t0 = Date.now();
    let answered = '';
    for (let i = 0; i < 80 && answered === ''; i++) {
      const again = client();
      again.sock.end(`${otherDocs()}\n`);
      await again.closed;
      answered = again.got();
      if (answered === '') await new Promise((r) => setTimeout(r, 50));
    }
    expect(JSON.parse(answered).decline).toMatch(/^the agent decides under /);
    expect(Date.now() - t0).toBeLessThan(3_500);
  });
});
