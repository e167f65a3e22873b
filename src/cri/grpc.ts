/**
 * gRPC unary calls over HTTP/2 on a unix socket, with node:http2 only (no
 * @grpc/grpc-js: the hook is a single executable and pays for every module it
 * loads). One request message out, one response message back, the status in
 * the `grpc-status` / `grpc-message` trailers (or in the headers of a
 * "trailers-only" answer), a deadline sent as `grpc-timeout` and enforced
 * locally.
 */
import http2 from 'node:http2';
import net from 'node:net';

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;

const NAMES = new Map<number, GrpcStatusName>(Object.entries(GrpcStatus).map(([k, v]) => [v, k as GrpcStatusName]));

export function statusName(code: number): string {
  return NAMES.get(code) ?? `CODE_${code}`;
}

/**
 * A failed CRI call: the gRPC status (`code`, `codeName`), the server's
 * message as sent (`grpcMessage`), and the method. `message` reads
 * "<method>: <grpcMessage> [<codeName>]".
 */
export class CriError extends Error {
  override name = 'CriError';
  readonly codeName: string;
  constructor(
    readonly code: number,
    readonly grpcMessage: string,
    readonly method: string,
  ) {
    super(`${method}: ${grpcMessage} [${statusName(code)}]`);
    this.codeName = statusName(code);
  }
}

export interface CallOptions {
  /** Deadline for this call in ms (default: the client's). */
  timeoutMs?: number;
  /** Cancels the call (CANCELLED). */
  signal?: AbortSignal;
}

export interface GrpcClientOptions {
  /** Default deadline per call, ms (default 10 000). */
  timeoutMs?: number;
  /** Largest response message accepted, bytes (default 16 MiB, containerd's own send limit). */
  maxResponseBytes?: number;
}

/** gRPC's HTTP-to-status mapping for answers without grpc-status (grpc/doc/http-grpc-status-mapping.md). */
function fromHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** grpc-message is percent-encoded (RFC 3986 style, UTF-8). */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The `grpc-timeout` header value: at most 8 digits and a unit. */
export function grpcTimeout(ms: number): string {
  const v = Math.max(1, Math.ceil(ms));
  if (v < 1e8) return `${v}m`;
  return `${Math.min(99_999_999, Math.ceil(v / 1000))}S`;
}

/** The 5-byte length prefix: compressed flag 0, then the length big-endian. */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** Exactly one uncompressed message out of the response body. */
export function unframeMessage(body: Buffer): Buffer {
  if (body.length < 5) throw new Error(`response body of ${body.length} bytes has no gRPC message`);
  if (body[0] !== 0) throw new Error(`compressed response message (flag ${body[0]}) not supported`);
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) throw new Error(`response body of ${body.length} bytes does not hold exactly one message of ${len} bytes`);
  return body.subarray(5);
}

function headerString(v: string | string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The system error (connect ENOENT...) behind an HTTP/2 error, following `cause`. */
function systemCause(err: unknown): NodeJS.ErrnoException | undefined {
  for (let e = err as (NodeJS.ErrnoException & { cause?: unknown }) | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) && typeof e.syscall === 'string') return e;
  }
  return undefined;
}

function socketError(socketPath: string, err: NodeJS.ErrnoException): string {
  const why =
    err.code === 'ENOENT'
      ? 'no such socket'
      : err.code === 'ECONNREFUSED'
        ? 'connection refused (nothing listening)'
        : err.code === 'EACCES'
          ? 'permission denied'
          : err.message;
  return `cannot reach the CRI socket ${socketPath}: ${why}`;
}

/** One HTTP/2 connection to a unix socket, opened on first use and reused; `close()` ends it. */
export class GrpcUnixClient {
  private session: http2.ClientHttp2Session | undefined;
  private sessionError: NodeJS.ErrnoException | undefined;
  private pending = 0;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;

  constructor(
    readonly socketPath: string,
    opts: GrpcClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 16 * 1024 * 1024;
  }

  private connect(): http2.ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    this.sessionError = undefined;
    const s = http2.connect('http://localhost', { createConnection: () => net.connect(this.socketPath) });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (this.session === s) this.sessionError = err;
    });
    s.on('close', () => {
      if (this.session === s) this.session = undefined;
    });
    this.session = s;
    return s;
  }

  /** Calls `/<service>/<method>` with an encoded request; resolves with the encoded response. */
  call(path: string, request: Buffer, opts: CallOptions = {}): Promise<Buffer> {
    const method = path.slice(path.lastIndexOf('/') + 1) || path;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<Buffer>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new CriError(GrpcStatus.CANCELLED, 'call cancelled before it started', method));
        return;
      }
      let session: http2.ClientHttp2Session;
      try {
        session = this.connect();
      } catch (err) {
        reject(new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, err as NodeJS.ErrnoException), method));
        return;
      }
      this.pending++;
      session.ref();

      let settled = false;
      let stream: http2.ClientHttp2Stream | undefined;
      const finish = (err: CriError | undefined, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        session.removeListener('error', onSessionError);
        if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        if (--this.pending === 0 && !session.destroyed) session.unref();
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(
        () => finish(new CriError(GrpcStatus.DEADLINE_EXCEEDED, `no answer from ${this.socketPath} within ${timeoutMs} ms`, method)),
        timeoutMs,
      );
      const onAbort = () => finish(new CriError(GrpcStatus.CANCELLED, 'call cancelled', method));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const onSessionError = (err: NodeJS.ErrnoException) =>
        finish(new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, systemCause(err) ?? err), method));
      session.once('error', onSessionError);

      try {
        stream = session.request(
          {
            ':method': 'POST',
            ':path': path,
            'content-type': 'application/grpc',
            te: 'trailers',
            'grpc-timeout': grpcTimeout(timeoutMs),
            'user-agent': 'sigguard-cri/1',
          },
          { endStream: false },
        );
      } catch (err) {
        const e = (this.sessionError ?? err) as NodeJS.ErrnoException;
        finish(new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, e), method));
        return;
      }

      let httpStatus: number | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      const chunks: Buffer[] = [];
      let size = 0;
      const takeStatus = (h: http2.IncomingHttpHeaders) => {
        const s = headerString(h['grpc-status']);
        if (s === undefined) return;
        const n = Number.parseInt(s, 10);
        grpcStatus = Number.isNaN(n) ? GrpcStatus.UNKNOWN : n;
        grpcMessage = decodeGrpcMessage(headerString(h['grpc-message']) ?? '');
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        takeStatus(h); // a "trailers-only" answer carries the status in its headers
      });
      stream.on('trailers', (h) => takeStatus(h));
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxResponseBytes + 5) {
          finish(new CriError(GrpcStatus.RESOURCE_EXHAUSTED, `response larger than ${this.maxResponseBytes} bytes`, method));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (err: NodeJS.ErrnoException) => {
        const sys = systemCause(err) ?? systemCause(this.sessionError);
        finish(new CriError(GrpcStatus.UNAVAILABLE, sys ? socketError(this.socketPath, sys) : `${this.socketPath}: ${err.message}`, method));
      });
      stream.on('close', () => {
        if (settled) return;
        if (this.sessionError) {
          finish(new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, this.sessionError), method));
          return;
        }
        if (grpcStatus === undefined) {
          if (httpStatus !== undefined && httpStatus !== 200) {
            finish(new CriError(fromHttpStatus(httpStatus), `HTTP status ${httpStatus} without a gRPC status`, method));
          } else {
            const rst = stream?.rstCode;
            finish(new CriError(GrpcStatus.UNAVAILABLE, `the stream ended without a gRPC status${rst ? ` (HTTP/2 reset code ${rst})` : ''}`, method));
          }
          return;
        }
        if (grpcStatus !== GrpcStatus.OK) {
          finish(new CriError(grpcStatus, grpcMessage, method));
          return;
        }
        try {
          finish(undefined, unframeMessage(Buffer.concat(chunks, size)));
        } catch (err) {
          finish(new CriError(GrpcStatus.INTERNAL, (err as Error).message, method));
        }
      });
      stream.end(frameMessage(request));
    });
  }

  /** Ends the connection (pending calls fail). */
  close(): void {
    const s = this.session;
    this.session = undefined;
    if (s && !s.destroyed) s.destroy();
  }
}
