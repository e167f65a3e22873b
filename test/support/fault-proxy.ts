/**
 * A registry that misbehaves on demand, for faults a real registry will not
 * produce: on 127.0.0.1 (port 0), it relays to the real docker-registry except
 * where an override answers instead (slow, endless, redirecting, ambiguous,
 * lying). It can demand Basic credentials first and records every request with
 * the Authorization it carried.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRelayServer } from './relay-server.js';

/** Answers a request itself (true) or leaves it to the relay (false). */
export type Override = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface FaultProxyOptions {
  /** host:port of the real registry relayed to (plain HTTP). */
  upstream: string;
  /** Demand `Basic` with these credentials (any other answer: 401 with a Basic challenge). */
  basic?: { username: string; password: string };
  /** A fixed 401 challenge for every request (a token realm of the test's choosing). */
  challenge?: string;
  /** PEM key and certificate: serve HTTPS. */
  tls?: { key: string; cert: string };
}

export class FaultProxy {
  readonly seen: SeenRequest[] = [];
  readonly overrides: Override[] = [];
  private server!: http.Server;

  private constructor(readonly opts: FaultProxyOptions) {}

  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    const p = new FaultProxy(opts);
    p.server = await startRelayServer(opts.tls, (req, res) => p.handle(req, res));
    return p;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Requests whose path matches. */
  count(re: RegExp): number {
    return this.seen.filter((s) => re.test(s.path)).length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    this.seen.push({ method: req.method ?? '', path: url.pathname + url.search, authorization: req.headers.authorization });
    if (this.opts.challenge !== undefined) {
      res.writeHead(401, { 'www-authenticate': this.opts.challenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (this.opts.basic !== undefined) {
      const want = `Basic ${Buffer.from(`${this.opts.basic.username}:${this.opts.basic.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fault-proxy"', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    for (const o of this.overrides) if (await o(req, res, url)) return;
    const upstream = await fetch(`http://${this.opts.upstream}${url.pathname}${url.search}`, {
      method: req.method ?? 'GET',
      headers: req.headers.accept ? { accept: req.headers.accept } : {},
      redirect: 'manual',
    });
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'docker-content-digest', 'location']) {
      const v = upstream.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    const body = Buffer.from(await upstream.arrayBuffer());
    headers['content-length'] = String(body.length);
    res.writeHead(upstream.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
