/**
 * The tests' held ports (test/support/ports.ts): a dead port refuses connections and cannot be
 * taken by a listener while held; a held port drops connections until opened, then relays.
 */
import { type Server, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deadPort, holdPort, probe } from '../support/ports.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const listenOn = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const s: Server = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen(port, '127.0.0.1', () => {
      closers.push(() => new Promise((r) => s.close(() => r())));
      resolve('listening');
    });
  });

describe('deadPort', () => {
  it('refuses connections and cannot be listened on while held', async () => {
    const dead = await deadPort();
    closers.push(() => dead.close());
    expect(await probe(dead.port)).toBe('ECONNREFUSED');
    expect(await listenOn(dead.port)).toBe('EADDRINUSE');
    expect(dead.host).toBe(`127.0.0.1:${dead.port}`);
  });
});

describe('holdPort', () => {
  it('drops connections until opened, relays while open, drops again once shut', async () => {
    const target = createServer((s) => s.end('hello'));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => target.close(() => r())));
    const targetPort = (target.address() as { port: number }).port;
    const held = await holdPort();
    closers.push(() => held.close());
    expect(await listenOn(held.port)).toBe('EADDRINUSE');

    const read = (): Promise<string> =>
      new Promise((resolve) => {
        let got = '';
        const s = connect(held.port, '127.0.0.1');
        s.on('data', (d: Buffer) => {
          got += d.toString();
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        s.on('close', () => resolve(got));
      });
    expect(await read()).toBe('');
    expect(held.dropped).toBe(1);
    held.open({ host: '127.0.0.1', port: targetPort });
    expect(await read()).toBe('hello');
    held.shut();
    expect(await read()).toBe('');
    expect(held.dropped).toBe(2);
  });

  it('takes another port when the preferred one is taken', async () => {
    const first = await holdPort();
    closers.push(() => first.close());
    const second = await holdPort({ prefer: first.port });
    closers.push(() => second.close());
    expect(second.port).not.toBe(first.port);
    expect(await listenOn(second.port)).toBe('EADDRINUSE');
  });
});
