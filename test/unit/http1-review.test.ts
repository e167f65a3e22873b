/**
 * Review of the registry client's HTTP/1.1 parser (src/registry/http1.ts) as an attacker who
 * answers the requests: a body whose length is not declared (chunked, or read to the connection's
 * end) must cost memory in proportion to its bytes, not to how many pieces they came in. A 4 MiB
 * manifest sent as 1-byte chunks (24 MiB on the wire) held one Buffer per byte: ~540 MB of heap
 * and ~3.5 s of CPU for one response, ~6 GB for a verification's 48 MiB budget.
 */
import { describe, expect, it } from 'vitest';
import { ResponseParser } from '../../src/registry/http1.js';

const BODY = 1 << 20;

function heapAfter(fill: (p: ResponseParser) => void): { p: ResponseParser; grew: number } {
  const p = new ResponseParser({ method: 'GET', maxBytes: BODY, truncate: false });
  const before = process.memoryUsage().heapUsed;
  fill(p);
  return { p, grew: process.memoryUsage().heapUsed - before };
}

describe('a body in many small pieces', () => {
  it('chunked in 1-byte chunks: memory in proportion to the bytes, not the chunks', () => {
    const chunk = Buffer.from('1\r\nx\r\n');
    const segment = Buffer.concat(Array.from({ length: 8192 }, () => chunk));
    const { p, grew } = heapAfter((p) => {
      p.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
      for (let sent = 0; sent < BODY; sent += 8192) p.push(segment);
      p.push(Buffer.from('0\r\n\r\n'));
    });
    expect(p.done).toBe(true);
    const body = p.result().body;
    expect(body.length).toBe(BODY);
    expect(body.every((b) => b === 0x78)).toBe(true);
    // one Buffer object per byte is ~100 bytes of heap each: >100 MB for this 1 MiB body
    expect(grew).toBeLessThan(32 * 1024 * 1024);
  });

  it('read to the end in 1-byte reads: the same', () => {
    const one = Buffer.from('y');
    const { p, grew } = heapAfter((p) => {
      p.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
      for (let i = 0; i < BODY; i++) p.push(one);
      p.end();
    });
    expect(p.done).toBe(true);
    const r = p.result();
    expect(r.body.length).toBe(BODY);
    expect(r.body.every((b) => b === 0x79)).toBe(true);
    expect(grew).toBeLessThan(32 * 1024 * 1024);
  });

  it('pieces of every size keep every byte, in order, and the cap', () => {
    const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251));
    const sizes = [1, 2, 3, 5000, 7, 16384, 1, 40000];
    const p = new ResponseParser({ method: 'GET', maxBytes: bytes.length, truncate: false });
    p.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, bytes.length - at);
      p.push(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), bytes.subarray(at, at + n), Buffer.from('\r\n')]));
      at += n;
    }
    p.push(Buffer.from('0\r\n\r\n'));
    expect(p.result().body.equals(bytes)).toBe(true);
    const t = new ResponseParser({ method: 'GET', maxBytes: 10, truncate: true });
    t.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    for (let i = 0; i < 6; i++) t.push(Buffer.from('ab'));
    expect(t.done).toBe(true);
    expect(t.result().body.toString()).toBe('ababababab');
    expect(t.result().truncated).toBe(true);
  });
});
