/**
 * The storm's registry: a loopback relay in front of the real docker-registry that adds a fixed
 * delay to every request (a registry some network distance away) and counts what it relays
 * (test/support/fault-proxy.ts with one override that waits, then lets the request through).
 */
import { FaultProxy } from '../fault-proxy.js';

export interface DelayProxy {
  /** `127.0.0.1:<port>`: the registry name the storm's image references use. */
  readonly host: string;
  /** Requests relayed so far. */
  requests(): number;
  /** Requests relayed so far, `METHOD /path`, in arrival order. */
  paths(): string[];
  /** The most requests in flight at one time so far. */
  peakInFlight(): number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startDelayProxy(upstream: string, delayMs: number): Promise<DelayProxy> {
  const proxy = await FaultProxy.start({ upstream });
  let inFlight = 0;
  let peak = 0;
  proxy.overrides.push(async (_req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.once('close', () => inFlight--);
    await sleep(delayMs);
    return false; // relayed by the proxy
  });
  return {
    host: proxy.host,
    requests: () => proxy.seen.length,
    paths: () => proxy.seen.map((s) => `${s.method} ${s.path}`),
    peakInFlight: () => peak,
    close: () => proxy.close(),
  };
}
