/**
 * A small relay in front of the real docker-registry, on 127.0.0.1, for the
 * registry-access tests: it can demand auth first (a Bearer token service or
 * Basic), serve the registry API under another path (a mirror with a path
 * prefix, for hosts.toml override_path) and speak TLS. It relays GET/HEAD of
 * API paths (Accept passed on; status, content-type, docker-content-digest
 * and body returned) and records every request it sees.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRelayServer } from './relay-server.js';

export type AuthMode = 'none' | 'bearer' | 'bearer-access-token' | 'basic';

export interface AuthProxyOptions {
  /** host:port of the registry relayed to (plain HTTP). */
  upstream: string;
  auth?: AuthMode;
  username?: string;
  password?: string;
  /** Accepted as `POST /token grant_type=refresh_token&refresh_token=...` (docker config `identitytoken`). */
  refreshToken?: string;
  /** GET /token without credentials gives a token, one that does not allow pulling (as token services do for private repositories). */
  anonymousToken?: boolean;
  /** Paths relayed onto the registry's `/v2` (default `["/v2"]`): `/mirror/api/x` → `/v2/x`. */
  prefixes?: string[];
  /** PEM key and certificate: serve HTTPS. */
  tls?: { key: string; cert: string };
}

export interface TokenRequest {
  method: string;
  /** Basic user name, `refresh_token` for a refresh-token grant, undefined when anonymous. */
  who: string | undefined;
  scope: string | undefined;
  service: string | undefined;
  status: number;
}

const MAX_BODY = 64 * 1024;
const REPO_PATH = /^\/(.+?)\/(?:manifests|blobs|referrers|tags)\//;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > MAX_BODY) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function basicCredentials(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

export class AuthProxy {
  /** Every request line seen ("METHOD /path?query"), in order. */
  readonly requests: string[] = [];
  readonly tokenRequests: TokenRequest[] = [];
  /** token → the repository it allows pulling (undefined: allows nothing). */
  private readonly tokens = new Map<string, string | undefined>();
  private server!: http.Server;
  private readonly mode: AuthMode;
  private readonly prefixes: string[];

  private constructor(readonly opts: AuthProxyOptions) {
    this.mode = opts.auth ?? 'none';
    this.prefixes = opts.prefixes ?? ['/v2'];
  }

  static async start(opts: AuthProxyOptions): Promise<AuthProxy> {
    const p = new AuthProxy(opts);
    p.server = await startRelayServer(opts.tls, (req, res) => p.handle(req, res));
    return p;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** 127.0.0.1:PORT */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get scheme(): 'http' | 'https' {
    return this.opts.tls ? 'https' : 'http';
  }

  /** How many times the token endpoint was asked. */
  get tokenHits(): number {
    return this.tokenRequests.length;
  }

  /** Forget what was recorded (between runs). */
  reset(): void {
    this.requests.length = 0;
    this.tokenRequests.length = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `${this.scheme}://${this.host}`);
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/token') return this.token(req, res, url);

    const prefix = this.prefixes.find((p) => url.pathname === p || url.pathname.startsWith(`${p}/`));
    if (prefix === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NOT_FOUND","message":"no such route on the relay"}]}');
      return;
    }
    const rest = url.pathname.slice(prefix.length) || '/';
    const repo = REPO_PATH.exec(rest)?.[1];
    if (!this.authorised(req, repo)) {
      const challenge =
        this.mode === 'basic'
          ? 'Basic realm="proxy"'
          : `Bearer realm="${this.scheme}://${this.host}/token",service="proxy"${repo ? `,scope="repository:${repo}:pull"` : ''}`;
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    await this.relay(req, res, `/v2${rest}${url.search}`);
  }

  private authorised(req: http.IncomingMessage, repo: string | undefined): boolean {
    const header = req.headers.authorization;
    switch (this.mode) {
      case 'none':
        return true;
      case 'basic': {
        const c = basicCredentials(header);
        return c !== undefined && c.user === this.opts.username && c.pass === this.opts.password;
      }
      default: {
        const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
        if (!m || !this.tokens.has(m[1]!)) return false;
        const allowed = this.tokens.get(m[1]!);
        return allowed !== undefined && (repo === undefined || allowed === repo);
      }
    }
  }

  private async token(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    let who: string | undefined;
    let ok = false;
    let scope = url.searchParams.get('scope') ?? undefined;
    let service = url.searchParams.get('service') ?? undefined;
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      scope = form.get('scope') ?? undefined;
      service = form.get('service') ?? undefined;
      if (form.get('grant_type') === 'refresh_token') {
        who = 'refresh_token';
        ok = this.opts.refreshToken !== undefined && form.get('refresh_token') === this.opts.refreshToken;
      }
    } else if (req.method === 'GET') {
      const c = basicCredentials(req.headers.authorization);
      who = c?.user;
      ok = c !== undefined && c.user === this.opts.username && c.pass === this.opts.password;
    }
    const anonymous = who === undefined && req.method === 'GET' && this.opts.anonymousToken === true;
    const status = ok || anonymous ? 200 : 401;
    this.tokenRequests.push({ method: req.method ?? '', who, scope, service, status });
    if (status !== 200) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    const token = randomBytes(16).toString('hex');
    const repo = /^repository:(.+):pull$/.exec(scope ?? '')?.[1];
    this.tokens.set(token, ok && service === 'proxy' ? repo : undefined);
    const body = this.mode === 'bearer-access-token' ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private relay(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (req.headers.accept) headers.accept = req.headers.accept;
      const up = http.request(`http://${this.opts.upstream}${path}`, { method: req.method, headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('error', reject);
        upRes.on('end', () => {
          const out: Record<string, string> = {};
          for (const name of ['content-type', 'docker-content-digest']) {
            const v = upRes.headers[name];
            if (typeof v === 'string') out[name] = v;
          }
          const body = Buffer.concat(chunks);
          if (req.method === 'HEAD') {
            const len = upRes.headers['content-length'];
            if (typeof len === 'string') out['content-length'] = len;
            res.writeHead(upRes.statusCode ?? 502, out);
            res.end();
          } else {
            res.writeHead(upRes.statusCode ?? 502, { ...out, 'content-length': String(body.length) });
            res.end(body);
          }
          resolve();
        });
      });
      up.on('error', reject);
      up.end();
    });
  }
}
