import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkDeadline, deadlineOf, expired, followDeadline, msLeft, startDeadline, whenAborted } from '../../src/deadline.js';
import { ReasonCode } from '../../src/errors.js';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { tempDir } from '../support/temp.js';

// The clock is vitest's fake one: Date.now() and the deadline's timer move only when the test
// moves them, so what is asserted is the order of events, never how fast this machine is.
afterEach(() => {
  vi.useRealTimers();
});

describe('one deadline, one AbortSignal', () => {
  it('aborts at its time with a DEADLINE_EXCEEDED reason; the race side rejects with it', async () => {
    vi.useFakeTimers();
    const d = startDeadline(Date.now() + 50, 'hook deadline of 0.05 s exceeded');
    expect(deadlineOf(d.signal)).toBe(d.at);
    expect(msLeft(d.signal)).toBe(50);
    expect(expired(d.signal)).toBeUndefined();
    // a promise that never settles still loses the race
    const never = new Promise<string>(() => {});
    const race = Promise.race([never, whenAborted(d.signal)]);
    race.catch(() => {});
    vi.advanceTimersByTime(49);
    expect(d.signal.aborted).toBe(false);
    expect(msLeft(d.signal)).toBe(1);
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    await expect(race).rejects.toMatchObject({
      code: ReasonCode.DEADLINE_EXCEEDED,
      message: 'hook deadline of 0.05 s exceeded',
    });
    expect(msLeft(d.signal)).toBe(1);
    d.clear();
  });

  it('synchronous work past the time: the first checkpoint aborts the signal, and every listener hears it at once', async () => {
    vi.useFakeTimers();
    const start = Date.now();
    const d = startDeadline(start + 30, 'late');
    const heard: string[] = [];
    d.signal.addEventListener('abort', () => heard.push('listener'));
    const race = whenAborted(d.signal).catch((e: Error) => e.message);
    // synchronous work: the clock moves, no timer gets to fire
    vi.setSystemTime(start + 29);
    checkDeadline(d.signal);
    expect(heard).toEqual([]);
    vi.setSystemTime(start + 50);
    expect(heard).toEqual([]);
    expect(d.signal.aborted).toBe(false);
    expect(() => checkDeadline(d.signal)).toThrow(expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED, message: 'late' }));
    expect(heard).toEqual(['listener']);
    expect(await race).toBe('late');
    d.clear();
  });

  it('a cleared deadline never fires; any other aborted signal is a DEADLINE_EXCEEDED to a checkpoint', async () => {
    vi.useFakeTimers();
    const d = startDeadline(Date.now() + 20, 'x');
    expect(vi.getTimerCount()).toBe(1);
    d.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(40);
    expect(d.signal.aborted).toBe(false);
    const c = new AbortController();
    expect(deadlineOf(c.signal)).toBeUndefined();
    expect(msLeft(c.signal)).toBeUndefined();
    checkDeadline(c.signal);
    c.abort();
    expect(() => checkDeadline(c.signal)).toThrow(expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED }));
  });
});

describe("a verification's own signal (followDeadline)", () => {
  it("carries the parent's time and reason, ends with it, and only it is ended by end()", async () => {
    const parent = startDeadline(Date.now() + 60, 'hook deadline of 2 s exceeded');
    const own = followDeadline(parent.signal, 'the verification ended')!;
    expect(deadlineOf(own.signal)).toBe(parent.at);
    // past the time, before any timer fired: the parent's message, never the follower's own
    await new Promise((r) => setTimeout(r, 70));
    expect(expired(own.signal)?.message).toBe('hook deadline of 2 s exceeded');
    parent.clear();
    const p2 = startDeadline(Date.now() + 10_000, 'hook deadline of 10 s exceeded');
    const o2 = followDeadline(p2.signal, 'the verification ended')!;
    o2.end();
    expect(o2.signal.aborted).toBe(true);
    expect(p2.signal.aborted).toBe(false);
    const o3 = followDeadline(p2.signal, 'the verification ended')!;
    p2.end();
    expect((o3.signal.reason as Error).message).toBe('hook deadline of 10 s exceeded');
    expect(followDeadline(new AbortController().signal, 'x')).toBeUndefined();
  });
});

describe('CRI under the deadline', () => {
  const dir = tempDir('sigguard-deadline-');
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

  // The runtime never answers, so only the deadline can end the call: a call it did not end
  // would never return, and this test's timeout is the backstop. Date.now() stands still
  // (the deadline's timer is a real one), so "what was left" is exactly the whole 300 ms.
  it("a runtime that never answers: the deadline ends the call with the deadline's refusal (not NODE_LOOKUP_FAILED), and grpc-timeout is what was left", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const d = startDeadline(Date.now() + 300, 'hook deadline of 0.3 s exceeded');
    const node = criNodeImages(socket, d.signal);
    const err = await node.containerImage('c1').catch((e: unknown) => e);
    node.close();
    d.clear();
    expect(err).toMatchObject({ code: ReasonCode.DEADLINE_EXCEEDED, message: 'hook deadline of 0.3 s exceeded' });
    expect(timeouts).toEqual(['300m']);
  }, 30_000);
});
