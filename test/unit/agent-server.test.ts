/**
 * The agent's HTTP server (/metrics, /healthz, /readyz on --listen, every interface by default in
 * the DaemonSet) against clients that hold sockets: a cap on connections, and timeouts for a
 * client that sends its headers byte by byte (slowloris), one that never sends anything, and one
 * that keeps an idle keep-alive connection. Whatever they do, the server's sockets stay bounded and
 * it answers again once they are gone.
 */
import { type Socket, connect } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { type AgentServer, SERVER_LIMITS, startServer } from '../../src/agent/server.js';

const log = pino({ level: 'silent' });
let server: AgentServer | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}

/** Resolves with the milliseconds until the server closed `s` (or undefined after `ms`). */
function closedWithin(s: Socket, ms: number): Promise<number | undefined> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(0);
    const timer = setTimeout(() => resolve(undefined), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
    s.resume();
  });
}

async function healthz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

const small = { maxConnections: 8, headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 1000, keepAliveTimeoutMs: 500 };

describe('the agent’s HTTP server holds no socket forever', () => {
  it('defaults: a cap on connections and timeouts are set', () => {
    expect(SERVER_LIMITS.maxConnections).toBeGreaterThan(0);
    expect(SERVER_LIMITS.maxConnections).toBeLessThanOrEqual(256);
    for (const k of ['headersTimeoutMs', 'requestTimeoutMs', 'idleTimeoutMs', 'keepAliveTimeoutMs'] as const) {
      expect(SERVER_LIMITS[k], k).toBeGreaterThan(0);
      expect(SERVER_LIMITS[k], k).toBeLessThanOrEqual(60_000);
    }
  });

  it('slowloris: headers sent a byte at a time are cut off at the headers timeout', async () => {
    server = await startServer('127.0.0.1:0', { metrics: new AgentMetrics(), ready: true }, log, small);
    const s = await open(server.port);
    const closed = closedWithin(s, 6000);
    const drip = setInterval(() => s.writable && s.write('X'), 100);
    s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const ms = await closed;
    clearInterval(drip);
    expect(ms, 'the server never closed the dripping socket').toBeDefined();
    expect(ms).toBeLessThan(4500);
  });

  it('a socket that sends nothing is closed at the idle timeout; an idle keep-alive socket too', async () => {
    server = await startServer('127.0.0.1:0', { metrics: new AgentMetrics(), ready: true }, log, small);
    const silent = await open(server.port);
    expect(await closedWithin(silent, 6000), 'a silent socket stayed open').toBeDefined();

    const keep = await open(server.port);
    keep.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await closedWithin(keep, 6000), 'an idle keep-alive socket stayed open').toBeDefined();
  });

  it('more sockets than the cap: the extra ones are refused, the server keeps going, and answers once they are gone', async () => {
    server = await startServer('127.0.0.1:0', { metrics: new AgentMetrics(), ready: true }, log, small);
    const port = server.port;
    const held = await Promise.all(Array.from({ length: small.maxConnections }, () => open(port)));
    await sleep(100);
    const extra = await Promise.all(Array.from({ length: 20 }, () => open(port).catch(() => undefined)));
    // every one over the cap is closed by the server at once
    const closedExtra = await Promise.all(extra.map((s) => (s ? closedWithin(s, 1000) : Promise.resolve(0))));
    expect(closedExtra.every((ms) => ms !== undefined)).toBe(true);
    // the held ones time out (idle), then the server answers again
    await Promise.all(held.map((s) => closedWithin(s, 6000)));
    expect(await healthz(port)).toBe(200);
  });
});
