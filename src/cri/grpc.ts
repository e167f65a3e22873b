/**
 * gRPC unary calls over HTTP/2 on a unix socket, with our own minimal HTTP/2
 * client (src/h2/) over the unix socket (libuv's pipe handle, src/h2/unix-socket.ts,
 * or node:net) — not node:http2, which alone costs
 * the hook 16-25 ms to load on every container start, nor @grpc/grpc-js. One
 * request message out, one response message back, the status in the
 * `grpc-status` / `grpc-message` trailers (or in the headers of a
 * "trailers-only" answer), a deadline sent as `grpc-timeout` and enforced
 * locally.
 */
import { type H2Failure, H2Connection, type StreamEvents, type StreamHandle } from '../h2/connection.js';
import type { HeaderField } from '../h2/hpack.js';
import { type H2Socket, connectUnix } from '../h2/unix-socket.js';

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
  /**
   * The call only reads (a lookup: asking twice changes nothing). Failing with a connection an
   * earlier call opened, before any answer, it goes out once more on a new connection (the
   * runtime restarted and its close was not read yet).
   */
  lookup?: boolean;
}

export interface GrpcClientOptions {
  /** Default deadline per call, ms (default 10 000). */
  timeoutMs?: number;
  /** Largest response message accepted, bytes (default 16 MiB, containerd's own send limit). */
  maxResponseBytes?: number;
  /** Opens the socket (default: connectUnix, libuv's pipe handle or node:net). */
  connect?: (path: string) => H2Socket;
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
  const n = message.length;
  const out = Buffer.allocUnsafe(5 + n);
  out[0] = 0;
  out[1] = n >>> 24;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 8) & 0xff;
  out[4] = n & 0xff;
  out.set(message, 5);
  return out;
}

/** Exactly one uncompressed message out of the response body. */
export function unframeMessage(body: Buffer): Buffer {
  if (body.length < 5) throw new Error(`response body of ${body.length} bytes has no gRPC message`);
  if (body[0] !== 0) throw new Error(`compressed response message (flag ${body[0]}) not supported`);
  const len = body[1]! * 0x100_0000 + ((body[2]! << 16) | (body[3]! << 8) | body[4]!);
  if (body.length !== 5 + len) throw new Error(`response body of ${body.length} bytes does not hold exactly one message of ${len} bytes`);
  return body.subarray(5);
}

/** Largest response header list (or trailers) accepted, octets as SETTINGS_MAX_HEADER_LIST_SIZE counts them. */
export const MAX_HEADER_LIST_BYTES = 1024 * 1024;

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

/** The first value of a header (names are lower case on the wire). */
function field(fields: readonly HeaderField[], name: string): string | undefined {
  for (const [n, v] of fields) if (n === name) return v;
  return undefined;
}

/** A gRPC answer's content-type: application/grpc, or application/grpc+<format> / ;<params>. */
const GRPC_CONTENT_TYPE = /^application\/grpc(?:$|[+;])/i;

/**
 * How long a call must have waited with nothing at all received on its connection, before it ran
 * out of time, for the connection to be retired (a runtime answers in milliseconds).
 */
export const SILENT_RETIRE_MS = 1000;

/**
 * A stream that failed with its connection, before any answer: the socket failed or closed, or
 * the peer is going away without having processed it. Not a reset stream, a protocol error or an
 * oversized answer: those are the runtime's answer to this call.
 */
function retryable(err: H2Failure): boolean {
  return err.kind === 'socket' || err.kind === 'closed' || err.kind === 'goaway';
}

/** One HTTP/2 connection to a unix socket, opened on first use and reused; `close()` ends it. */
export class GrpcUnixClient {
  private conn: H2Connection | undefined;
  /** How many times close() was called: a call that began before a close() never goes out again. */
  private closes = 0;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  private readonly open: (path: string) => H2Socket;

  constructor(
    readonly socketPath: string,
    opts: GrpcClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 16 * 1024 * 1024;
    this.open = opts.connect ?? connectUnix;
  }

  /** The open connection (`kept`: opened by an earlier call), or a new one (after a GOAWAY, a closed socket or a protocol error). */
  private connect(): { conn: H2Connection; kept: boolean } {
    const current = this.conn;
    if (current?.usable) return { conn: current, kept: true };
    const conn = new H2Connection(this.open(this.socketPath), { maxHeaderListSize: MAX_HEADER_LIST_BYTES });
    conn.onClose = () => {
      if (this.conn === conn) this.conn = undefined;
    };
    this.conn = conn;
    return { conn, kept: false };
  }

  /** A stream that ended without an answer, as the CriError of the call. */
  private failure(err: H2Failure, method: string): CriError {
    switch (err.kind) {
      case 'socket':
        return new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, err.cause ?? new Error(err.message)), method);
      case 'headers-too-large':
        return new CriError(GrpcStatus.RESOURCE_EXHAUSTED, err.message, method);
      case 'protocol':
        return new CriError(GrpcStatus.INTERNAL, `${this.socketPath}: ${err.message}`, method);
      default: // closed, reset, goaway
        return new CriError(GrpcStatus.UNAVAILABLE, `${this.socketPath}: ${err.message}`, method);
    }
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
      let settled = false;
      let stream: StreamHandle | undefined;
      /** The connection the call went out on, what it had received by then, and when. */
      let on: { conn: H2Connection; receivedBefore: number; at: number } | undefined;
      const timer = setTimeout(
        () => finish(new CriError(GrpcStatus.DEADLINE_EXCEEDED, `no answer from ${this.socketPath} within ${timeoutMs} ms`, method)),
        timeoutMs,
      );
      const onAbort = () => finish(new CriError(GrpcStatus.CANCELLED, 'call cancelled', method));
      function finish(err: CriError | undefined, value?: Buffer): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        stream?.cancel(); // RST_STREAM if still open; nothing once it has ended
        // a call that ran out of time on a connection that sent nothing back all the while, for at
        // least SILENT_RETIRE_MS (a kept connection the runtime no longer answers on): later calls
        // open a new one. A call cancelled sooner says nothing about its connection.
        if (
          (err?.code === GrpcStatus.DEADLINE_EXCEEDED || err?.code === GrpcStatus.CANCELLED) &&
          on !== undefined &&
          on.conn.bytesReceived === on.receivedBefore &&
          Date.now() - on.at >= SILENT_RETIRE_MS
        )
          on.conn.retire();
        if (err) reject(err);
        else resolve(value!);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      let gotHeaders = false;
      let httpStatus: number | undefined;
      let contentType: string | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      const chunks: Buffer[] = [];
      let size = 0;
      const protocolError = (what: string) =>
        finish(new CriError(GrpcStatus.INTERNAL, `${this.socketPath}: HTTP/2 protocol error: ${what}`, method));
      const takeStatus = (fields: readonly HeaderField[]) => {
        const s = field(fields, 'grpc-status');
        if (s === undefined) return;
        const n = Number.parseInt(s, 10);
        grpcStatus = Number.isNaN(n) ? GrpcStatus.UNKNOWN : n;
        let raw = field(fields, 'grpc-message') ?? '';
        // header octets arrive as latin1; a server sending raw UTF-8 gets it back as UTF-8
        if (/[\x80-\xff]/.test(raw)) raw = Buffer.from(raw, 'latin1').toString('utf8');
        grpcMessage = decodeGrpcMessage(raw);
      };
      const events: StreamEvents = {
        headers: (fields, endStream) => {
          if (settled) return;
          if (!gotHeaders) {
            const st = field(fields, ':status');
            if (st === undefined || !/^[1-5][0-9][0-9]$/.test(st)) {
              protocolError(`response headers without a valid :status (${st === undefined ? 'none' : JSON.stringify(st)})`);
              return;
            }
            const status = Number(st);
            if (status < 200) {
              if (endStream) protocolError(`informational response ${status} ends the stream`);
              return; // 1xx: the real response headers follow
            }
            gotHeaders = true;
            httpStatus = status;
            contentType = field(fields, 'content-type');
            takeStatus(fields); // a "trailers-only" answer carries the status in its headers
          } else {
            if (!endStream) {
              protocolError('a second header block (trailers) that does not end the stream');
              return;
            }
            takeStatus(fields);
          }
        },
        data: (chunk) => {
          if (settled) return;
          if (!gotHeaders) {
            protocolError('DATA before the response headers');
            return;
          }
          size += chunk.length;
          if (size > this.maxResponseBytes + 5) {
            finish(new CriError(GrpcStatus.RESOURCE_EXHAUSTED, `response larger than ${this.maxResponseBytes} bytes`, method));
            return;
          }
          chunks.push(chunk);
        },
        end: () => {
          if (settled) return;
          if (httpStatus === 200 && contentType !== undefined && !GRPC_CONTENT_TYPE.test(contentType)) {
            finish(
              new CriError(
                GrpcStatus.UNKNOWN,
                `not a gRPC answer: HTTP status 200 with content-type ${JSON.stringify(contentType)}`,
                method,
              ),
            );
            return;
          }
          if (grpcStatus === undefined) {
            if (httpStatus !== undefined && httpStatus !== 200) {
              finish(new CriError(fromHttpStatus(httpStatus), `HTTP status ${httpStatus} without a gRPC status`, method));
            } else {
              finish(new CriError(GrpcStatus.UNAVAILABLE, 'the stream ended without a gRPC status', method));
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
        },
        error: (err) => {
          if (settled) return;
          // a connection kept from an earlier call that ended (or is going away) before this call
          // had any answer on it: the runtime restarted between the calls, and its close had not
          // been read yet. The call goes out once more, on a new connection; it is a lookup, so
          // asking twice changes nothing. Once only, and never for a connection this call opened.
          if (
            opts.lookup === true &&
            retryable(err) &&
            keptConnection &&
            !retried &&
            !gotHeaders &&
            !opts.signal?.aborted &&
            this.closes === closesAtStart
          ) {
            retried = true;
            firstFailure = this.failure(err, method).grpcMessage.replace(`${this.socketPath}: `, '');
            send();
            return;
          }
          finish(failedAgain(this.failure(err, method)));
        },
      };

      /** Whether the call went out on a connection an earlier call opened (and so may try once more on a new one). */
      let keptConnection = false;
      let retried = false;
      /** Why the kept connection failed, when the call went out again. */
      let firstFailure: string | undefined;
      /** A connection failure of the call sent again says what the first one was, too. */
      const failedAgain = (e: CriError): CriError =>
        firstFailure === undefined
          ? e
          : new CriError(e.code, `${e.grpcMessage} (on a new connection, after the kept one failed: ${firstFailure})`, method);
      const started = Date.now();
      const closesAtStart = this.closes;
      /** Which send() is the latest: the stream finish() cancels is that one's. */
      let attempts = 0;
      const send = (): void => {
        const attempt = ++attempts;
        try {
          const { conn, kept } = this.connect();
          keptConnection = kept;
          on = { conn, receivedBefore: conn.bytesReceived, at: Date.now() };
          const handle = conn.request(
            [
              [':method', 'POST'],
              [':scheme', 'http'],
              [':path', path],
              [':authority', 'localhost'],
              ['content-type', 'application/grpc'],
              ['te', 'trailers'],
              // sent again: what is left of the call's time
              ['grpc-timeout', grpcTimeout(retried ? Math.max(1, timeoutMs - (Date.now() - started)) : timeoutMs)],
              ['user-agent', 'sigguard-cri/1'],
            ],
            frameMessage(request),
            events,
          );
          // (a failure reported from inside request() would have sent the call again already)
          if (attempt === attempts) stream = handle;
        } catch (err) {
          const e = err as H2Failure & NodeJS.ErrnoException;
          finish(
            failedAgain(
              e.name === 'H2Failure'
                ? this.failure(e, method)
                : new CriError(GrpcStatus.UNAVAILABLE, socketError(this.socketPath, e), method),
            ),
          );
        }
      };
      send();
    });
  }

  /** Ends the connection (pending calls fail). */
  close(): void {
    const c = this.conn;
    this.conn = undefined;
    this.closes++;
    c?.destroy();
  }
}
