/**
 * One HTTP(S) request with a size cap and the caller's AbortSignal. Node's
 * global fetch cannot take per-registry TLS settings, so this uses node:http
 * and node:https directly.
 */
import http from 'node:http';
import type https from 'node:https';
import type tls from 'node:tls';
import { ReasonCode, SigguardError } from '../errors.js';

export interface TlsSettings {
  /** Extra CAs (PEM) added to the defaults; undefined: the defaults only. */
  ca?: string[];
  /** hosts.toml skip_verify. */
  insecureSkipVerify?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
  /** With `truncate`: the body was cut at maxBytes. */
  truncated?: boolean;
}

export interface HttpRequest {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  maxBytes: number;
  /** Keep the first maxBytes of a longer body (marked `truncated`) instead of refusing it. */
  truncate?: boolean;
  signal: AbortSignal;
  tls?: TlsSettings;
}

const agents = new Map<string, https.Agent>();

// HTTPS and TLS load on the first https:// request (~7 ms): a loopback or plain-HTTP
// registry, like a Kind node's, never pays for them.
let httpsModule: typeof https | undefined;
let tlsModule: typeof tls | undefined;
const httpsLib = (): typeof https => (httpsModule ??= process.getBuiltinModule('node:https') as typeof https);
const tlsLib = (): typeof tls => (tlsModule ??= process.getBuiltinModule('node:tls') as typeof tls);
let systemCAs: string[] | undefined;

function caList(extra: string[]): string[] {
  if (systemCAs === undefined) {
    // Node bundles Mozilla's list; the system's store is what operators manage.
    let system: string[] = [];
    try {
      system = tlsLib().getCACertificates('system');
    } catch {
      system = [];
    }
    systemCAs = [...new Set<string>([...tlsLib().getCACertificates('default'), ...system])];
  }
  return [...systemCAs, ...extra];
}

function httpsAgent(settings: TlsSettings | undefined): https.Agent {
  const extra = settings?.ca ?? [];
  const key = JSON.stringify([extra, settings?.insecureSkipVerify === true]);
  let agent = agents.get(key);
  if (agent === undefined) {
    agent = new (httpsLib().Agent)({
      keepAlive: true,
      ca: caList(extra),
      rejectUnauthorized: settings?.insecureSkipVerify !== true,
    });
    agents.set(key, agent);
  }
  return agent;
}

const httpAgent = new http.Agent({ keepAlive: true });

function networkError(url: URL, err: NodeJS.ErrnoException, signal: AbortSignal): SigguardError {
  if (signal.aborted) {
    return new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `deadline exceeded while talking to ${url.host}`);
  }
  const what = err.code ?? err.message;
  return new SigguardError(ReasonCode.REGISTRY_UNREACHABLE, `registry ${url.host} unreachable (${what})`, { cause: err });
}

/** Sends one request and reads the whole body, refusing more than `maxBytes`. */
export function httpRequest(url: URL, req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) {
      reject(new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `deadline exceeded before contacting ${url.host}`));
      return;
    }
    const secure = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method: req.method ?? 'GET',
      headers: { 'user-agent': 'sigguard', ...req.headers },
      signal: req.signal,
      agent: secure ? httpsAgent(req.tls) : httpAgent,
    };
    const request = (secure ? httpsLib() : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const declared = Number(res.headers['content-length'] ?? '0');
      const done = (truncated: boolean): void => {
        res.destroy();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).subarray(0, req.maxBytes),
          url,
          truncated,
        });
      };
      if (declared > req.maxBytes && !req.truncate) {
        res.destroy();
        reject(tooLarge(url, req.maxBytes));
        return;
      }
      // a declared length is read into one buffer: no chunk list and copy of it held at once
      let whole = declared > 0 && declared <= req.maxBytes ? Buffer.allocUnsafe(declared) : undefined;
      res.on('data', (chunk: Buffer) => {
        if (whole !== undefined && size + chunk.length <= whole.length) {
          chunk.copy(whole, size);
          size += chunk.length;
          return;
        }
        if (whole !== undefined) {
          chunks.push(whole.subarray(0, size));
          whole = undefined;
        }
        size += chunk.length;
        if (size > req.maxBytes && req.truncate) {
          chunks.push(chunk);
          done(true);
          return;
        }
        if (size > req.maxBytes) {
          res.destroy();
          reject(tooLarge(url, req.maxBytes));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const body = whole !== undefined ? whole.subarray(0, size) : Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, url });
      });
      res.on('error', (err) => reject(networkError(url, err, req.signal)));
    });
    request.on('error', (err) => reject(networkError(url, err, req.signal)));
    request.end(req.body);
  });
}

function tooLarge(url: URL, max: number): SigguardError {
  return new SigguardError(ReasonCode.RESPONSE_TOO_LARGE, `response from ${url.host}${url.pathname} larger than ${max} bytes`);
}

/** Closes idle keep-alive sockets so the process can exit at once. */
export function closeIdleConnections(): void {
  httpAgent.destroy();
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}
