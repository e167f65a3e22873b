/**
 * The first call on a kept runtime connection after the runtime went away (last session's note:
 * "a kept connection's first call after a restart"). The agent keeps one HTTP/2 connection per
 * runtime socket (hook/cri-images.ts). When the runtime restarts, its close can still be unread
 * when the next start is asked: that call went out on the dead connection and failed, and the
 * agent declined, so the hook looked the start up itself (safe, but a start without the agent).
 * Now such a call goes out once more, on a new connection: only for a connection an earlier call
 * opened, only when it failed with its connection (closed, socket error, GOAWAY without having
 * processed the call) before any answer, and only once. A reset stream or a deadline is the
 * answer, as before. A node:http2 server, not sigguard's HTTP/2 code, plays the runtime.
 */
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CriClient } from '../../src/cri/client.js';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { answerContainerStatus } from '../support/h2-runtime.js';
import { tempDir } from '../support/temp.js';

type Behaviour = 'answer' | 'drop' | 'goaway' | 'processed-goaway' | 'reset' | 'silent';

interface Runtime {
  socket: string;
  sessions: http2.ServerHttp2Session[];
  /** The call ids each session answered, by session. */
  answered: string[][];
  stop(): Promise<void>;
}

const running: Runtime[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

/**
 * A runtime on a fresh socket. `behave(session, call)`: what session n does with its call-th call
 * (both counted from 0): answer it, drop the whole connection, send GOAWAY naming only the
 * streams before it, reset the stream, or say nothing.
 */
async function runtime(behave: (session: number, call: number) => Behaviour): Promise<Runtime> {
  const socket = join(tempDir('sigguard-kept-restart-'), 'rt.sock');
  const sessions: http2.ServerHttp2Session[] = [];
  const answered: string[][] = [];
  const calls: number[] = [];
  const server = http2.createServer();
  server.on('session', (s) => {
    s.on('error', () => {});
    sessions.push(s);
    answered.push([]);
    calls.push(0);
  });
  server.on('stream', (stream, headers) => {
    const session = stream.session as http2.ServerHttp2Session;
    const n = sessions.indexOf(session);
    const call = calls[n]!++;
    stream.on('error', () => {}); // the resets and drops below, seen from the server's side
    stream.on('data', () => {});
    stream.on('end', () => {
      switch (behave(n, call)) {
        case 'answer':
          answered[n]!.push(String(headers[':path']));
          answerContainerStatus(stream, `s${n}c${call}`);
          return;
        case 'drop':
          session.socket.destroy();
          return;
        case 'goaway':
          // the streams after the last one processed were not processed: the client may send them again
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, (stream.id ?? 1) - 2);
          return;
        case 'processed-goaway':
          // GOAWAY naming this stream as processed, and no answer (yet)
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id ?? 1);
          return;
        case 'reset':
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        case 'silent':
          return;
      }
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  const rt: Runtime = {
    socket,
    sessions,
    answered,
    stop: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  running.push(rt);
  return rt;
}

const live = () => AbortSignal.timeout(5_000);
const ask = (rt: Runtime, id: string, signal = live()) => criNodeImages(rt.socket, signal, true).containerImage(id);

describe('the first call on a kept runtime connection after the runtime went away', () => {
  it.each([
    ['a connection dropped under the call', 'drop'],
    ['a GOAWAY that leaves the call unprocessed', 'goaway'],
  ] as const)('%s: asked again on a new connection, answered', async (_, fault) => {
    // session 0 answers its first call, then fails the next one this way
    const rt = await runtime((session, call) => (session === 0 && call > 0 ? fault : 'answer'));
    expect((await ask(rt, 'first')).imageRef).toContain('sha256:');
    expect((await ask(rt, 'second')).imageRef).toContain('sha256:');
    expect(rt.sessions.length).toBe(2);
    expect(rt.answered.map((a) => a.length)).toEqual([1, 1]);
  });

  it('once only: a runtime that drops every connection after the first answer is a refusal, after two connections', async () => {
    const rt = await runtime((session, call) => (session === 0 && call === 0 ? 'answer' : 'drop'));
    expect((await ask(rt, 'first')).imageRef).toContain('sha256:');
    // both failures named: the kept connection's, and the new one's
    await expect(ask(rt, 'second')).rejects.toThrow(
      /cannot ask the runtime .*\(on a new connection, after the kept one failed: the connection closed before the answer\)/,
    );
    expect(rt.sessions.length).toBe(2);
    // the next start opens a new connection (the dropped ones are gone), and fails on it without another try
    await expect(ask(rt, 'third')).rejects.toThrow(/cannot ask the runtime/);
    expect(rt.sessions.length).toBe(3);
  });

  it('a new connection that fails is not tried again', async () => {
    const rt = await runtime(() => 'drop');
    await expect(ask(rt, 'first')).rejects.toThrow(/cannot ask the runtime/);
    expect(rt.sessions.length).toBe(1);
  });

  it("a reset stream is the runtime's answer: not asked again", async () => {
    const rt = await runtime((session, call) => (session === 0 && call === 1 ? 'reset' : 'answer'));
    expect((await ask(rt, 'first')).imageRef).toContain('sha256:');
    await expect(ask(rt, 'second')).rejects.toThrow(/cannot ask the runtime/);
    expect(rt.sessions.length).toBe(1);
    // the connection itself is still good
    expect((await ask(rt, 'third')).imageRef).toContain('sha256:');
    expect(rt.sessions.length).toBe(1);
  });

  it('a call cut by its deadline is not asked again', async () => {
    const rt = await runtime((session, call) => (session === 0 && call === 1 ? 'silent' : 'answer'));
    expect((await ask(rt, 'first')).imageRef).toContain('sha256:');
    await expect(ask(rt, 'second', AbortSignal.timeout(200))).rejects.toThrow();
    expect(rt.sessions.length).toBe(1);
  });

  it('a call that began before close() is not sent again after it (no connection opened by a closed client)', async () => {
    // session 0 answers the first call; the second it takes as processed (GOAWAY) and never answers
    const rt = await runtime((session, call) => (session === 0 && call === 1 ? 'processed-goaway' : 'answer'));
    const cri = new CriClient(rt.socket, { timeoutMs: 5_000 });
    try {
      await cri.containerStatus('first');
      const pending = cri.containerStatus('second').then(
        () => 'answered',
        (e: Error) => e.message,
      );
      await new Promise((r) => setTimeout(r, 100)); // the GOAWAY read: the next call opens a new connection
      await cri.containerStatus('third');
      expect(rt.sessions.length).toBe(2);
      cri.close();
      rt.sessions[0]!.socket.destroy(); // the runtime drops the old connection, the second call unanswered
      expect(await pending).toMatch(/UNAVAILABLE/);
      expect(rt.sessions.length).toBe(2);
    } finally {
      cri.close();
    }
  });
});
