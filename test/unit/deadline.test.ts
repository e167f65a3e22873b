import http2 from 'node:http2';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDeadline, deadlineOf, expired, msLeft, startDeadline, whenAborted } from '../../src/deadline.js';
import { ReasonCode } from '../../src/errors.js';
import { criNodeImages } from '../../src/hook/cri-images.js';

const busy = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* synchronous work: no timer fires */
  }
};

describe('one deadline, one AbortSignal', () => {
  it('aborts at its time with a DEADLINE_EXCEEDED reason; the race side rejects with it', async () => {
    const d = startDeadline(Date.now() + 50, 'hook deadline of 0.05 s exceeded');
    expect(deadlineOf(d.signal)).toBe(d.at);
    expect(msLeft(d.signal)).toBeGreaterThan(0);
    expect(expired(d.signal)).toBeUndefined();
    // a promise that never settles still loses the race
    const never = new Promise<string>(() => {});
    await expect(Promise.race([never, whenAborted(d.signal)])).rejects.toMatchObject({
      code: ReasonCode.DEADLINE_EXCEEDED,
      message: 'hook deadline of 0.05 s exceeded',
    });
    expect(d.signal.aborted).toBe(true);
    expect(msLeft(d.signal)).toBe(1);
    d.clear();
  });

  it('synchronous work past the time: the first checkpoint aborts the signal, and every listener hears it at once', async () => {
    const d = startDeadline(Date.now() + 30, 'late');
    const heard: string[] = [];
    d.signal.addEventListener('abort', () => heard.push('listener'));
    const race = whenAborted(d.signal).catch((e: Error) => e.message);
    busy(50);
    expect(heard).toEqual([]);
    expect(() => checkDeadline(d.signal)).toThrow(expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED, message: 'late' }));
    expect(heard).toEqual(['listener']);
    expect(await race).toBe('late');
    d.clear();
  });

  it('a cleared deadline never fires; any other aborted signal is a DEADLINE_EXCEEDED to a checkpoint', async () => {
    const d = startDeadline(Date.now() + 20, 'x');
    d.clear();
    await new Promise((r) => setTimeout(r, 40));
    expect(d.signal.aborted).toBe(false);
    const c = new AbortController();
    expect(deadlineOf(c.signal)).toBeUndefined();
    expect(msLeft(c.signal)).toBeUndefined();
    checkDeadline(c.signal);
    c.abort();
    expect(() => checkDeadline(c.signal)).toThrow(expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED }));
  });
});

describe('CRI under the deadline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-deadline-'));
  const socket = join(dir, 'cri.sock');
  const timeouts: string[] = [];
  let server: http2.Http2Server;

  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (_stream, headers) => {
      // a runtime that takes the call and never answers
      timeouts.push(String(headers['grpc-timeout']));
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("a runtime that never answers: the deadline ends the call with the deadline's refusal (not NODE_LOOKUP_FAILED), and grpc-timeout is what was left", async () => {
    const d = startDeadline(Date.now() + 300, 'hook deadline of 0.3 s exceeded');
    const node = criNodeImages(socket, d.signal);
    const t0 = Date.now();
    const err = await node.containerImage('c1').catch((e: unknown) => e);
    node.close();
    d.clear();
    expect(err).toMatchObject({ code: ReasonCode.DEADLINE_EXCEEDED, message: 'hook deadline of 0.3 s exceeded' });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(timeouts).toHaveLength(1);
    const sent = Number(/^(\d+)m$/.exec(timeouts[0]!)?.[1]);
    expect(sent).toBeGreaterThan(200);
    expect(sent).toBeLessThanOrEqual(300);
  });
});
