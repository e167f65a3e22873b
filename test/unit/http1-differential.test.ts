/**
 * src/registry/http1.ts reads valid responses as Node's own client (llhttp) does: generated
 * responses (statuses, header names and values, bodies framed by a length, by chunks with
 * extensions and trailers, or by the connection's end), served byte for byte on loopback to
 * node:http and parsed by ResponseParser: the same status, body and headers (fast-check).
 */
import http from 'node:http';
import { type AddressInfo, type Server, createServer } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseParser } from '../../src/registry/http1.js';

let server: Server;
let next: Buffer = Buffer.alloc(0);
beforeAll(async () => {
  server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end(next));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function viaNode(raw: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  next = raw;
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function viaOurs(raw: Buffer) {
  const p = new ResponseParser({ method: 'GET', maxBytes: 1 << 20, truncate: false });
  p.push(raw);
  p.end();
  return p.result();
}

const NAMES = ['Docker-Content-Digest', 'content-type', 'WWW-Authenticate', 'Location', 'X-Thing', 'x-thing', 'Link', 'ETag', 'Server'];
const value = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);
const response = fc.record({
  status: fc.constantFrom(200, 201, 202, 206, 301, 302, 307, 308, 400, 401, 403, 404, 429, 500, 503),
  reason: fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,11}$/),
  headers: fc.array(fc.tuple(fc.constantFrom(...NAMES), value, fc.constantFrom('', ' ', '\t', '  ')), { maxLength: 6 }),
  body: fc.uint8Array({ maxLength: 300 }),
  framing: fc.constantFrom('length', 'chunked', 'close'),
  cuts: fc.array(fc.nat(300), { maxLength: 5 }),
  extension: fc.constantFrom('', ';a=b', ';q="x"'),
  trailer: fc.constantFrom('', 'X-Trailer: 1\r\n'),
});

type Generated = typeof response extends fc.Arbitrary<infer T> ? T : never;

function serialize(r: Generated): Buffer {
  const lines = [`HTTP/1.1 ${r.status} ${r.reason}`, ...r.headers.map(([n, v, ws]) => `${n}:${ws}${v}${ws}`)];
  const body = Buffer.from(r.body);
  if (r.framing === 'length') lines.push(`Content-Length: ${body.length}`);
  if (r.framing === 'chunked') lines.push('Transfer-Encoding: chunked');
  if (r.framing === 'close') lines.push('Connection: close');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (r.framing !== 'chunked') return Buffer.concat([head, body]);
  const cuts = [...new Set(r.cuts.filter((c) => c > 0 && c < body.length))].sort((a, b) => a - b);
  const parts: Buffer[] = [head];
  let at = 0;
  for (const c of [...cuts, body.length]) {
    if (c === at) continue;
    parts.push(Buffer.from(`${(c - at).toString(16)}${r.extension}\r\n`), body.subarray(at, c), Buffer.from('\r\n'));
    at = c;
  }
  parts.push(Buffer.from(`0\r\n${r.trailer}\r\n`));
  return Buffer.concat(parts);
}

describe('the same reading as Node’s HTTP client', () => {
  it('status, body and headers of generated responses (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(response, async (r) => {
        const raw = serialize(r);
        const node = await viaNode(raw);
        const ours = viaOurs(raw);
        expect(ours.status).toBe(node.status);
        expect(ours.body.equals(node.body)).toBe(true);
        for (const name of new Set(r.headers.map(([n]) => n.toLowerCase()))) {
          expect(ours.headers[name], name).toEqual(node.headers[name]);
        }
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});
