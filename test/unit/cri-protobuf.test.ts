/**
 * The CRI client's protobuf codec against hand-checked bytes (the first
 * vectors are the protobuf encoding guide's own), the generated CRI message
 * tables (src/cri/gen/) on the wire, and gRPC unary calls against an in-process HTTP/2 server on a
 * unix socket.
 */
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriClient, CriError, GrpcStatus } from '../../src/cri/client.js';
import { decodeMessage, encodeMessage } from '../../src/cri/codec.js';
import {
  ContainerState,
  ContainerStatusRequest,
  ContainerStatusResponse,
  Image,
  ImageSpec,
  ImageStatusRequest,
} from '../../src/cri/gen/sigguard-cri.js';
import { GrpcUnixClient, decodeGrpcMessage, frameMessage, grpcTimeout, unframeMessage } from '../../src/cri/grpc.js';
import { ProtoMessage, ProtoWriter } from '../../src/cri/protobuf.js';
import { tempDir } from '../support/temp.js';

const hex = (b: Buffer) => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const w = () => new ProtoWriter();
const encode = (build: (w: ProtoWriter) => void): Buffer => {
  const x = new ProtoWriter();
  build(x);
  return x.finish();
};

describe('ProtoWriter', () => {
  it.each([
    ['int32 150 in field 1', w().int(1, 150), '08 96 01'],
    ['varint 300', w().int(1, 300), '08 ac 02'],
    ['string "testing" in field 2', w().string(2, 'testing'), '12 07 74 65 73 74 69 6e 67'],
    ['nested message {1: 150} in field 3', w().message(3, (m) => m.int(1, 150)), '1a 03 08 96 01'],
    ['an empty nested message is still written', w().message(3, () => {}), '1a 00'],
    ['int32 -1 (sign-extended to 10 bytes)', w().int(7, -1), '38 ff ff ff ff ff ff ff ff ff 01'],
    ['int64 2^35', w().int(4, 2n ** 35n), '20 80 80 80 80 80 01'],
    ['bool true', w().bool(2, true), '10 01'],
    ['map<string,string> {a: b} in field 13', w().map(13, { a: 'b' }), '6a 06 0a 01 61 12 01 62'],
    ['field 18 needs a two-byte tag', w().string(18, 'y'), '92 01 01 79'],
    ['repeated string, empty element kept', w().strings(3, ['a', '']), '1a 01 61 1a 00'],
    ['utf-8 string', w().string(1, 'é'), '0a 02 c3 a9'],
  ])('%s', (_name, writer, want) => {
    expect(hex(writer.finish())).toBe(want);
  });

  it.each([
    ['empty string', w().string(1, '')],
    ['zero', w().int(1, 0)],
    ['false', w().bool(1, false)],
    ['undefined message', w().message(1, undefined)],
    ['empty map', w().map(1, {})],
  ])('proto3 defaults are not written: %s', (_name, writer) => {
    expect(writer.finish().length).toBe(0);
  });

  it('refuses field number 0 and out-of-range varints', () => {
    expect(() => w().int(0, 1)).toThrow(/invalid field number 0/);
    expect(() => w().int(1, 2n ** 64n)).toThrow(/out of range/);
  });
});

describe('ProtoMessage', () => {
  it('reads scalars, strings and nested messages', () => {
    const m = ProtoMessage.decode(bytes('08 96 01 12 07 74 65 73 74 69 6e 67 1a 03 08 96 01'));
    expect(m.int32(1)).toBe(150);
    expect(m.string(2)).toBe('testing');
    expect(m.message(3)?.int32(1)).toBe(150);
    expect(m.string(9)).toBe('');
    expect(m.message(9)).toBeUndefined();
  });

  it('reads negative int32 and large int64', () => {
    const m = ProtoMessage.decode(bytes('38 ff ff ff ff ff ff ff ff ff 01 20 80 80 80 80 80 01'));
    expect(m.int32(7)).toBe(-1);
    expect(m.int64(4)).toBe(2n ** 35n);
  });

  it("reads repeated varints packed and unpacked (the guide's packed example)", () => {
    expect(ProtoMessage.decode(bytes('22 06 03 8e 02 9e a7 05')).int64s(4)).toEqual([3n, 270n, 86942n]);
    expect(ProtoMessage.decode(bytes('20 03 20 8e 02')).int64s(4)).toEqual([3n, 270n]);
  });

  it('merges repeated occurrences of a nested message and keeps the last scalar', () => {
    const m = ProtoMessage.decode(bytes('12 02 08 01 12 02 10 02 18 01 18 05'));
    expect(m.message(2)?.int32(1)).toBe(1);
    expect(m.message(2)?.int32(2)).toBe(2);
    expect(m.messages(2)).toHaveLength(2);
    expect(m.int32(3)).toBe(5);
  });

  it('skips unknown fields of every wire type', () => {
    const m = ProtoMessage.decode(
      bytes(
        '0a 02 69 64' + // 1: "id"
          '99 06 01 02 03 04 05 06 07 08' + // 99: fixed64
          'a5 06 01 02 03 04' + // 100: fixed32
          'aa 06 02 7a 7a' + // 101: bytes "zz"
          'b0 06 01' + // 102: varint
          '12 02 6f 6b', // 2: "ok"
      ),
    );
    expect(m.string(1)).toBe('id');
    expect(m.string(2)).toBe('ok');
    expect(m.fieldNumbers()).toEqual([1, 99, 100, 101, 102, 2]);
  });

  it('reads map entries, missing key or value as ""', () => {
    const m = ProtoMessage.decode(
      bytes('6a 06 0a 01 61 12 01 62 6a 03 0a 01 63 6a 03 12 01 64 6a 0d 0a 09 5f 5f 70 72 6f 74 6f 5f 5f 12 00'),
    );
    const map = m.map(13);
    expect(map).toEqual({ a: 'b', c: '', '': 'd', ['__proto__']: '' });
    expect(Object.keys(map)).toEqual(['a', 'c', '', '__proto__']);
    expect(Object.getPrototypeOf(map)).toBe(Object.prototype);
  });

  it.each([
    ['truncated varint', '08 96', /truncated varint/],
    ['length beyond the end', '0a 05 61', /length 5 beyond the end/],
    ['group wire type', '0b', /unsupported wire type 3/],
    ['wire type 7', '0f', /unsupported wire type 7/],
    ['field number 0', '00 01', /field number 0/],
    ['11-byte varint', '08 ff ff ff ff ff ff ff ff ff ff 01', /longer than 10 bytes/],
    ['varint above 2^64', '08 ff ff ff ff ff ff ff ff ff 02', /longer than 64 bits/],
    ['truncated fixed64', '09 01 02', /truncated fixed64/],
  ])('rejects %s', (_name, h, why) => {
    expect(() => ProtoMessage.decode(bytes(h))).toThrow(why);
  });

  it('rejects a string field sent as a varint when it is read', () => {
    expect(() => ProtoMessage.decode(bytes('08 01')).string(1)).toThrow(/expected a length-delimited value/);
  });
});

describe('CRI messages (generated tables, api.proto field numbers)', () => {
  it('ImageSpec {image = 1, annotations = 2, user_specified_image = 18, runtime_handler = 19}', () => {
    expect(hex(encodeMessage(ImageSpec, { image: 'x', userSpecifiedImage: 'y' }))).toBe('0a 01 78 92 01 01 79');
    expect(hex(encodeMessage(ImageSpec, { image: 'x', annotations: { a: 'b' }, runtimeHandler: 'r' }))).toBe(
      '0a 01 78 12 06 0a 01 61 12 01 62 9a 01 01 72',
    );
  });

  it('requests: proto3 defaults left out, a set nested message written even when empty', () => {
    expect(hex(encodeMessage(ContainerStatusRequest, { containerId: 'c1', verbose: true }))).toBe('0a 02 63 31 10 01');
    expect(hex(encodeMessage(ContainerStatusRequest, { containerId: '', verbose: false }))).toBe('');
    expect(hex(encodeMessage(ImageStatusRequest, { image: {} }))).toBe('0a 00');
    expect(hex(encodeMessage(ImageStatusRequest, {}))).toBe('');
  });

  it('ContainerStatusResponse {status = 1 {id 1, state 3, exit_code 7, image 8, image_ref 9, annotations 13}, info = 2}', () => {
    const status = '0a 02 63 31 18 02 38 ff ff ff ff ff ff ff ff ff 01 42 05 0a 03 69 6d 67 4a 03 72 65 66 6a 06 0a 01 6b 12 01 76';
    expect(bytes(status).length).toBe(0x25);
    const res = decodeMessage(ContainerStatusResponse, bytes(`0a 25 ${status} 12 0a 0a 04 69 6e 66 6f 12 02 7b 7d`));
    expect(res.info).toEqual({ info: '{}' });
    expect(res.status).toMatchObject({
      id: 'c1',
      state: ContainerState.CONTAINER_EXITED,
      exitCode: -1,
      image: { image: 'img', userSpecifiedImage: '', annotations: {} },
      imageRef: 'ref',
      imageId: '',
      annotations: { k: 'v' },
      labels: {},
      reason: '',
      metadata: undefined,
    });
  });

  it('ContainerStatus: image_id = 17, metadata = 2 {name 1, attempt 2}, timestamps as int64 ns', () => {
    const b = encode((m) =>
      m
        .string(1, 'c')
        .message(2, (x) => x.string(1, 'app').int(2, 3))
        .int(4, 1_700_000_000_123_456_789n)
        .int(5, -1)
        .string(17, 'sha256:ab'),
    );
    const res = decodeMessage(
      ContainerStatusResponse,
      encode((m) => m.bytes(1, b)),
    );
    expect(res.status?.metadata).toEqual({ name: 'app', attempt: 3 });
    expect(res.status?.createdAt).toBe(1_700_000_000_123_456_789n);
    expect(res.status?.startedAt).toBe(-1n);
    expect(res.status?.finishedAt).toBe(0n);
    expect(res.status?.imageId).toBe('sha256:ab');
  });

  it('an unknown enum value is kept as its number (proto3 open enums)', () => {
    const res = decodeMessage(
      ContainerStatusResponse,
      encode((m) => m.message(1, (s) => s.int(3, 7))),
    );
    expect(res.status?.state).toBe(7);
  });

  it('Image {id 1, repo_tags 2, repo_digests 3, size 4}; the fields not declared (uid = 5) are skipped', () => {
    const img = decodeMessage(Image, bytes('0a 03 73 3a 31 12 03 61 3a 31 12 03 62 3a 32 1a 03 61 40 64 20 ac 02 2a 02 08 01'));
    expect(img).toEqual({
      id: 's:1',
      repoTags: ['a:1', 'b:2'],
      repoDigests: ['a@d'],
      size: 300n,
      username: '',
      spec: undefined,
      pinned: false,
    });
  });

  it('a field of the wrong wire type is an error, not a default', () => {
    expect(() => decodeMessage(Image, bytes('08 01'))).toThrow(/expected a length-delimited value/);
    expect(() => decodeMessage(Image, bytes('20 80 80 80 80 80 80 80 80 80 80 01'))).toThrow(/longer than 10 bytes/);
  });
});

describe('gRPC framing', () => {
  it('prefixes one message with flag 0 and its big-endian length', () => {
    expect(hex(frameMessage(bytes('08 01')))).toBe('00 00 00 00 02 08 01');
    expect(hex(unframeMessage(bytes('00 00 00 00 02 08 01')))).toBe('08 01');
    expect(unframeMessage(bytes('00 00 00 00 00')).length).toBe(0);
  });

  it.each([
    ['too short', '00 00 00', /has no gRPC message/],
    ['compressed', '01 00 00 00 00', /compressed/],
    ['length mismatch', '00 00 00 00 03 08 01', /exactly one message/],
    ['two messages', '00 00 00 00 01 08 00 00 00 00 01 08', /exactly one message/],
  ])('rejects a body that is %s', (_n, h, why) => {
    expect(() => unframeMessage(bytes(h))).toThrow(why);
  });

  it('grpc-timeout and grpc-message', () => {
    expect(grpcTimeout(1500)).toBe('1500m');
    expect(grpcTimeout(0.2)).toBe('1m');
    expect(grpcTimeout(200_000_000)).toBe('200000S');
    expect(decodeGrpcMessage('sigguard%3A%20denied%20%5BNO_SIGNATURE%5D')).toBe('sigguard: denied [NO_SIGNATURE]');
    expect(decodeGrpcMessage('100%zz')).toBe('100%zz');
  });
});

describe('gRPC unary calls over a unix socket', () => {
  const dir = tempDir('sigguard-cri-');
  const socket = join(dir, 'cri.sock');
  let server: http2.Http2Server;
  const seen: Array<{ path: string; headers: http2.IncomingHttpHeaders; body: Buffer }> = [];

  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        const path = String(headers[':path']);
        seen.push({ path, headers, body });
        const req = ProtoMessage.decode(unframeMessage(body));
        const id = req.string(1);
        if (path.endsWith('/ImageStatus')) {
          // ImageStatusResponse { image = 1 { id = 1; repo_digests = 3; uid = 5 (not declared by sigguard) } }, or none
          const asked = req.message(1)?.string(1);
          const image = encode((m) =>
            m
              .string(1, 'sha256:i')
              .strings(3, ['r@sha256:d'])
              .message(5, (u) => u.int(1, 7)),
          );
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(frameMessage(asked === 'sha256:i' ? encode((m) => m.bytes(1, image)) : encode((m) => m.message(1, () => {}))));
        } else if (path.endsWith('/ContainerStatus') && id === 'c1') {
          const status = encode((m) =>
            m
              .string(1, 'c1')
              .int(3, 1)
              .message(8, (i) => i.string(1, 'img'))
              .string(9, 'img@sha256:x'),
          );
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(frameMessage(encode((m) => m.bytes(1, status).map(2, req.bool(2) ? { info: '{"pid":1}' } : undefined))));
        } else if (path.endsWith('/ContainerStatus') && id === 'malformed') {
          // a status whose image_ref (9) is a varint, not a string
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(frameMessage(encode((m) => m.message(1, (st) => st.int(9, 1)))));
        } else if (path.endsWith('/ContainerStatus') && id === 'trailers-only') {
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'container "x" not found' },
            { endStream: true },
          );
        } else if (path.endsWith('/StartContainer')) {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () =>
            stream.sendTrailers({ 'grpc-status': '2', 'grpc-message': encodeURIComponent('hook: sigguard: denied x [NO_SIGNATURE]') }),
          );
          stream.end();
        } else if (path.endsWith('/RemoveContainer')) {
          stream.respond({ ':status': 404 }, { endStream: true });
        } else if (path.endsWith('/StopContainer')) {
          /* never answers */
        } else {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        }
      });
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('ImageStatus and ContainerStatus (verbose), one connection, the gRPC request headers', async () => {
    const cri = new CriClient(socket, { timeoutMs: 2000 });
    try {
      const found = await cri.imageStatus({ image: 'sha256:i' });
      expect(found.image).toMatchObject({ id: 'sha256:i', repoDigests: ['r@sha256:d'], repoTags: [] });
      expect(hex(seen.at(-1)!.body)).toBe('00 00 00 00 0c 0a 0a 0a 08 73 68 61 32 35 36 3a 69');
      // containerd answers an image it does not have with an empty Image: no image
      expect((await cri.imageStatus({ image: 'sha256:other' })).image).toBeUndefined();
      const res = await cri.containerStatus('c1', true);
      expect(res.status).toMatchObject({
        id: 'c1',
        state: ContainerState.CONTAINER_RUNNING,
        image: { image: 'img' },
        imageRef: 'img@sha256:x',
      });
      expect(res.info).toEqual({ info: '{"pid":1}' });
      const last = seen.at(-1)!;
      expect(last.path).toBe('/runtime.v1.RuntimeService/ContainerStatus');
      expect(last.headers['content-type']).toBe('application/grpc');
      expect(last.headers.te).toBe('trailers');
      expect(last.headers['grpc-timeout']).toBe('2000m');
      expect(hex(last.body)).toBe('00 00 00 00 06 0a 02 63 31 10 01');
      // the hook's read of it: the same request, only the image fields and the info JSON
      expect(await cri.containerImage('c1')).toEqual({
        status: { imageId: '', imageRef: 'img@sha256:x', image: { image: 'img', userSpecifiedImage: '' } },
        info: '{"pid":1}',
      });
      expect(hex(seen.at(-1)!.body)).toBe('00 00 00 00 06 0a 02 63 31 10 01');
      const bad = await cri.containerImage('malformed').catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(CriError);
      expect(bad).toMatchObject({ code: GrpcStatus.INTERNAL, method: 'ContainerStatus' });
      expect((bad as CriError).grpcMessage).toMatch(/^malformed response: field 9: expected a length-delimited value/);
    } finally {
      cri.close();
    }
  });

  it('a trailers-only error answer', async () => {
    const cri = new CriClient(socket);
    const err = await cri.containerStatus('trailers-only').catch((e: unknown) => e);
    cri.close();
    expect(err).toBeInstanceOf(CriError);
    expect(err).toMatchObject({
      code: GrpcStatus.NOT_FOUND,
      codeName: 'NOT_FOUND',
      grpcMessage: 'container "x" not found',
      method: 'ContainerStatus',
    });
    expect((err as Error).message).toBe('ContainerStatus: container "x" not found [NOT_FOUND]');
  });

  it('an error in the trailers, percent-decoded', async () => {
    const cri = new GrpcUnixClient(socket);
    const err = await cri.call('/runtime.v1.RuntimeService/StartContainer', Buffer.alloc(0)).catch((e: unknown) => e);
    cri.close();
    expect(err).toMatchObject({ code: GrpcStatus.UNKNOWN, grpcMessage: 'hook: sigguard: denied x [NO_SIGNATURE]' });
  });

  it('an HTTP error without a gRPC status', async () => {
    const cri = new GrpcUnixClient(socket);
    const err = await cri.call('/runtime.v1.RuntimeService/RemoveContainer', Buffer.alloc(0)).catch((e: unknown) => e);
    cri.close();
    expect(err).toMatchObject({ code: GrpcStatus.UNIMPLEMENTED, grpcMessage: 'HTTP status 404 without a gRPC status' });
  });

  // The server never answers StopContainer: only the call's own 200 ms can end it (the message
  // names it, the transport's 10 s default would name that), and a call it did not end would never
  // return (this test's timeout is the backstop), so no elapsed time is asserted.
  it('the deadline', async () => {
    const cri = new GrpcUnixClient(socket);
    const err = await cri.call('/runtime.v1.RuntimeService/StopContainer', Buffer.alloc(0), { timeoutMs: 200 }).catch((e: unknown) => e);
    cri.close();
    expect(err).toMatchObject({ code: GrpcStatus.DEADLINE_EXCEEDED });
    expect((err as Error).message).toContain(`no answer from ${socket} within 200 ms`);
  }, 30_000);

  it('cancelling through an AbortSignal', async () => {
    const cri = new GrpcUnixClient(socket);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await cri.call('/runtime.v1.RuntimeService/StopContainer', Buffer.alloc(0), { signal: ac.signal }).catch((e: unknown) => e);
    cri.close();
    expect(err).toMatchObject({ code: GrpcStatus.CANCELLED });
  });

  it('a socket that does not exist: UNAVAILABLE, naming the socket', async () => {
    const missing = join(dir, 'missing.sock');
    const cri = new CriClient(missing, { timeoutMs: 2000 });
    const err = await cri.containerStatus('c1').catch((e: unknown) => e);
    cri.close();
    expect(err).toBeInstanceOf(CriError);
    expect(err).toMatchObject({ code: GrpcStatus.UNAVAILABLE, grpcMessage: `cannot reach the CRI socket ${missing}: no such socket` });
  });

  it('a file that is not a socket: UNAVAILABLE', async () => {
    const cri = new CriClient(dir, { timeoutMs: 2000 });
    const err = await cri.containerStatus('c1').catch((e: unknown) => e);
    cri.close();
    expect(err).toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect((err as CriError).grpcMessage).toContain(`cannot reach the CRI socket ${dir}`);
  });
});
