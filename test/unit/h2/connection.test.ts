/**
 * The CRI client's own HTTP/2 (src/h2/connection.ts) under GrpcUnixClient: the frame
 * codec, then calls against a scripted server on a unix socket that speaks
 * frames directly — what the client sends (preface, SETTINGS, windows, the
 * request), what it must accept (padding, priority, CONTINUATION, Huffman and
 * the dynamic table across calls, PING, SETTINGS changes, flow control,
 * concurrency limits) and what must fail closed (RST_STREAM, GOAWAY, protocol
 * errors, limits). Large answers and a Huffman cross-check go through
 * node:http2's server (nghttp2), which enforces flow control for real.
 */
import http2 from 'node:http2';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriError, GrpcStatus } from '../../../src/cri/client.js';
import { GrpcUnixClient, frameMessage, unframeMessage } from '../../../src/cri/grpc.js';
import {
  DEFAULT_WINDOW,
  Flag,
  type Frame,
  FrameReader,
  FrameType,
  H2Code,
  H2Connection,
  H2ProtocolError,
  PREFACE,
  Setting,
  encodeFrame,
  settingsPayload,
} from '../../../src/h2/connection.js';
import { type HeaderField, HpackDecoder, encodeHeaderBlock, encodeInteger, huffmanEncode } from '../../../src/h2/hpack.js';
import { tempDir } from '../../support/temp.js';

const dir = tempDir('sigguard-h2-');
let socketN = 0;
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const PATH = '/runtime.v1.RuntimeService/Version';

describe('frame codec', () => {
  it('writes the 9-byte header: length, type, flags, stream id (R bit clear)', () => {
    expect(hex(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, Buffer.from('ab')))).toBe(
      '000002010500000003' + '6162',
    );
    expect(hex(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0))).toBe('000000040100000000');
    expect(hex(encodeFrame(FrameType.DATA, 0, 0xffffffff, Buffer.alloc(0)))).toBe('000000' + '00' + '00' + '7fffffff');
    expect(hex(settingsPayload([[Setting.INITIAL_WINDOW_SIZE, 0x01000000]]))).toBe('000401000000');
  });

  it('reads frames split anywhere, one byte at a time, and several in one chunk', () => {
    const wire = Buffer.concat([
      encodeFrame(FrameType.SETTINGS, 0, 0, settingsPayload([[Setting.MAX_FRAME_SIZE, 20000]])),
      encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('hello')),
      encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)),
    ]);
    const r = new FrameReader();
    const got: Frame[] = [];
    for (const b of wire) got.push(...r.push(Buffer.from([b])));
    expect(r.buffered).toBe(0);
    const all = new FrameReader().push(wire);
    for (const frames of [got, all]) {
      expect(frames.map((f) => [f.type, f.flags, f.streamId, hex(f.payload)])).toEqual([
        [FrameType.SETTINGS, 0, 0, '00050000' + '4e20'],
        [FrameType.DATA, 1, 1, hex(Buffer.from('hello'))],
        [FrameType.PING, 0, 0, '0707070707070707'],
      ]);
    }
  });

  it('reads the header big-endian and unsigned: a 3-byte length, the stream id without its R bit', () => {
    const wire = Buffer.from('004000' + '00' + '01' + 'ffffffff', 'hex');
    const [f] = new FrameReader().push(Buffer.concat([wire, Buffer.alloc(0x4000, 1)]));
    expect([f?.type, f?.flags, f?.streamId, f?.payload.length]).toEqual([FrameType.DATA, Flag.END_STREAM, 0x7fffffff, 0x4000]);
    expect(hex(settingsPayload([[0xfffe, 0xfffffffe]]))).toBe('fffe' + 'fffffffe');
    expect(() => encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(0x1000000))).toThrow(RangeError);
  });

  it('refuses a frame larger than the maximum frame size (FRAME_SIZE_ERROR) as soon as its header is in', () => {
    const r = new FrameReader();
    let err: unknown;
    try {
      r.push(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_385)).subarray(0, 9));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(H2ProtocolError);
    expect(err).toMatchObject({ code: H2Code.FRAME_SIZE_ERROR });
    expect(new FrameReader().push(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_384)))[0]?.payload.length).toBe(16_384);
  });
});

/** The server side of one connection, frame by frame. */
class Peer {
  preface = Buffer.alloc(0);
  private readonly frames: Frame[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly reader = new FrameReader(1 << 24);
  readonly hpack = new HpackDecoder();
  closed = false;

  constructor(readonly socket: Socket) {
    let head = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      if (this.preface.length === 0) {
        head = Buffer.concat([head, c]);
        if (head.length < PREFACE.length) return;
        this.preface = head.subarray(0, PREFACE.length);
        c = head.subarray(PREFACE.length);
      }
      this.frames.push(...this.reader.push(c));
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Takes the first received frame matching `pred`, waiting for it. */
  async take(pred: (f: Frame) => boolean, what = 'a frame'): Promise<Frame> {
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  takeType(type: number, streamId?: number): Promise<Frame> {
    return this.take((f) => f.type === type && (streamId === undefined || f.streamId === streamId), `frame type ${type}`);
  }

  /** Frames received and not taken yet. */
  get rest(): Frame[] {
    return this.frames;
  }

  /** The next request: its HEADERS, then DATA up to END_STREAM. */
  async request(): Promise<{ streamId: number; fields: HeaderField[]; body: Buffer; dataFrames: number }> {
    const h = await this.takeType(FrameType.HEADERS);
    expect(h.flags & Flag.END_HEADERS).toBeTruthy();
    const fields = this.hpack.decode(h.payload).fields;
    const parts: Buffer[] = [];
    for (;;) {
      const d = await this.takeType(FrameType.DATA, h.streamId);
      parts.push(d.payload);
      if (d.flags & Flag.END_STREAM) break;
    }
    return { streamId: h.streamId, fields, body: Buffer.concat(parts), dataFrames: parts.length };
  }

  send(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): void {
    this.socket.write(encodeFrame(type, flags, streamId, payload));
  }

  settings(list: Array<[number, number]> = []): void {
    this.send(FrameType.SETTINGS, 0, 0, settingsPayload(list));
  }

  headers(streamId: number, fields: HeaderField[], endStream = false): void {
    this.send(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, encodeHeaderBlock(fields));
  }

  /** A plain OK answer: headers, one DATA, trailers. */
  answer(streamId: number, message: Buffer, trailers: HeaderField[] = [['grpc-status', '0']]): void {
    this.headers(streamId, [
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]);
    this.send(FrameType.DATA, 0, streamId, frameMessage(message));
    this.headers(streamId, trailers, true);
  }
}

/** A unix socket server whose connections run `script` (its failures fail the test through `done`). */
function scripted(script: (peer: Peer, n: number) => Promise<void>): { socket: string; done: Promise<void>[]; peers: Peer[] } {
  const socket = join(dir, `s${++socketN}.sock`);
  const done: Promise<void>[] = [];
  const peers: Peer[] = [];
  const server = createServer((s) => {
    const peer = new Peer(s);
    peers.push(peer);
    done.push(script(peer, peers.length));
  });
  server.listen(socket);
  servers.push(server);
  return { socket, done, peers };
}

/** The usual start: the server's SETTINGS, then the client's SETTINGS taken (the ACK comes later). */
async function open(peer: Peer, settings: Array<[number, number]> = []): Promise<Frame> {
  peer.settings(settings);
  return peer.take((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK), 'client SETTINGS');
}

/** A first call answered, so that the server's SETTINGS are in force for the next ones (a client sends before it has them). */
async function warm(peer: Peer): Promise<void> {
  const r = await peer.request();
  peer.answer(r.streamId, Buffer.from('warm'));
}

const errOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as CriError,
  );

describe('GrpcUnixClient over the HTTP/2 client: what goes out', () => {
  it('preface, SETTINGS, a 16 MiB connection window, then HEADERS and DATA; SETTINGS and PING acknowledged', async () => {
    const srv = scripted(async (peer) => {
      const settings = await open(peer);
      expect(peer.preface.toString('latin1')).toBe('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      const s: Record<number, number> = {};
      for (let i = 0; i < settings.payload.length; i += 6) s[settings.payload.readUInt16BE(i)] = settings.payload.readUInt32BE(i + 2);
      expect(s).toEqual({
        [Setting.ENABLE_PUSH]: 0,
        [Setting.INITIAL_WINDOW_SIZE]: 16 * 1024 * 1024,
        [Setting.MAX_HEADER_LIST_SIZE]: 1024 * 1024,
      });
      const wu = await peer.takeType(FrameType.WINDOW_UPDATE, 0);
      expect(wu.payload.readUInt32BE(0)).toBe(16 * 1024 * 1024 - DEFAULT_WINDOW);
      const req = await peer.request();
      expect(req.streamId).toBe(1);
      expect(req.fields).toEqual([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', PATH],
        [':authority', 'localhost'],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
        ['grpc-timeout', '1500m'],
        ['user-agent', 'sigguard-cri/1'],
      ]);
      expect(hex(req.body)).toBe('00000000020801');
      expect(peer.hpack.tableSize).toBe(0);
      const ack = await peer.take((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, 'SETTINGS ACK');
      expect(ack.payload.length).toBe(0);
      peer.send(FrameType.PING, 0, 0, Buffer.from('12345678'));
      const pong = await peer.takeType(FrameType.PING);
      expect([pong.flags, pong.payload.toString()]).toEqual([Flag.ACK, '12345678']);
      peer.send(FrameType.PING, Flag.ACK, 0, Buffer.from('ignored!')); // an ACK is not answered
      peer.answer(1, Buffer.from('ok'));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 1500 });
    try {
      expect((await c.call(PATH, Buffer.from([0x08, 0x01]))).toString()).toBe('ok');
      await Promise.all(srv.done);
      expect(srv.peers[0]!.rest.filter((f) => f.type === FrameType.PING)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it("a request body larger than the peer's window and frame size waits for WINDOW_UPDATE and is cut into frames", async () => {
    const body = Buffer.alloc(40_000, 0x61);
    const srv = scripted(async (peer) => {
      await open(peer, [[Setting.INITIAL_WINDOW_SIZE, 1000]]);
      await warm(peer);
      const h = await peer.takeType(FrameType.HEADERS);
      const first = await peer.takeType(FrameType.DATA, h.streamId);
      expect(first.payload.length).toBe(1000);
      expect(first.flags & Flag.END_STREAM).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
      expect(peer.rest.filter((f) => f.type === FrameType.DATA)).toEqual([]); // stalled on the window
      peer.send(FrameType.WINDOW_UPDATE, 0, h.streamId, u32(100_000));
      const sizes = [first.payload.length];
      for (;;) {
        const d = await peer.takeType(FrameType.DATA, h.streamId);
        sizes.push(d.payload.length);
        if (d.flags & Flag.END_STREAM) break;
      }
      expect(sizes).toEqual([1000, 16_384, 16_384, 40_005 - 1000 - 2 * 16_384]);
      peer.answer(h.streamId, Buffer.from('done'));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('warm');
      expect((await c.call(PATH, body)).toString()).toBe('done');
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('the connection window too: a SETTINGS_MAX_FRAME_SIZE raise is used, the body waits for a connection WINDOW_UPDATE', async () => {
    const body = Buffer.alloc(70_000, 0x62);
    const srv = scripted(async (peer) => {
      await open(peer, [[Setting.MAX_FRAME_SIZE, 100_000]]);
      await warm(peer); // its 5 bytes came out of the connection window
      const h = await peer.takeType(FrameType.HEADERS);
      const first = await peer.takeType(FrameType.DATA, h.streamId);
      expect(first.payload.length).toBe(DEFAULT_WINDOW - 5); // the connection window, in one frame of up to 100 000 bytes
      peer.send(FrameType.WINDOW_UPDATE, 0, h.streamId, u32(10_000));
      await new Promise((r) => setTimeout(r, 50));
      expect(peer.rest.filter((f) => f.type === FrameType.DATA)).toEqual([]); // the connection window is still 0
      peer.send(FrameType.WINDOW_UPDATE, 0, 0, u32(10_000));
      const last = await peer.takeType(FrameType.DATA, h.streamId);
      expect([last.payload.length, last.flags]).toEqual([70_005 - (DEFAULT_WINDOW - 5), Flag.END_STREAM]);
      peer.answer(h.streamId, Buffer.from('big'));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('warm');
      expect((await c.call(PATH, body)).toString()).toBe('big');
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });
});

/** A string literal: Huffman-coded when `huffman`. */
function str(s: string, huffman = true): number[] {
  const raw = Buffer.from(s, 'latin1');
  if (!huffman) return [...encodeInteger(raw.length, 7, 0x00), ...raw];
  const h = huffmanEncode(raw);
  return [...encodeInteger(h.length, 7, 0x80), ...h];
}

describe('GrpcUnixClient over the HTTP/2 client: what comes back', () => {
  it('padding, priority, CONTINUATION, Huffman, and the dynamic table carried from one call to the next', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const r1 = await peer.request();
      // headers: literal with incremental indexing, Huffman: :status 200 (name index 8), content-type (31), x-custom
      const block = Buffer.from([0x48, ...str('200'), 0x5f, ...str('application/grpc'), 0x40, ...str('x-custom'), ...str('v'.repeat(40))]);
      // HEADERS padded and with priority fields, then two CONTINUATIONs
      const pad = 7;
      const first = Buffer.concat([Buffer.from([pad]), Buffer.from([0, 0, 0, 0, 16]), block.subarray(0, 5), Buffer.alloc(pad)]);
      peer.send(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, r1.streamId, first);
      peer.send(FrameType.CONTINUATION, 0, r1.streamId, block.subarray(5, 12));
      peer.send(FrameType.CONTINUATION, Flag.END_HEADERS, r1.streamId, block.subarray(12));
      // the message in three DATA frames, two of them padded
      const msg = frameMessage(Buffer.from('first answer'));
      peer.send(FrameType.DATA, Flag.PADDED, r1.streamId, Buffer.concat([Buffer.from([3]), msg.subarray(0, 4), Buffer.alloc(3)]));
      peer.send(FrameType.DATA, 0, r1.streamId, msg.subarray(4, 9));
      peer.send(FrameType.DATA, Flag.PADDED, r1.streamId, Buffer.concat([Buffer.from([0]), msg.subarray(9)]));
      peer.send(FrameType.PRIORITY, 0, r1.streamId, Buffer.from([0, 0, 0, 0, 1])); // ignored
      peer.send(0xfa, 0, 0, Buffer.from('unknown frame type')); // ignored
      // trailers, END_STREAM on the HEADERS, END_HEADERS on the CONTINUATION; grpc-status indexed
      const trailers = Buffer.from([0x40, ...str('grpc-status'), ...str('0', false)]);
      peer.send(FrameType.HEADERS, Flag.END_STREAM, r1.streamId, trailers.subarray(0, 3));
      peer.send(FrameType.CONTINUATION, Flag.END_HEADERS, r1.streamId, trailers.subarray(3));

      const r2 = await peer.request();
      expect(r2.streamId).toBe(3);
      // dynamic table now (newest first): grpc-status: 0 (62), x-custom (63), content-type (64), :status 200 (65)
      peer.send(FrameType.HEADERS, Flag.END_HEADERS, r2.streamId, Buffer.from([0xc1, 0xc0]));
      peer.send(FrameType.DATA, 0, r2.streamId, frameMessage(Buffer.from('second answer')));
      // a size update shrinking the table to 60 octets keeps only grpc-status: 0 (44 octets)
      peer.send(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, r2.streamId, Buffer.from([...encodeInteger(60, 5, 0x20), 0xbe]));

      const r3 = await peer.request();
      expect(r3.streamId).toBe(5);
      peer.send(FrameType.HEADERS, Flag.END_HEADERS, r3.streamId, Buffer.from([0x88, 0x5f, ...str('application/grpc')]));
      peer.send(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        r3.streamId,
        Buffer.from([0x40, ...str('grpc-status'), ...str('5'), 0x40, ...str('grpc-message'), ...str('not%20found%3A%20%C3%A9')]),
      );
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('first answer');
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('second answer');
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toBeInstanceOf(CriError);
      expect(err).toMatchObject({ code: GrpcStatus.NOT_FOUND, grpcMessage: 'not found: é', method: 'Version' });
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('a 1xx answer before the real one, and a trailers-only error', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const r = await peer.request();
      peer.headers(r.streamId, [[':status', '100']]);
      peer.headers(
        r.streamId,
        [
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ['grpc-status', '9'],
          ['grpc-message', 'not%20now'],
        ],
        true,
      );
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect(await errOf(c.call(PATH, Buffer.alloc(0)))).toMatchObject({ code: GrpcStatus.FAILED_PRECONDITION, grpcMessage: 'not now' });
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('concurrent calls on odd stream ids, answered out of order, one connection', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const reqs = [];
      for (let i = 0; i < 5; i++) reqs.push(await peer.request());
      expect(reqs.map((r) => r.streamId)).toEqual([1, 3, 5, 7, 9]);
      for (const r of reqs.reverse()) peer.answer(r.streamId, Buffer.from(`answer to ${unframeMessage(r.body).toString()}`));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const got = await Promise.all([0, 1, 2, 3, 4].map((i) => c.call(PATH, Buffer.from(`q${i}`))));
      expect(got.map(String)).toEqual(['answer to q0', 'answer to q1', 'answer to q2', 'answer to q3', 'answer to q4']);
      expect(srv.peers).toHaveLength(1);
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('SETTINGS_MAX_CONCURRENT_STREAMS 1: calls wait for a free stream', async () => {
    const srv = scripted(async (peer) => {
      await open(peer, [[Setting.MAX_CONCURRENT_STREAMS, 1]]);
      await warm(peer);
      for (let i = 0; i < 3; i++) {
        const r = await peer.request();
        await new Promise((res) => setTimeout(res, 20));
        expect(peer.rest.filter((f) => f.type === FrameType.HEADERS)).toEqual([]); // the next one waits
        peer.answer(r.streamId, Buffer.from(`#${r.streamId}`));
      }
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('warm');
      expect((await Promise.all([1, 2, 3].map(() => c.call(PATH, Buffer.alloc(0))))).map(String)).toEqual(['#3', '#5', '#7']);
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });
});

describe('GrpcUnixClient over the HTTP/2 client: failing closed', () => {
  it('RST_STREAM: UNAVAILABLE, and the connection serves the next call', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const r = await peer.request();
      peer.headers(r.streamId, [[':status', '200']]);
      peer.send(FrameType.RST_STREAM, 0, r.streamId, u32(H2Code.REFUSED_STREAM));
      peer.send(FrameType.DATA, 0, r.streamId, Buffer.from('late')); // after the reset: ignored
      const r2 = await peer.request();
      peer.answer(r2.streamId, Buffer.from('fine'));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toMatchObject({ code: GrpcStatus.UNAVAILABLE });
      expect(err?.grpcMessage).toBe(`${srv.socket}: the server reset the stream (HTTP/2 REFUSED_STREAM)`);
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('fine');
      expect(srv.peers).toHaveLength(1);
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  // a call not marked a lookup fails with the GOAWAY; a lookup goes out once more on the new connection (src/cri/grpc.ts)
  it.each([
    ['a call not marked a lookup: streams above the last id fail', false],
    ['calls marked lookups: streams above the last id go out again on a new connection', true],
  ])('GOAWAY, %s; those below finish; the next call uses the new connection', async (_, lookup) => {
    const srv = scripted(async (peer, n) => {
      await open(peer);
      if (n === 1) {
        const a = await peer.request();
        const b = await peer.request();
        peer.send(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(a.streamId), u32(H2Code.NO_ERROR), Buffer.from('graceful stop')]));
        peer.answer(a.streamId, Buffer.from('finished'));
        expect(b.streamId).toBe(3);
      } else {
        let id = 1;
        if (lookup) {
          const again = await peer.request(); // the call the old connection did not process
          expect(again.streamId).toBe(id);
          peer.answer(again.streamId, Buffer.from('sent again'));
          id += 2;
        }
        const r = await peer.request();
        expect(r.streamId).toBe(id);
        peer.answer(r.streamId, Buffer.from('new connection'));
      }
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    const opts = { lookup };
    try {
      const [a, b] = await Promise.allSettled([c.call(PATH, Buffer.alloc(0), opts), c.call(PATH, Buffer.alloc(0), opts)]);
      expect(a.status === 'fulfilled' && a.value.toString()).toBe('finished');
      if (lookup) expect(b.status === 'fulfilled' && b.value.toString()).toBe('sent again');
      else
        expect(b.status === 'rejected' && b.reason).toMatchObject({
          code: GrpcStatus.UNAVAILABLE,
          grpcMessage: `${srv.socket}: the server is going away (GOAWAY NO_ERROR: graceful stop) and did not process the call`,
        });
      expect((await c.call(PATH, Buffer.alloc(0), opts)).toString()).toBe('new connection');
      expect(srv.peers).toHaveLength(2);
      await Promise.all(srv.done);
      await new Promise((r) => setTimeout(r, 50));
      expect(srv.peers[0]!.closed).toBe(true); // the client ended the old one once its streams were done
    } finally {
      c.close();
    }
  });

  it('GOAWAY on the connection a lookup itself opened: UNAVAILABLE with the reason, not sent again', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const a = await peer.request();
      expect(a.streamId).toBe(1);
      peer.send(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(0), u32(H2Code.NO_ERROR), Buffer.from('graceful stop')]));
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      expect(await errOf(c.call(PATH, Buffer.alloc(0), { lookup: true }))).toMatchObject({
        code: GrpcStatus.UNAVAILABLE,
        grpcMessage: `${srv.socket}: the server is going away (GOAWAY NO_ERROR: graceful stop) and did not process the call`,
      });
      await Promise.all(srv.done);
      expect(srv.peers).toHaveLength(1);
    } finally {
      c.close();
    }
  });

  const violations: Array<[string, (peer: Peer, streamId: number) => void, number, RegExp]> = [
    ['DATA on stream 0', (p) => p.send(FrameType.DATA, 0, 0, Buffer.from('x')), H2Code.PROTOCOL_ERROR, /DATA on stream 0/],
    ['HEADERS on an idle stream', (p) => p.headers(7, [[':status', '200']]), H2Code.PROTOCOL_ERROR, /HEADERS on idle stream 7/],
    [
      'a bad header block (index 0)',
      (p, id) => p.send(FrameType.HEADERS, Flag.END_HEADERS, id, Buffer.from([0x80])),
      H2Code.COMPRESSION_ERROR,
      /index 0/,
    ],
    [
      'a header block cut short',
      (p, id) => p.send(FrameType.HEADERS, Flag.END_HEADERS, id, Buffer.from([0x40, 0x05, 0x61])),
      H2Code.COMPRESSION_ERROR,
      /beyond the end/,
    ],
    [
      'a frame above 16384 bytes',
      (p, id) => p.send(FrameType.DATA, 0, id, Buffer.alloc(16_385)),
      H2Code.FRAME_SIZE_ERROR,
      /frame of 16385 bytes/,
    ],
    [
      'PUSH_PROMISE',
      (p, id) => p.send(FrameType.PUSH_PROMISE, Flag.END_HEADERS, id, Buffer.from([0, 0, 0, 2, 0x82])),
      H2Code.PROTOCOL_ERROR,
      /PUSH_PROMISE/,
    ],
    ['a connection WINDOW_UPDATE of 0', (p) => p.send(FrameType.WINDOW_UPDATE, 0, 0, u32(0)), H2Code.PROTOCOL_ERROR, /WINDOW_UPDATE of 0/],
    [
      'a connection window above 2^31-1',
      (p) => p.send(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)),
      H2Code.FLOW_CONTROL_ERROR,
      /connection window above/,
    ],
    [
      'padding longer than the frame',
      (p, id) => p.send(FrameType.DATA, Flag.PADDED, id, Buffer.from([5, 1, 2])),
      H2Code.PROTOCOL_ERROR,
      /padding of 5 bytes/,
    ],
    [
      'a frame inside a header block',
      (p, id) => {
        p.send(FrameType.HEADERS, 0, id, Buffer.from([0x88]));
        p.send(FrameType.PING, 0, 0, Buffer.alloc(8));
      },
      H2Code.PROTOCOL_ERROR,
      /inside the header block/,
    ],
    [
      'CONTINUATION without HEADERS',
      (p, id) => p.send(FrameType.CONTINUATION, Flag.END_HEADERS, id, Buffer.from([0x88])),
      H2Code.PROTOCOL_ERROR,
      /CONTINUATION/,
    ],
    ['a PING of 4 bytes', (p) => p.send(FrameType.PING, 0, 0, Buffer.alloc(4)), H2Code.FRAME_SIZE_ERROR, /PING of 4 bytes/],
    ['SETTINGS of 5 bytes', (p) => p.send(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), H2Code.FRAME_SIZE_ERROR, /SETTINGS of 5 bytes/],
    ['SETTINGS_ENABLE_PUSH 1', (p) => p.settings([[Setting.ENABLE_PUSH, 1]]), H2Code.PROTOCOL_ERROR, /ENABLE_PUSH/],
    [
      'SETTINGS_MAX_FRAME_SIZE below 16384',
      (p) => p.settings([[Setting.MAX_FRAME_SIZE, 100]]),
      H2Code.PROTOCOL_ERROR,
      /MAX_FRAME_SIZE of 100/,
    ],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE 2^31',
      (p) => p.settings([[Setting.INITIAL_WINDOW_SIZE, 0x80000000]]),
      H2Code.FLOW_CONTROL_ERROR,
      /INITIAL_WINDOW_SIZE/,
    ],
    [
      'RST_STREAM of 3 bytes',
      (p, id) => p.send(FrameType.RST_STREAM, 0, id, Buffer.alloc(3)),
      H2Code.FRAME_SIZE_ERROR,
      /RST_STREAM of 3 bytes/,
    ],
  ];

  it.each(violations)('%s: INTERNAL, GOAWAY to the server, the connection closed', async (_name, act, code, why) => {
    let goaway: Frame | undefined;
    const srv = scripted(async (peer) => {
      await open(peer);
      const r = await peer.request();
      act(peer, r.streamId);
      goaway = await peer.takeType(FrameType.GOAWAY);
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toBeInstanceOf(CriError);
      expect(err).toMatchObject({ code: GrpcStatus.INTERNAL, method: 'Version' });
      expect(err?.grpcMessage).toMatch(why);
      expect(err?.grpcMessage).toContain(`${srv.socket}: HTTP/2 protocol error`);
      await Promise.all(srv.done);
      expect(goaway!.payload.readUInt32BE(0)).toBe(0);
      expect(goaway!.payload.readUInt32BE(4)).toBe(code);
      await new Promise((r) => setTimeout(r, 50));
      expect(srv.peers[0]!.closed).toBe(true);
    } finally {
      c.close();
    }
  });

  it('a server whose first frame is not SETTINGS', async () => {
    const srv = scripted(async (peer) => {
      peer.send(FrameType.PING, 0, 0, Buffer.alloc(8));
      await peer.takeType(FrameType.GOAWAY);
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toMatchObject({ code: GrpcStatus.INTERNAL });
      expect(err?.grpcMessage).toMatch(/first frame is of type 6, not SETTINGS/);
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  // the last column: the stream was still open, so the client resets it
  const malformed: Array<[string, (peer: Peer, streamId: number) => void, number, RegExp, boolean]> = [
    [
      'an answer without :status',
      (p, id) => p.headers(id, [['content-type', 'application/grpc']]),
      GrpcStatus.INTERNAL,
      /without a valid :status \(none\)/,
      true,
    ],
    [
      'DATA before the headers',
      (p, id) => p.send(FrameType.DATA, 0, id, Buffer.from('x')),
      GrpcStatus.INTERNAL,
      /DATA before the response headers/,
      true,
    ],
    [
      'trailers that do not end the stream',
      (p, id) => {
        p.headers(id, [[':status', '200']]);
        p.headers(id, [['grpc-status', '0']]);
      },
      GrpcStatus.INTERNAL,
      /does not end the stream/,
      true,
    ],
    [
      'an HTML answer',
      (p, id) =>
        p.headers(
          id,
          [
            [':status', '200'],
            ['content-type', 'text/html'],
            ['grpc-status', '0'],
          ],
          true,
        ),
      GrpcStatus.UNKNOWN,
      /not a gRPC answer: HTTP status 200 with content-type "text\/html"/,
      false,
    ],
    [
      'no grpc-status at all',
      (p, id) => p.headers(id, [[':status', '200']], true),
      GrpcStatus.UNAVAILABLE,
      /the stream ended without a gRPC status/,
      false,
    ],
    [
      'HTTP 503',
      (p, id) => p.headers(id, [[':status', '503']], true),
      GrpcStatus.UNAVAILABLE,
      /HTTP status 503 without a gRPC status/,
      false,
    ],
    [
      'two messages in the body',
      (p, id) => {
        p.headers(id, [[':status', '200']]);
        p.send(FrameType.DATA, 0, id, Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))]));
        p.headers(id, [['grpc-status', '0']], true);
      },
      GrpcStatus.INTERNAL,
      /exactly one message/,
      false,
    ],
    [
      'a stream WINDOW_UPDATE of 0',
      (p, id) => p.send(FrameType.WINDOW_UPDATE, 0, id, u32(0)),
      GrpcStatus.INTERNAL,
      /WINDOW_UPDATE of 0 on stream 1/,
      true,
    ],
  ];

  it.each(malformed)('%s: that call fails, the connection lives on', async (_name, act, code, why, reset) => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const r = await peer.request();
      act(peer, r.streamId);
      if (reset) await peer.takeType(FrameType.RST_STREAM, r.streamId);
      const r2 = await peer.request();
      peer.answer(r2.streamId, Buffer.from('still here'));
      if (!reset) expect(peer.rest.filter((f) => f.type === FrameType.RST_STREAM)).toEqual([]);
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toMatchObject({ code });
      expect(err?.grpcMessage).toMatch(why);
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('still here');
      expect(srv.peers).toHaveLength(1);
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('trailers above the header list limit: RESOURCE_EXHAUSTED; the HPACK context stays in step for the next call', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      const r = await peer.request();
      peer.headers(r.streamId, [[':status', '200']]);
      // 1.1 MiB of grpc-message, indexed into the table (it does not fit: the table empties), then x-ok: yes indexed
      const big = Buffer.from([
        0x40,
        ...str('grpc-message', false),
        ...str('m'.repeat(1_150_000), false),
        0x40,
        ...str('x-ok', false),
        ...str('yes', false),
      ]);
      for (let off = 0, first = true; off < big.length; first = false) {
        const part = big.subarray(off, off + 16_384);
        off += part.length;
        const last = off >= big.length;
        peer.send(
          first ? FrameType.HEADERS : FrameType.CONTINUATION,
          (first ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0),
          r.streamId,
          part,
        );
      }
      const r2 = await peer.request();
      peer.headers(r2.streamId, [[':status', '200']]);
      peer.send(FrameType.DATA, 0, r2.streamId, frameMessage(Buffer.from('after')));
      // 0xbe: index 62, the x-ok: yes the oversized block added
      peer.send(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        r2.streamId,
        Buffer.from([0xbe, 0x40, ...str('grpc-status'), ...str('0')]),
      );
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 5000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toMatchObject({ code: GrpcStatus.RESOURCE_EXHAUSTED });
      expect(err?.grpcMessage).toMatch(/response header list of \d+ bytes, above the limit of 1048576/);
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('after');
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('the server closing the socket mid-call: UNAVAILABLE; the next call reconnects', async () => {
    const srv = scripted(async (peer, n) => {
      await open(peer);
      const r = await peer.request();
      if (n === 1) {
        await peer.take((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0); // nothing more to come from the client
        peer.headers(r.streamId, [[':status', '200']]);
        peer.socket.end();
      } else {
        peer.answer(r.streamId, Buffer.from('again'));
      }
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    try {
      const err = await errOf(c.call(PATH, Buffer.alloc(0)));
      expect(err).toMatchObject({ code: GrpcStatus.UNAVAILABLE, grpcMessage: `${srv.socket}: the connection closed before the answer` });
      expect((await c.call(PATH, Buffer.alloc(0))).toString()).toBe('again');
      await Promise.all(srv.done);
    } finally {
      c.close();
    }
  });

  it('stream ids run out: the last odd id is used, then the connection takes no new stream and ends', async () => {
    const srv = scripted(async (peer) => {
      await open(peer);
      for (let i = 0; i < 2; i++) {
        const r = await peer.request();
        peer.answer(r.streamId, Buffer.from(String(r.streamId)));
      }
    });
    const conn = new H2Connection(connect(srv.socket));
    (conn as unknown as { nextStreamId: number }).nextStreamId = 0x7ffffffd;
    const fields: HeaderField[] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', PATH],
      [':authority', 'localhost'],
    ];
    const call = () =>
      new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        conn.request(fields, frameMessage(Buffer.alloc(0)), {
          headers: () => {},
          data: (c) => chunks.push(c),
          end: () => resolve(unframeMessage(Buffer.concat(chunks)).toString()),
          error: reject,
        });
      });
    try {
      expect(await Promise.all([call(), call()])).toEqual([String(0x7ffffffd), String(0x7fffffff)]);
      expect(conn.usable).toBe(false);
      expect(() => conn.request(fields, Buffer.alloc(0), { headers() {}, data() {}, end() {}, error() {} })).toThrow(/closed/);
      await Promise.all(srv.done);
      await new Promise((r) => setTimeout(r, 50));
      expect(srv.peers[0]!.closed).toBe(true);
    } finally {
      conn.destroy();
    }
  });

  it('close() with a call pending: UNAVAILABLE; cancel and deadline send RST_STREAM CANCEL', async () => {
    const resets: number[] = [];
    const srv = scripted(async (peer) => {
      await open(peer);
      for (let i = 0; i < 2; i++) {
        const r = await peer.request();
        const rst = await peer.takeType(FrameType.RST_STREAM, r.streamId);
        resets.push(rst.payload.readUInt32BE(0));
      }
    });
    const c = new GrpcUnixClient(srv.socket, { timeoutMs: 3000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    expect(await errOf(c.call(PATH, Buffer.alloc(0), { signal: ac.signal }))).toMatchObject({ code: GrpcStatus.CANCELLED });
    expect(await errOf(c.call(PATH, Buffer.alloc(0), { timeoutMs: 50 }))).toMatchObject({ code: GrpcStatus.DEADLINE_EXCEEDED });
    await Promise.all(srv.done);
    expect(resets).toEqual([H2Code.CANCEL, H2Code.CANCEL]);
    const pending = errOf(c.call(PATH, Buffer.alloc(0)));
    setTimeout(() => c.close(), 30);
    expect(await pending).toMatchObject({ code: GrpcStatus.UNAVAILABLE, grpcMessage: `${srv.socket}: the connection was closed` });
  });
});

describe('against node:http2 (nghttp2): flow control for real, Huffman and indexing as nghttp2 does them', () => {
  const socket = join(dir, 'nghttp2.sock');
  let server: http2.Http2Server;
  const sizes = new Map<string, number>();
  // every visible ASCII character, a space inside (a field value may not start or end with one)
  const ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i))
    .join('')
    .replace('Z', 'Z Z');

  beforeAll(async () => {
    server = http2.createServer({ maxSessionMemory: 200 }); // MB: 6 answers of 3 MiB at once
    server.on('stream', (stream, headers) => {
      stream.on('data', () => {});
      stream.on('end', () => {
        const path = String(headers[':path']);
        const size = sizes.get(path);
        if (path === '/headers') {
          stream.respond(
            {
              ':status': 200,
              'content-type': 'application/grpc',
              'x-ascii': ASCII,
              'x-date': 'Mon, 21 Oct 2013 20:13:21 GMT',
            },
            { waitForTrailers: true },
          );
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
          stream.end(frameMessage(Buffer.from('h')));
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        const body = Buffer.alloc(size ?? 0);
        for (let i = 0; i + 4 <= body.length; i += 4096) body.writeUInt32BE(i, i);
        stream.end(frameMessage(body));
      });
    });
    await new Promise<void>((r) => server.listen(socket, r));
    servers.push(server as unknown as Server);
  });

  it('a 20 MiB answer (beyond the 16 MiB windows) with a raised maxResponseBytes; 16 MiB + 1 refused by default', async () => {
    sizes.set('/big', 20 * 1024 * 1024);
    sizes.set('/over', 16 * 1024 * 1024 + 1);
    const c = new GrpcUnixClient(socket, { timeoutMs: 20_000, maxResponseBytes: 32 * 1024 * 1024 });
    const d = new GrpcUnixClient(socket, { timeoutMs: 20_000 });
    try {
      const big = await c.call('/big', Buffer.alloc(0));
      expect(big.length).toBe(20 * 1024 * 1024);
      expect(big.readUInt32BE(20 * 1024 * 1024 - 4096)).toBe(20 * 1024 * 1024 - 4096);
      expect(await errOf(d.call('/over', Buffer.alloc(0)))).toMatchObject({ code: GrpcStatus.RESOURCE_EXHAUSTED });
    } finally {
      c.close();
      d.close();
    }
  });

  it('many 3 MiB answers on one connection (the connection window is given back), some concurrent', async () => {
    sizes.set('/3m', 3 * 1024 * 1024);
    const c = new GrpcUnixClient(socket, { timeoutMs: 20_000 });
    try {
      for (let i = 0; i < 4; i++) expect((await c.call('/3m', Buffer.alloc(0))).length).toBe(3 * 1024 * 1024);
      const all = await Promise.all(Array.from({ length: 6 }, () => c.call('/3m', Buffer.alloc(0))));
      expect(all.map((b) => b.length)).toEqual(Array(6).fill(3 * 1024 * 1024));
    } finally {
      c.close();
    }
  });

  it("nghttp2's Huffman-coded and indexed headers decode to what was sent, call after call", async () => {
    const conn = new H2Connection(connect(socket));
    try {
      for (let i = 0; i < 3; i++) {
        const got = await new Promise<HeaderField[][]>((resolve, reject) => {
          const blocks: HeaderField[][] = [];
          conn.request(
            [
              [':method', 'POST'],
              [':scheme', 'http'],
              [':path', '/headers'],
              [':authority', 'localhost'],
            ],
            Buffer.alloc(0),
            { headers: (f) => blocks.push(f), data: () => {}, end: () => resolve(blocks), error: reject },
          );
        });
        const [head, trailers] = got;
        expect(head).toContainEqual(['x-ascii', ASCII]);
        expect(head).toContainEqual(['x-date', 'Mon, 21 Oct 2013 20:13:21 GMT']);
        expect(head).toContainEqual([':status', '200']);
        expect(trailers).toEqual([
          ['grpc-status', '0'],
          ['grpc-message', 'ok'],
        ]);
      }
    } finally {
      conn.destroy();
    }
  });
});
