/**
 * A kept connection to the runtime that stops answering (helper-55's review of b0c07c7, finding
 * 3): the runtime keeps the connection open and sends nothing more on it, while a new connection
 * is answered. Before, every later call went out on the silent connection and waited out its
 * deadline (a warm start then cost the hook's 50 ms grace, a cold one half its deadline). Now a
 * call that ran out of time with nothing received on its connection meanwhile, for at least
 * SILENT_RETIRE_MS, retires it
 * (h2/connection.ts retire(): no new streams, ended once the open ones have), and the next call
 * opens a new one. A node:http2 server, not sigguard's HTTP/2 code, answers.
 */
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SILENT_RETIRE_MS } from '../../src/cri/grpc.js';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { answerContainerStatus } from '../support/h2-runtime.js';
import { tempDir } from '../support/temp.js';

const socket = join(tempDir('sigguard-kept-silent-'), 'rt.sock');
let server: http2.Http2Server;
const sessions: http2.ServerHttp2Session[] = [];
/** The first session answers its first call only; every later session answers every call. */
const answered: number[] = [];

beforeAll(async () => {
  server = http2.createServer();
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream) => {
    const n = sessions.indexOf(stream.session as http2.ServerHttp2Session);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (n === 0 && answered.some((k) => k === 0)) return; // silent from now on, the connection left open
      answered.push(n);
      answerContainerStatus(stream, `c${answered.length}`);
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
});
afterAll(async () => {
  for (const s of sessions) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('a kept connection the runtime no longer answers on', () => {
  it('is retired by the call that ran out of time on it: the next start is answered over a new one', async () => {
    const live = () => AbortSignal.timeout(5_000);
    expect((await criNodeImages(socket, live(), true).containerImage('first')).imageRef).toContain('sha256:');
    // the runtime goes silent on that connection: this start runs out of time, after waiting
    // longer than SILENT_RETIRE_MS with nothing received
    const expiring = AbortSignal.timeout(SILENT_RETIRE_MS + 300);
    await expect(criNodeImages(socket, expiring, true).containerImage('second')).rejects.toThrow();
    // the next one: a new connection, answered
    expect((await criNodeImages(socket, live(), true).containerImage('third')).imageRef).toContain('sha256:');
    expect(sessions.length).toBe(2);
    expect(answered).toEqual([0, 1]);
  }, 20_000);
});
