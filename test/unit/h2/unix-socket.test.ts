/**
 * The CRI client's unix socket through libuv's pipe handle (src/h2/unix-socket.ts): what
 * H2Connection relies on of a socket (events in node:net's order, errors with their codes, one
 * 'close'), the fallback to node:net where the bindings are not what is expected, and gRPC calls
 * over both against node:http2's server. The HTTP/2 behaviour itself (test/unit/h2/connection.test.ts)
 * runs over the pipe handle, the default.
 */
import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import { Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CriError, GrpcStatus } from '../../../src/cri/client.js';
import { GrpcUnixClient, frameMessage } from '../../../src/cri/grpc.js';
import { type H2Socket, PipeSocket, connectUnix, pipeBindings, readBindings } from '../../../src/h2/unix-socket.js';
import { tempDir } from '../../support/temp.js';

const dir = tempDir('sigguard-unix-socket-');
let n = 0;
const closers: Array<() => void> = [];
afterAll(() => {
  for (const c of closers) c();
});

/** node:http2's server on a unix socket answering every call with `message` (OK). */
async function grpcServer(message: Buffer): Promise<string> {
  const path = join(dir, `g${++n}.sock`);
  const server = http2.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(frameMessage(message));
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  closers.push(() => server.close());
  return path;
}

/** What a socket reports, in order, until its 'close'. */
function record(s: H2Socket): Promise<string[]> {
  const events: string[] = [];
  return new Promise((resolve) => {
    s.on('data', (c) => events.push(`data ${c.toString()}`));
    s.on('error', (e) => events.push(`error ${e.code}`));
    s.on('close', () => {
      events.push('close');
      // a second 'close' would show up here
      setTimeout(() => resolve(events), 20);
    });
  });
}

const net = () => undefined;
const errOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as CriError,
  );

describe('connectUnix', () => {
  it("uses the pipe handle with this Node's bindings, node:net without them", () => {
    expect(pipeBindings()).toBeDefined();
    const missing = join(dir, 'none.sock');
    const viaPipe = connectUnix(missing);
    const viaNet = connectUnix(missing, net);
    viaNet.on('error', () => {});
    try {
      expect(viaPipe).toBeInstanceOf(PipeSocket);
      expect(viaNet).toBeInstanceOf(Socket);
    } finally {
      viaPipe.destroy();
      viaNet.destroy();
    }
  });

  it('bindings of another shape are not used (node:net then): a missing class, method or state', () => {
    const real = (name: string) => (process as unknown as { binding(n: string): unknown }).binding(name);
    expect(readBindings(real)).toBeDefined();
    const without = (name: string, key: string) => (b: string) => {
      const v = real(b) as Record<string, unknown>;
      return b === name ? { ...v, [key]: undefined } : v;
    };
    expect(readBindings(without('stream_wrap', 'WriteWrap'))).toBeUndefined();
    expect(readBindings(without('stream_wrap', 'streamBaseState'))).toBeUndefined();
    expect(readBindings(without('pipe_wrap', 'PipeConnectWrap'))).toBeUndefined();
    expect(readBindings(without('pipe_wrap', 'constants'))).toBeUndefined();
    expect(readBindings((b) => (b === 'pipe_wrap' ? { ...(real(b) as object), Pipe: class {} } : real(b)))).toBeUndefined();
    expect(
      readBindings(() => {
        throw new Error('No such binding');
      }),
    ).toBeUndefined();
  });

  for (const [via, connect] of [
    ['the pipe handle', (p: string) => connectUnix(p)],
    ['node:net', (p: string) => connectUnix(p, net)],
  ] as const) {
    it(`a gRPC call and a 200 kB answer through ${via}`, async () => {
      const small = await grpcServer(Buffer.from('hello'));
      const big = await grpcServer(Buffer.alloc(200_000, 7));
      for (const [path, want] of [
        [small, Buffer.from('hello')],
        [big, Buffer.alloc(200_000, 7)],
      ] as const) {
        const c = new GrpcUnixClient(path, { timeoutMs: 5000, connect });
        try {
          expect((await c.call('/x.Y/Z', Buffer.alloc(0))).equals(want)).toBe(true);
          expect((await c.call('/x.Y/Z', Buffer.from('again'))).equals(want)).toBe(true); // the same connection
        } finally {
          c.close();
        }
      }
    });

    it(`no socket, a file that is not one, nothing listening: UNAVAILABLE with the reason, through ${via}`, async () => {
      const file = join(dir, `file${++n}`);
      writeFileSync(file, 'x');
      // a socket file bound by nobody's listen: connect is refused
      const b = pipeBindings()!;
      const bound = new b.Pipe(1 /* SERVER */) as unknown as { bind(p: string): number; close(): void };
      const refused = join(dir, `refused${++n}.sock`);
      expect(bound.bind(refused)).toBe(0);
      try {
        for (const [path, why] of [
          [join(dir, 'missing.sock'), 'no such socket'],
          [refused, 'connection refused (nothing listening)'],
          [file, 'connection refused (nothing listening)'],
        ] as const) {
          const c = new GrpcUnixClient(path, { timeoutMs: 3000, connect });
          try {
            const err = await errOf(c.call('/x.Y/Z', Buffer.alloc(0)));
            expect(err).toBeInstanceOf(CriError);
            expect(err?.code).toBe(GrpcStatus.UNAVAILABLE);
            expect(err?.grpcMessage).toContain(`cannot reach the CRI socket ${path}: ${why}`);
          } finally {
            c.close();
          }
        }
      } finally {
        bound.close();
      }
    });
  }
});

describe('PipeSocket', () => {
  it("a connect that fails: one 'error' with its code, then one 'close', never from inside the call", async () => {
    const s = connectUnix(join(dir, 'nothing-here.sock'));
    // listeners attached after the call still see everything
    expect(await record(s)).toEqual(['error ENOENT', 'close']);
  });

  it('bytes written before the connect completes go out after it, in order; the end of the peer is a close', async () => {
    const path = join(dir, `echo${++n}.sock`);
    const server = createServer((c) => {
      const got: Buffer[] = [];
      c.on('data', (d) => got.push(d));
      c.on('end', () => c.end(`got:${Buffer.concat(got).toString()}`));
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const s = connectUnix(path);
      const events = record(s);
      s.write(Buffer.from('a'));
      s.write(Buffer.from('b'));
      s.end(Buffer.from('c'));
      expect(s.writable).toBe(false);
      expect(s.write(Buffer.from('late'))).toBe(false); // after end: dropped, no throw
      expect(await events).toEqual(['data got:abc', 'close']);
    } finally {
      server.close();
    }
  });

  it("destroy: one 'close', nothing read after it, writes and a second destroy do nothing", async () => {
    const path = join(dir, `chatty${++n}.sock`);
    const server = createServer((c) => {
      c.on('error', () => {});
      const t = setInterval(() => c.write('x'), 5);
      c.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const s = connectUnix(path);
      let closes = 0;
      let afterClose = 0;
      s.on('close', () => closes++);
      const first = new Promise<void>((r) => s.on('data', () => r()));
      s.on('data', () => {
        if (closes > 0) afterClose++;
      });
      await first;
      s.destroy();
      s.destroy();
      expect(s.writable).toBe(false);
      s.write(Buffer.from('x'));
      s.end();
      s.ref();
      s.unref();
      await new Promise((r) => setTimeout(r, 50));
      expect(closes).toBe(1);
      expect(afterClose).toBe(0);
    } finally {
      server.close();
    }
  });
});
