/**
 * A minimal HTTP/2 client connection (RFC 9113) over any duplex socket —
 * here a unix socket (./unix-socket.ts: libuv's pipe handle, or node:net) —
 * for the CRI client's unary gRPC calls.
 * node:http2 costs the hook 16-25 ms to load on every container start; this
 * costs next to nothing.
 *
 * What it does: the client preface and SETTINGS (push off, 16 MiB stream
 * windows, a header list limit), request streams on odd ids (HEADERS, then
 * DATA within the peer's flow-control windows and frame size, END_STREAM),
 * and on the way back DATA (padding, flow control, WINDOW_UPDATEs so large
 * answers never stall), HEADERS/CONTINUATION through one HPACK context,
 * RST_STREAM, GOAWAY, PING (answered), SETTINGS (applied, acknowledged),
 * SETTINGS_MAX_CONCURRENT_STREAMS (requests wait for a slot). Any protocol
 * violation by the peer ends the connection (GOAWAY) and fails its streams.
 * No server push, no priorities, no TLS.
 */
import { type HeaderField, HpackDecoder, HpackError, encodeHeaderBlock } from './hpack.js';
import type { H2Socket } from './unix-socket.js';

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** HTTP/2 error codes (RFC 9113 7). */
export const H2Code = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const CODE_NAMES = new Map<number, string>(Object.entries(H2Code).map(([k, v]) => [v, k]));

export function h2CodeName(code: number): string {
  return CODE_NAMES.get(code) ?? `0x${code.toString(16)}`;
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_SIZE = 9;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const DEFAULT_WINDOW = 65_535;
const MAX_WINDOW = 0x7fff_ffff;
const MAX_STREAM_ID = 0x7fff_ffff;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

// Big-endian integers are written and read byte by byte here, not with Buffer's writeUInt32BE
// and kin: a hook process runs this once, and those helpers (Node's own code, with their range
// checks) were a tenth of a millisecond of first calls in its profile (issue 15).

/** `value` (an unsigned 32-bit integer) big-endian at `out[at]`. */
function put32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** The unsigned 32-bit big-endian integer at `b[at]` (the caller checked that 4 bytes are there). */
function get32(b: Uint8Array, at: number): number {
  return b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** One frame on the wire: the 9-byte header (length, type, flags, stream id) and the payload. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const n = payload.length;
  if (n > 0xff_ffff) throw new RangeError(`frame payload of ${n} bytes`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
  out[0] = n >>> 16;
  out[1] = (n >>> 8) & 0xff;
  out[2] = n & 0xff;
  out[3] = type;
  out[4] = flags;
  put32(out, 5, (streamId & MAX_STREAM_ID) >>> 0);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export function settingsPayload(settings: ReadonlyArray<[id: number, value: number]>): Buffer {
  const out = Buffer.allocUnsafe(6 * settings.length);
  for (let i = 0; i < settings.length; i++) {
    const [id, value] = settings[i]!;
    out[6 * i] = (id >>> 8) & 0xff;
    out[6 * i + 1] = id & 0xff;
    put32(out, 6 * i + 2, value >>> 0);
  }
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  put32(b, 0, value >>> 0);
  return b;
}

/** A peer's protocol violation: the connection (stream 0) or one stream ends with `code`. */
export class H2ProtocolError extends Error {
  override name = 'H2ProtocolError';
  constructor(
    readonly code: number,
    message: string,
    readonly streamId = 0,
  ) {
    super(message);
  }
}

/** Splits a byte stream into frames; refuses frames larger than `maxFrameSize` (FRAME_SIZE_ERROR). */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(public maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {}

  /** The complete frames `chunk` finishes; the rest waits for the next chunk. */
  push(chunk: Buffer): Frame[] {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let pos = 0;
    while (buf.length - pos >= FRAME_HEADER_SIZE) {
      const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (length > this.maxFrameSize)
        throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `frame of ${length} bytes, above the ${this.maxFrameSize} announced`);
      if (buf.length - pos < FRAME_HEADER_SIZE + length) break;
      frames.push({
        type: buf[pos + 3]!,
        flags: buf[pos + 4]!,
        streamId: get32(buf, pos + 5) & MAX_STREAM_ID,
        payload: buf.subarray(pos + FRAME_HEADER_SIZE, pos + FRAME_HEADER_SIZE + length),
      });
      pos += FRAME_HEADER_SIZE + length;
    }
    buf = buf.subarray(pos);
    // keep a copy of a partial frame only: payloads handed out above stay views of `chunk`
    this.pending = buf.length > 0 ? Buffer.from(buf) : undefined;
    return frames;
  }

  /** Bytes of an incomplete frame still waiting. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

/** Why a stream ended without an answer. */
export type H2FailureKind =
  /** the socket failed (connect ENOENT, ECONNRESET...): `cause` */
  | 'socket'
  /** the connection ended (peer closed it, or close()) */
  | 'closed'
  /** the peer violated the protocol; the connection was ended */
  | 'protocol'
  /** the peer reset the stream: `code` */
  | 'reset'
  /** the peer is going away and did not process this stream: `code` */
  | 'goaway'
  /** the answer's header list went over the limit */
  | 'headers-too-large';

export class H2Failure extends Error {
  override name = 'H2Failure';
  constructor(
    readonly kind: H2FailureKind,
    message: string,
    readonly code?: number,
    override readonly cause?: NodeJS.ErrnoException,
  ) {
    super(message);
  }
}

/** What a request stream reports, in order: headers (then data, then trailers), end — or error, once. */
export interface StreamEvents {
  /** A complete header block: the response headers (and informational ones), or the trailers (`endStream`). */
  headers(fields: HeaderField[], endStream: boolean): void;
  data(chunk: Buffer): void;
  /** The peer ended the stream (after the last headers() or data()). */
  end(): void;
  error(err: H2Failure): void;
}

export interface StreamHandle {
  /** Ends the stream from this side (RST_STREAM CANCEL), or drops it if still waiting for a slot; no more events. */
  cancel(): void;
}

export interface ConnectionOptions {
  /** SETTINGS_MAX_HEADER_LIST_SIZE announced and enforced per header block (default 1 MiB). */
  maxHeaderListSize?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE and the connection window announced (default 16 MiB). */
  windowSize?: number;
}

interface Stream {
  id: number;
  events: StreamEvents;
  /** Request body not yet sent. */
  body: Buffer;
  endSent: boolean;
  sendWindow: number;
  recvWindow: number;
  /** Received bytes not yet given back with a WINDOW_UPDATE. */
  unacked: number;
}

interface Queued {
  fields: HeaderField[];
  body: Buffer;
  events: StreamEvents;
  handle: { stream?: Stream; dropped: boolean };
}

export class H2Connection {
  readonly maxHeaderListSize: number;
  readonly windowSize: number;
  private readonly reader = new FrameReader();
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  private readonly queue: Queued[] = [];
  private nextStreamId = 1;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private gotSettings = false;
  /** A header block split over CONTINUATION frames. */
  private block: { streamId: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;

  // the peer's settings
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxStreams = Number.POSITIVE_INFINITY;
  private connSendWindow = DEFAULT_WINDOW;

  private connRecvWindow: number;
  private connUnacked = 0;

  private failure: H2Failure | undefined;
  private socketError: NodeJS.ErrnoException | undefined;
  private goingAway = false;
  /** retire(): no new streams; ends once the open and queued ones have. */
  private retired = false;
  private received = 0;
  private closed = false;
  private refed = true;
  /** Called once when the socket has closed. */
  onClose: (() => void) | undefined;

  constructor(
    private readonly socket: H2Socket,
    opts: ConnectionOptions = {},
  ) {
    this.maxHeaderListSize = opts.maxHeaderListSize ?? 1024 * 1024;
    this.windowSize = Math.min(opts.windowSize ?? 16 * 1024 * 1024, MAX_WINDOW);
    this.connRecvWindow = this.windowSize;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.socketError ??= err;
    });
    socket.on('close', () => this.onSocketClose());
    const settings: Array<[number, number]> = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.windowSize],
      [Setting.MAX_HEADER_LIST_SIZE, this.maxHeaderListSize],
    ];
    this.send(PREFACE);
    this.send(encodeFrame(FrameType.SETTINGS, 0, 0, settingsPayload(settings)));
    if (this.windowSize > DEFAULT_WINDOW) this.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, u32(this.windowSize - DEFAULT_WINDOW)));
    this.updateRef();
  }

  /** New streams can still be opened here (not closed, no GOAWAY, stream ids left). */
  get usable(): boolean {
    return !this.closed && !this.goingAway && !this.retired && this.failure === undefined && this.nextStreamId <= MAX_STREAM_ID;
  }

  /** Bytes read from the socket so far (what a caller compares to see whether anything came in meanwhile). */
  get bytesReceived(): number {
    return this.received;
  }

  /**
   * No new streams from now on (`usable` is false): the streams open or queued go on, and the
   * connection ends once the last of them has. For a connection kept across calls that answered
   * nothing during a whole call (GrpcUnixClient): the next call opens a new one.
   */
  retire(): void {
    this.retired = true;
    this.afterStreamEnd();
  }

  /** Streams open or waiting for a slot. */
  get activeStreams(): number {
    return this.streams.size + this.queue.length;
  }

  /** Opens a stream: `fields` as one header block, then `body` (END_STREAM on its last DATA frame). */
  request(fields: HeaderField[], body: Buffer, events: StreamEvents): StreamHandle {
    if (!this.usable) throw this.failure ?? new H2Failure('closed', 'the connection is closed');
    const q: Queued = { fields, body, events, handle: { dropped: false } };
    this.queue.push(q);
    this.startQueued();
    this.updateRef();
    return {
      cancel: () => {
        if (q.handle.dropped) return;
        q.handle.dropped = true;
        const s = q.handle.stream;
        if (s === undefined) {
          const i = this.queue.indexOf(q);
          if (i >= 0) this.queue.splice(i, 1);
        } else if (this.streams.get(s.id) === s) {
          this.streams.delete(s.id);
          this.send(encodeFrame(FrameType.RST_STREAM, 0, s.id, u32(H2Code.CANCEL)));
          this.startQueued();
        }
        this.afterStreamEnd();
      },
    };
  }

  /** Ends the connection now; open streams fail ('closed'). */
  destroy(): void {
    this.fail(new H2Failure('closed', 'the connection was closed'));
  }

  // ------------------------------------------------------------------ sending

  private send(frame: Buffer): void {
    if (this.closed) return;
    this.out.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Everything queued in this tick goes out in one write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.out.length === 0) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.socket.write(data);
  }

  private startQueued(): void {
    while (this.queue.length > 0 && this.streams.size < this.peerMaxStreams && !this.closed && !this.goingAway) {
      if (this.nextStreamId > MAX_STREAM_ID) {
        // no ids left: what waits fails, the client opens a new connection for what comes next
        for (const q of this.queue.splice(0)) {
          q.handle.dropped = true;
          q.events.error(new H2Failure('closed', 'the connection has no stream ids left'));
        }
        break;
      }
      const q = this.queue.shift()!;
      const id = this.nextStreamId;
      this.nextStreamId += 2;
      const s: Stream = {
        id,
        events: q.events,
        body: q.body,
        endSent: false,
        sendWindow: this.peerInitialWindow,
        recvWindow: this.windowSize,
        unacked: 0,
      };
      q.handle.stream = s;
      this.streams.set(id, s);
      const block = encodeHeaderBlock(q.fields);
      // the header block in HEADERS and as many CONTINUATIONs as the peer's frame size needs
      const max = this.peerMaxFrameSize;
      for (let off = 0, first = true; first || off < block.length; first = false) {
        const part = block.subarray(off, off + max);
        off += part.length;
        const last = off >= block.length;
        this.send(encodeFrame(first ? FrameType.HEADERS : FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, id, part));
      }
      this.sendData(s);
    }
  }

  /** As much of the body as the windows and the frame size allow; END_STREAM with the last of it. */
  private sendData(s: Stream): void {
    while (!s.endSent) {
      const n = Math.min(s.body.length, this.peerMaxFrameSize, s.sendWindow, this.connSendWindow);
      if (n <= 0 && s.body.length > 0) return; // wait for a WINDOW_UPDATE
      const part = s.body.subarray(0, n);
      s.body = s.body.subarray(n);
      s.sendWindow -= n;
      this.connSendWindow -= n;
      s.endSent = s.body.length === 0;
      this.send(encodeFrame(FrameType.DATA, s.endSent ? Flag.END_STREAM : 0, s.id, part));
    }
  }

  // ------------------------------------------------------------------ receiving

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.received += chunk.length;
    try {
      for (const f of this.reader.push(chunk)) {
        this.onFrame(f);
        if (this.closed) return;
      }
    } catch (err) {
      if (err instanceof H2ProtocolError) this.protocolError(err.code, err.message);
      else if (err instanceof HpackError) this.protocolError(H2Code.COMPRESSION_ERROR, `header block: ${err.message}`);
      else this.protocolError(H2Code.INTERNAL_ERROR, (err as Error).message);
    }
  }

  private onFrame(f: Frame): void {
    if (!this.gotSettings && (f.type !== FrameType.SETTINGS || f.flags & Flag.ACK)) {
      throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `the server's first frame is of type ${f.type}, not SETTINGS`);
    }
    if (this.block && f.type !== FrameType.CONTINUATION) {
      throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `frame of type ${f.type} inside the header block of stream ${this.block.streamId}`);
    }
    switch (f.type) {
      case FrameType.DATA:
        this.onDataFrame(f);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(f);
        return;
      case FrameType.PRIORITY:
        if (f.streamId === 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (f.payload.length !== 5) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `PRIORITY of ${f.payload.length} bytes`);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(f);
        return;
      case FrameType.SETTINGS:
        this.onSettings(f);
        return;
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      case FrameType.PING:
        if (f.streamId !== 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `PING on stream ${f.streamId}`);
        if (f.payload.length !== 8) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `PING of ${f.payload.length} bytes`);
        if (!(f.flags & Flag.ACK)) this.send(encodeFrame(FrameType.PING, Flag.ACK, 0, f.payload));
        return;
      case FrameType.GOAWAY:
        this.onGoaway(f);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(f);
        return;
      case FrameType.CONTINUATION:
        this.onContinuation(f);
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  /** The stream a frame is for; undefined for one already closed here; a PROTOCOL_ERROR for one never opened. */
  private streamFor(f: Frame, what: string): Stream | undefined {
    if (f.streamId === 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `${what} on stream 0`);
    const s = this.streams.get(f.streamId);
    if (s) return s;
    if (f.streamId % 2 === 0 || f.streamId >= this.nextStreamId)
      throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `${what} on idle stream ${f.streamId}`);
    return undefined;
  }

  /** Strips the padding of a PADDED frame (DATA, HEADERS). */
  private unpad(f: Frame, what: string): Buffer {
    if (!(f.flags & Flag.PADDED)) return f.payload;
    if (f.payload.length < 1) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `padded ${what} without a pad length`);
    const pad = f.payload[0]!;
    if (pad >= f.payload.length)
      throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `${what} padding of ${pad} bytes in a ${f.payload.length}-byte payload`);
    return f.payload.subarray(1, f.payload.length - pad);
  }

  private onDataFrame(f: Frame): void {
    const s = this.streamFor(f, 'DATA');
    // flow control counts the whole payload, padding included, also for streams already closed here
    const len = f.payload.length;
    this.connRecvWindow -= len;
    if (this.connRecvWindow < 0) throw new H2ProtocolError(H2Code.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.connUnacked += len;
    if (this.connUnacked >= this.windowSize / 4) {
      this.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, u32(this.connUnacked)));
      this.connRecvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
    const data = this.unpad(f, 'DATA');
    if (!s) return;
    s.recvWindow -= len;
    if (s.recvWindow < 0) {
      this.streamError(s, H2Code.FLOW_CONTROL_ERROR, `DATA beyond the window of stream ${s.id}`);
      return;
    }
    const end = (f.flags & Flag.END_STREAM) !== 0;
    if (!end) {
      s.unacked += len;
      if (s.unacked >= this.windowSize / 4) {
        this.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, s.id, u32(s.unacked)));
        s.recvWindow += s.unacked;
        s.unacked = 0;
      }
    }
    if (data.length > 0) s.events.data(data);
    if (end && this.streams.get(s.id) === s) this.remoteEnd(s);
  }

  private onHeadersFrame(f: Frame): void {
    if (f.streamId === 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let fragment = this.unpad(f, 'HEADERS');
    if (f.flags & Flag.PRIORITY) {
      if (fragment.length < 5) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, 'HEADERS too short for its priority fields');
      fragment = fragment.subarray(5);
    }
    const endStream = (f.flags & Flag.END_STREAM) !== 0;
    if (f.flags & Flag.END_HEADERS) {
      this.onHeaderBlock(f.streamId, endStream, fragment);
    } else {
      this.block = { streamId: f.streamId, endStream, parts: [Buffer.from(fragment)], size: fragment.length };
    }
  }

  private onContinuation(f: Frame): void {
    const b = this.block;
    if (!b || f.streamId !== b.streamId)
      throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `CONTINUATION on stream ${f.streamId} without a header block open there`);
    b.size += f.payload.length;
    // HPACK expands at most 8/5 per Huffman byte; a block this large can only be abuse
    if (b.size > 4 * this.maxHeaderListSize + 65_536)
      throw new H2ProtocolError(H2Code.ENHANCE_YOUR_CALM, `header block of more than ${b.size} bytes`);
    b.parts.push(Buffer.from(f.payload));
    if (f.flags & Flag.END_HEADERS) {
      this.block = undefined;
      this.onHeaderBlock(b.streamId, b.endStream, Buffer.concat(b.parts, b.size));
    }
  }

  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // decoded whatever the stream's state: the HPACK context is the connection's
    const decoded = this.hpack.decode(block, this.maxHeaderListSize);
    const s = this.streamFor({ type: FrameType.HEADERS, flags: 0, streamId, payload: block }, 'HEADERS');
    if (!s) return;
    if (decoded.tooLarge) {
      this.streams.delete(s.id);
      this.send(encodeFrame(FrameType.RST_STREAM, 0, s.id, u32(H2Code.CANCEL)));
      s.events.error(
        new H2Failure(
          'headers-too-large',
          `response header list of ${decoded.listSize} bytes, above the limit of ${this.maxHeaderListSize}`,
        ),
      );
      this.startQueued();
      this.afterStreamEnd();
      return;
    }
    s.events.headers(decoded.fields, endStream);
    if (endStream && this.streams.get(s.id) === s) this.remoteEnd(s);
  }

  private onRstStream(f: Frame): void {
    if (f.payload.length !== 4) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `RST_STREAM of ${f.payload.length} bytes`);
    const s = this.streamFor(f, 'RST_STREAM');
    if (!s) return;
    const code = get32(f.payload, 0);
    this.streams.delete(s.id);
    s.events.error(new H2Failure('reset', `the server reset the stream (HTTP/2 ${h2CodeName(code)})`, code));
    this.startQueued();
    this.afterStreamEnd();
  }

  private onSettings(f: Frame): void {
    if (f.streamId !== 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `SETTINGS on stream ${f.streamId}`);
    if (f.flags & Flag.ACK) {
      if (f.payload.length !== 0) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (f.payload.length % 6 !== 0) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `SETTINGS of ${f.payload.length} bytes`);
    this.gotSettings = true;
    for (let i = 0; i < f.payload.length; i += 6) {
      const id = (f.payload[i]! << 8) | f.payload[i + 1]!;
      const value = get32(f.payload, i + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value !== 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `a server's SETTINGS_ENABLE_PUSH of ${value}`);
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxStreams = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new H2ProtocolError(H2Code.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE of ${value}`);
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new H2ProtocolError(H2Code.FLOW_CONTROL_ERROR, `window of stream ${s.id} above 2^31-1`);
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xff_ffff)
            throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE of ${value}`);
          this.peerMaxFrameSize = value;
          break;
        default:
          break; // HEADER_TABLE_SIZE: nothing enters the server's table; MAX_HEADER_LIST_SIZE: advisory; unknown: ignored
      }
    }
    this.send(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.startQueued();
    for (const s of this.streams.values()) this.sendData(s);
  }

  private onGoaway(f: Frame): void {
    if (f.streamId !== 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, `GOAWAY on stream ${f.streamId}`);
    if (f.payload.length < 8) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `GOAWAY of ${f.payload.length} bytes`);
    const lastId = get32(f.payload, 0) & MAX_STREAM_ID;
    const code = get32(f.payload, 4);
    const debug = f.payload
      .subarray(8)
      .toString('utf8')
      .replace(/[^\x20-\x7e]/g, '?')
      .slice(0, 200);
    this.goingAway = true;
    const why = `the server is going away (GOAWAY ${h2CodeName(code)}${debug ? `: ${debug}` : ''}) and did not process the call`;
    for (const q of this.queue.splice(0)) {
      q.handle.dropped = true;
      q.events.error(new H2Failure('goaway', why, code));
    }
    for (const s of [...this.streams.values()]) {
      if (s.id <= lastId) continue;
      this.streams.delete(s.id);
      s.events.error(new H2Failure('goaway', why, code));
    }
    this.afterStreamEnd();
  }

  private onWindowUpdate(f: Frame): void {
    if (f.payload.length !== 4) throw new H2ProtocolError(H2Code.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${f.payload.length} bytes`);
    const inc = get32(f.payload, 0) & MAX_WINDOW;
    if (f.streamId === 0) {
      if (inc === 0) throw new H2ProtocolError(H2Code.PROTOCOL_ERROR, 'connection WINDOW_UPDATE of 0');
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) throw new H2ProtocolError(H2Code.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      for (const s of this.streams.values()) this.sendData(s);
      return;
    }
    const s = this.streamFor(f, 'WINDOW_UPDATE');
    if (!s) return;
    if (inc === 0) {
      this.streamError(s, H2Code.PROTOCOL_ERROR, `WINDOW_UPDATE of 0 on stream ${s.id}`);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.streamError(s, H2Code.FLOW_CONTROL_ERROR, `window of stream ${s.id} above 2^31-1`);
      return;
    }
    this.sendData(s);
  }

  /** The peer ended its side; ours is ended too (a unary request is sent whole), so the stream is closed. */
  private remoteEnd(s: Stream): void {
    this.streams.delete(s.id);
    if (!s.endSent) this.send(encodeFrame(FrameType.RST_STREAM, 0, s.id, u32(H2Code.NO_ERROR)));
    s.events.end();
    this.startQueued();
    this.afterStreamEnd();
  }

  /** A stream-level violation: RST_STREAM to the peer, the stream fails. */
  private streamError(s: Stream, code: number, message: string): void {
    this.streams.delete(s.id);
    this.send(encodeFrame(FrameType.RST_STREAM, 0, s.id, u32(code)));
    s.events.error(new H2Failure('protocol', `HTTP/2 protocol error (${h2CodeName(code)}): ${message}`, code));
    this.startQueued();
    this.afterStreamEnd();
  }

  /** A connection-level violation: GOAWAY to the peer, every stream fails, the socket ends. */
  private protocolError(code: number, message: string): void {
    if (this.closed) return;
    this.send(encodeFrame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(code)])));
    this.fail(new H2Failure('protocol', `HTTP/2 protocol error (${h2CodeName(code)}): ${message}`, code));
  }

  /** After a GOAWAY or retire() (or with no stream ids left), the connection ends once its last stream has. */
  private afterStreamEnd(): void {
    this.updateRef();
    if ((this.goingAway || this.retired || this.nextStreamId > MAX_STREAM_ID) && this.activeStreams === 0 && !this.closed) this.end();
  }

  /** Fails every stream with `err` and ends the socket (what is queued is still written). */
  private fail(err: H2Failure): void {
    if (this.closed) return;
    this.failure ??= err;
    const streams = [...this.streams.values()];
    const queued = this.queue.splice(0);
    this.streams.clear();
    this.end();
    for (const q of queued) {
      q.handle.dropped = true;
      q.events.error(err);
    }
    for (const s of streams) s.events.error(err);
  }

  private end(): void {
    const last = this.out.length > 0 ? Buffer.concat(this.out) : undefined;
    this.out = [];
    this.closed = true;
    if (last && this.socket.writable) this.socket.end(last);
    else this.socket.end();
    // do not wait for the peer's FIN
    setImmediate(() => this.socket.destroy()).unref();
  }

  private onSocketClose(): void {
    const err = this.socketError
      ? new H2Failure('socket', this.socketError.message, undefined, this.socketError)
      : new H2Failure('closed', 'the connection closed before the answer');
    if (!this.closed) this.fail(err); // else the streams have failed or finished already
    this.onClose?.();
    this.onClose = undefined;
  }

  /** The socket keeps the process alive only while streams are open. */
  private updateRef(): void {
    const want = this.activeStreams > 0 && !this.closed;
    if (want === this.refed) return;
    this.refed = want;
    if (want) this.socket.ref();
    else this.socket.unref();
  }
}
