/**
 * One HTTP(S) request with a size cap and the caller's AbortSignal, over connections kept per
 * origin (and TLS settings) for the verification, HTTP/1.1 as http1.ts reads and writes it.
 * Not node:http (nor fetch, which cannot take per-registry TLS settings): loading it and its
 * per-exchange machinery cost a new image's start ~5 ms of its ~25 (issue 15). Plain sockets from
 * node:net (loaded anyway), TLS from node:tls with the system's and the configuration's CAs.
 */
import type * as Net from 'node:net';
import type tls from 'node:tls';
import { ReasonCode, SigguardError } from '../errors.js';
import { mark } from '../trace.js';
import { type Headers, Http1TooLarge, ResponseParser, requestHead } from './http1.js';

export interface TlsSettings {
  /** Extra CAs (PEM) added to the defaults; undefined: the defaults only. */
  ca?: string[];
  /** hosts.toml skip_verify. */
  insecureSkipVerify?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated ones as Node's IncomingMessage has them (http1.ts). */
  headers: Headers;
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

// TLS loads on the first https:// request (~7 ms): a loopback or plain-HTTP registry, like a
// Kind node's, never pays for it.
let tlsModule: typeof tls | undefined;
const tlsLib = (): typeof tls => (tlsModule ??= process.getBuiltinModule('node:tls') as typeof tls);
// node:net loads with the first connection, not with this module: in `check` nothing loaded it
// before (~1.7 ms, and the first connect() ~1.2 ms more, issue 15); traced where it loads
let netModule: typeof Net | undefined;
const net = (): typeof Net => {
  if (netModule === undefined) {
    netModule = process.getBuiltinModule('node:net');
    mark('node:net');
  }
  return netModule;
};
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

/** Idle connections by origin and TLS settings, and every connection open (closeIdleConnections ends them all). */
const idle = new Map<string, Net.Socket[]>();
const open = new Set<Net.Socket>();
/** Connections ended by closeIdleConnections: a request on one is not tried again. */
const endedHere = new WeakSet<Net.Socket>();
/** Connections an exchange is reading from; bytes on any other (a kept one) end it. */
const inUse = new WeakSet<Net.Socket>();

const forget = (socket: Net.Socket): void => {
  for (const list of idle.values()) {
    const i = list.indexOf(socket);
    if (i >= 0) list.splice(i, 1);
  }
};

function poolKey(url: URL, settings: TlsSettings | undefined): string {
  return JSON.stringify([url.protocol, url.host, settings?.ca ?? [], settings?.insecureSkipVerify === true]);
}

function connect(url: URL, settings: TlsSettings | undefined): Net.Socket {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const socket = secure
    ? tlsLib().connect({
        host,
        port,
        // SNI names a host, never an address (RFC 6066)
        ...(net().isIP(host) === 0 ? { servername: host } : {}),
        ca: caList(settings?.ca ?? []),
        rejectUnauthorized: settings?.insecureSkipVerify !== true,
      })
    : net().connect({ host, port });
  open.add(socket);
  // an error while the connection is idle (no exchange listening) ends it, and nothing else
  socket.on('error', () => {});
  // bytes while no request is on it (the rest of an answer the server framed otherwise than we
  // did): never read as the next request's answer, the connection is not used again
  socket.on('data', () => {
    if (inUse.has(socket)) return;
    forget(socket);
    socket.destroy();
  });
  socket.once('close', () => {
    open.delete(socket);
    forget(socket);
  });
  return socket;
}

function networkError(url: URL, err: NodeJS.ErrnoException, signal: AbortSignal): SigguardError {
  return unreachable(url, err.code ?? err.message, signal, err);
}

function unreachable(url: URL, what: string, signal: AbortSignal, cause?: Error): SigguardError {
  if (signal.aborted) {
    return new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `deadline exceeded while talking to ${url.host}`);
  }
  return new SigguardError(ReasonCode.REGISTRY_UNREACHABLE, `registry ${url.host} unreachable (${what})`, cause ? { cause } : undefined);
}

/** Sends one request and reads the whole body, refusing more than `maxBytes`. */
export async function httpRequest(url: URL, req: HttpRequest): Promise<HttpResponse> {
  if (req.signal.aborted) throw new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `deadline exceeded before contacting ${url.host}`);
  const method = req.method ?? 'GET';
  let head: Buffer;
  try {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const text = requestHead(method, url, { 'user-agent': 'sigguard', ...req.headers }, body?.length);
    head = body === undefined ? Buffer.from(text, 'latin1') : Buffer.concat([Buffer.from(text, 'latin1'), body]);
  } catch (err) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `cannot send a request to ${url.host}: ${(err as Error).message}`);
  }
  const key = poolKey(url, req.tls);
  const reused = idle.get(key)?.pop();
  if (reused !== undefined) {
    try {
      return await exchange(url, req, method, head, key, reused);
    } catch (err) {
      // a kept connection the server closed meanwhile fails before any answer: once more on a new one
      if (!(err instanceof NotAnswered) || req.signal.aborted || endedHere.has(reused)) throw err instanceof NotAnswered ? err.error : err;
    }
  }
  try {
    return await exchange(url, req, method, head, key, connect(url, req.tls));
  } catch (err) {
    throw err instanceof NotAnswered ? err.error : err;
  }
}

/** A connection that failed before any byte of an answer came (the error to report, if not tried again). */
class NotAnswered extends Error {
  constructor(readonly error: SigguardError) {
    super(error.message);
  }
}

function exchange(url: URL, req: HttpRequest, method: string, head: Buffer, key: string, socket: Net.Socket): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const parser = new ResponseParser({ method, maxBytes: req.maxBytes, truncate: req.truncate === true });
    let answered = false;
    let settled = false;
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      req.signal.removeEventListener('abort', onAbort);
      inUse.delete(socket);
    };
    const fail = (e: SigguardError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(answered ? e : new NotAnswered(e));
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      const r = parser.result();
      if (r.reusable && !socket.destroyed) {
        socket.unref();
        const list = idle.get(key) ?? [];
        list.push(socket);
        idle.set(key, list);
      } else {
        socket.destroy();
      }
      resolve({ status: r.status, headers: r.headers, body: r.body, url, ...(r.truncated ? { truncated: true } : {}) });
    };
    const readError = (err: unknown): SigguardError =>
      err instanceof Http1TooLarge
        ? tooLarge(url, req.maxBytes)
        : unreachable(url, `malformed HTTP response: ${(err as Error).message}`, req.signal);
    const onData = (chunk: Buffer): void => {
      answered = true;
      try {
        parser.push(chunk);
      } catch (err) {
        fail(readError(err));
        return;
      }
      if (parser.done) succeed();
    };
    const onEnd = (): void => {
      try {
        parser.end();
      } catch (err) {
        fail(answered ? readError(err) : unreachable(url, 'the connection closed before a response', req.signal));
        return;
      }
      succeed();
    };
    const onError = (err: NodeJS.ErrnoException): void => fail(networkError(url, err, req.signal));
    // ended by closeIdleConnections: not the server's end, so never the end of a body read to the close
    const onClose = (): void => (endedHere.has(socket) ? fail(unreachable(url, 'closed by the client', req.signal)) : onEnd());
    const onAbort = (): void => fail(unreachable(url, 'aborted', req.signal));
    socket.ref();
    inUse.add(socket);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    req.signal.addEventListener('abort', onAbort, { once: true });
    socket.write(head);
  });
}

function tooLarge(url: URL, max: number): SigguardError {
  return new SigguardError(ReasonCode.RESPONSE_TOO_LARGE, `response from ${url.host}${url.pathname} larger than ${max} bytes`);
}

/** Ends every connection (kept or in use), so the process can exit at once. */
export function closeIdleConnections(): void {
  for (const s of open) {
    endedHere.add(s);
    s.destroy();
  }
  open.clear();
  idle.clear();
}
