/**
 * HTTP/1.1 as the registry client speaks it (RFC 9112): one request written out, one response
 * read back by a strict, incremental parser with every part bounded. No I/O here: http.ts drives
 * it over the sockets. Node's own client (node:http) costs a new image's start ~2 ms to load and
 * ~1 ms per exchange (issue 15: 5 exchanges took 12.5 ms of CPU with it, 7 ms over the socket).
 *
 * What a registry (or anyone between) can send is read as the strictest common reading: lines end
 * in CRLF; a header name is a token with no space before its colon; no folded lines, no NUL, CR or
 * LF in a value; the body is framed by exactly one of a Content-Length (one value, or the same value
 * repeated) and `Transfer-Encoding: chunked` (no other coding: nothing asked for one), or by the
 * connection's end. Anything else is an error, never a guess. The head is capped at 16 KiB (Node's
 * default), each chunk-size line and the trailers too; the body at what the caller may read.
 */

export const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (size and extensions) and the trailer section, each. */
export const MAX_CHUNK_LINE_BYTES = 1024;
/** Interim (1xx) responses skipped before the final one. */
export const MAX_INTERIM_RESPONSES = 8;

export type Headers = Record<string, string | string[]>;

/** A response that cannot be read: the connection is unusable (what goes wrong, in a few words). */
export class Http1Error extends Error {
  override name = 'Http1Error';
}

/** A body longer than the caller's cap (`truncate` not asked). */
export class Http1TooLarge extends Error {
  override name = 'Http1TooLarge';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// field-value: visible characters, obs-text, spaces and tabs (no CR, LF, NUL or other controls)
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;

/**
 * The request head: the method, the target (path and query, as the URL encoded them), Host, then
 * the given headers. A name that is not a token, or a value with a control character or one
 * beyond latin1 (a token from a token server with CRLF in it: header injection), throws.
 */
export function requestHead(method: string, url: URL, headers: Record<string, string>, bodyBytes: number | undefined): string {
  const target = `${url.pathname}${url.search}`;
  if (!TOKEN.test(method) || !TARGET.test(target)) throw new Http1Error(`invalid request line for ${url.host}`);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) throw new Http1Error(`invalid request header ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') {
      throw new Http1Error(`request header ${name} is set by the client`);
    }
    lines.push(`${name}: ${value}`);
  }
  if (bodyBytes !== undefined) lines.push(`Content-Length: ${bodyBytes}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

// As Node's IncomingMessage: these keep their first value, set-cookie is a list, the rest are joined with ", ".
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

function addHeader(headers: Headers, name: string, value: string): void {
  const prev = headers[name];
  if (prev === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
  else if (Array.isArray(prev)) prev.push(value);
  else if (!FIRST_WINS.has(name)) headers[name] = `${prev}, ${value}`;
}

export interface ResponseOptions {
  /** HEAD: the response has no body, whatever its headers say. */
  method: string;
  /** The most body bytes kept. */
  maxBytes: number;
  /** Keep the first maxBytes of a longer body (then `truncated`) instead of failing. */
  truncate: boolean;
}

export interface Response {
  status: number;
  headers: Headers;
  body: Buffer;
  truncated: boolean;
  /** Whether the connection may carry another request (HTTP/1.1, framed, read whole, no "close"). */
  reusable: boolean;
}

type State = 'head' | 'fixed' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

/**
 * Reads one response from the bytes of a connection, as they come (`push`), then `end` when the
 * connection ended. `done` once the response is complete; bytes after it on the connection are an
 * error (nothing was asked for them). Throws Http1Error or Http1TooLarge.
 */
export class ResponseParser {
  private state: State = 'head';
  private pending: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers: Headers = {};
  private keepAlive = true;
  private interim = 0;
  private left = 0;
  private size = 0;
  private truncated = false;
  private trailerBytes = 0;
  /**
   * The body's one buffer: its declared length when that fits, else grown by doubling (up to
   * maxBytes). Never a list of the pieces it came in: a body sent as 1-byte chunks held one Buffer
   * object per byte (~540 MB of heap for a 4 MiB manifest).
   */
  private whole: Buffer | undefined;

  constructor(private readonly opts: ResponseOptions) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** The response, once done. */
  result(): Response {
    if (this.state !== 'done') throw new Http1Error('the response is not complete');
    return {
      status: this.status,
      headers: this.headers,
      body: this.whole !== undefined ? this.whole.subarray(0, this.size) : Buffer.alloc(0),
      truncated: this.truncated,
      reusable: this.keepAlive && !this.truncated,
    };
  }

  /** Takes the next bytes of the connection. */
  push(chunk: Buffer): void {
    if (this.state === 'done') {
      if (chunk.length > 0) throw new Http1Error('bytes after the response');
      return;
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.run();
  }

  /** The connection ended: completes a body read to its end, else the response was cut short. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state === 'until-close') {
      this.keepAlive = false;
      this.state = 'done';
      return;
    }
    throw new Http1Error(
      this.state === 'head' && this.pending.length === 0 ? 'the connection closed before a response' : 'the response was cut short',
    );
  }

  private run(): void {
    for (;;) {
      switch (this.state) {
        case 'head':
          if (!this.readHead()) return;
          break;
        case 'fixed':
          if (!this.readLeft()) return;
          this.finish();
          break;
        case 'chunk-size': {
          const line = this.line(MAX_CHUNK_LINE_BYTES, 'chunk-size line');
          if (line === undefined) return;
          // leading zeros are allowed (RFC 9112), the value is at most 8 hex digits (4 GiB) after them
          const m = /^0*([0-9A-Fa-f]{1,8})(?:;[\t\x20-\x7e\x80-\xff]*)?$/.exec(line);
          if (!m) throw new Http1Error('invalid chunk size');
          this.left = Number.parseInt(m[1]!, 16);
          if (this.left === 0) this.state = 'trailers';
          else {
            if (!this.opts.truncate && this.size + this.left > this.opts.maxBytes) throw new Http1TooLarge();
            this.state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data':
          if (!this.readLeft()) return;
          this.state = 'chunk-crlf';
          break;
        case 'chunk-crlf':
          if (this.pending.length < 2) return;
          if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a) throw new Http1Error('chunk data not followed by CRLF');
          this.take(2);
          this.state = 'chunk-size';
          break;
        case 'trailers': {
          const line = this.line(MAX_CHUNK_LINE_BYTES, 'trailer line');
          if (line === undefined) return;
          this.trailerBytes += line.length + 2;
          if (this.trailerBytes > MAX_CHUNK_LINE_BYTES) throw new Http1Error('trailers too large');
          if (line === '') {
            this.finish();
            break;
          }
          if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/.test(line)) throw new Http1Error('invalid trailer line');
          break; // trailers are read and dropped
        }
        case 'until-close':
          if (this.pending.length > 0) this.body(this.take(this.pending.length));
          return;
        case 'done':
          if (this.pending.length > 0) throw new Http1Error('bytes after the response');
          return;
      }
    }
  }

  /** Reads what is here of the `left` bytes still due; true once all of them are read (false: more to come, or truncated). */
  private readLeft(): boolean {
    const from = this.state;
    const n = Math.min(this.left, this.pending.length);
    if (n > 0) this.body(this.take(n));
    this.left -= n;
    return this.state === from && this.left === 0;
  }

  private take(n: number): Buffer {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** The next CRLF-ended line (latin1, without its CRLF), or undefined until it is all here. */
  private line(max: number, what: string): string | undefined {
    const i = this.pending.indexOf('\r\n');
    if (i < 0) {
      if (this.pending.length > max) throw new Http1Error(`${what} too long`);
      return undefined;
    }
    if (i > max) throw new Http1Error(`${what} too long`);
    const text = this.pending.toString('latin1', 0, i);
    this.pending = this.pending.subarray(i + 2);
    return text;
  }

  private body(bytes: Buffer): void {
    const room = this.opts.maxBytes - this.size;
    if (bytes.length > room) {
      if (!this.opts.truncate) throw new Http1TooLarge();
      if (room > 0) this.keep(bytes.subarray(0, room));
      this.truncated = true;
      this.keepAlive = false;
      this.state = 'done';
      this.pending = Buffer.alloc(0); // the rest of the body is not read
      return;
    }
    this.keep(bytes);
  }

  private keep(bytes: Buffer): void {
    const need = this.size + bytes.length; // never over maxBytes (body() checked)
    if (this.whole === undefined || need > this.whole.length) {
      // a copy: the connection's buffer is not held past this response
      const grown = Buffer.allocUnsafe(Math.min(this.opts.maxBytes, Math.max(need, 2 * (this.whole?.length ?? 0), 4096)));
      this.whole?.copy(grown, 0, 0, this.size);
      this.whole = grown;
    }
    bytes.copy(this.whole, this.size);
    this.size += bytes.length;
  }

  private finish(): void {
    this.state = 'done';
    if (this.pending.length > 0) throw new Http1Error('bytes after the response');
  }

  /** Reads the status line and the header section; false until all of it is here. */
  private readHead(): boolean {
    const end = this.pending.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.pending.length > MAX_HEAD_BYTES) throw new Http1Error('response head too large');
      return false;
    }
    if (end + 4 > MAX_HEAD_BYTES) throw new Http1Error('response head too large');
    const head = this.pending.toString('latin1', 0, end);
    this.pending = this.pending.subarray(end + 4);
    const lines = head.split('\r\n');
    const statusLine = /^HTTP\/1\.([01]) ([1-9][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(lines[0]!);
    if (!statusLine) throw new Http1Error('invalid status line');
    const status = Number(statusLine[2]);
    const headers: Headers = {};
    // every Content-Length and Transfer-Encoding line, not only the first one kept in `headers`
    const lengths: string[] = [];
    const codings: string[] = [];
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      const name = colon > 0 ? l.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new Http1Error('invalid header line');
      const value = l.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (!FIELD_VALUE.test(value)) throw new Http1Error(`invalid value of header ${name}`);
      const lower = name.toLowerCase();
      if (lower === 'content-length') lengths.push(...value.split(','));
      if (lower === 'transfer-encoding') codings.push(...valueList(value));
      addHeader(headers, lower, value);
    }
    if (status < 200) {
      // 100 Continue, 103 Early Hints: the final response follows (101: nothing asked to switch)
      if (status === 101 || ++this.interim > MAX_INTERIM_RESPONSES) throw new Http1Error(`unexpected interim response ${status}`);
      return true;
    }
    this.status = status;
    this.headers = headers;
    const connection = valueList(headers.connection);
    this.keepAlive = statusLine[1] === '1' ? !connection.includes('close') : false;
    const noBody = this.opts.method === 'HEAD' || status === 204 || status === 304;
    if (headers['transfer-encoding'] !== undefined) {
      if (lengths.length > 0) throw new Http1Error('both Content-Length and Transfer-Encoding');
      if (codings.length !== 1 || codings[0] !== 'chunked') throw new Http1Error('unsupported Transfer-Encoding');
      if (statusLine[1] === '0') throw new Http1Error('Transfer-Encoding in an HTTP/1.0 response');
      this.state = noBody ? 'done' : 'chunk-size';
    } else if (lengths.length > 0) {
      const distinct = new Set(lengths.map((v) => v.trim()));
      if (distinct.size !== 1) throw new Http1Error('conflicting Content-Length values');
      const [only] = distinct;
      if (!/^[0-9]{1,15}$/.test(only!)) throw new Http1Error('invalid Content-Length');
      this.left = noBody ? 0 : Number(only);
      if (this.left > this.opts.maxBytes && !this.opts.truncate) throw new Http1TooLarge();
      // a declared length is read into one buffer: no list of chunks and a copy of it held at once
      if (this.left > 0 && this.left <= this.opts.maxBytes) this.whole = Buffer.allocUnsafe(this.left);
      this.state = 'fixed';
    } else {
      this.state = noBody ? 'done' : 'until-close';
      if (!noBody) this.keepAlive = false;
    }
    if (this.state === 'done' && this.pending.length > 0) throw new Http1Error('bytes after the response');
    return true;
  }
}

/** A list-valued header's elements, lower-cased ("close", "chunked"). */
function valueList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v.join(',') : v)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}
