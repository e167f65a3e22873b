/**
 * The registry client's HTTP/1.1 (src/registry/http1.ts): what a registry, or anyone between, can
 * send. Valid responses read the same however the bytes are split; every framing trick (both
 * Content-Length and chunked, two lengths, a chunk size that overflows, folded or bare-LF lines,
 * NUL or CR in a value, bytes after the response) is an error, never a guess; the head, chunk
 * lines, trailers and body are bounded. The requests it writes carry no injected header.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Http1Error,
  Http1TooLarge,
  MAX_CHUNK_LINE_BYTES,
  MAX_HEAD_BYTES,
  ResponseParser,
  type ResponseOptions,
  requestHead,
} from '../../src/registry/http1.js';

const OPTS: ResponseOptions = { method: 'GET', maxBytes: 1 << 20, truncate: false };

/** Parses `raw` fed in the given pieces (cut points), then the connection's end if `close`. */
function parse(raw: string | Buffer, cuts: number[] = [], opts: Partial<ResponseOptions> = {}, close = false) {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  const p = new ResponseParser({ ...OPTS, ...opts });
  let at = 0;
  for (const c of [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)) {
    p.push(bytes.subarray(at, c));
    at = c;
  }
  p.push(bytes.subarray(at));
  if (close) p.end();
  if (!p.done) return undefined;
  const r = p.result();
  return { ...r, body: r.body.toString('latin1') };
}

const VALID: Array<[string, string, { status: number; body: string; reusable: boolean; close?: boolean; method?: string }]> = [
  ['Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', { status: 200, body: 'hello', reusable: true }],
  ['empty reason', 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n', { status: 404, body: '', reusable: true }],
  [
    'chunked, extensions, trailers',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
    { status: 200, body: 'hello world', reusable: true },
  ],
  [
    'chunked upper-case hex',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n',
    { status: 200, body: '0123456789', reusable: true },
  ],
  ['until close', 'HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\nall of it', { status: 200, body: 'all of it', reusable: false, close: true }],
  ['HTTP/1.0 with a length', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi', { status: 200, body: 'hi', reusable: false }],
  [
    'Connection: close',
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nhi',
    { status: 200, body: 'hi', reusable: false },
  ],
  [
    'HEAD: no body whatever the length',
    'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n',
    { status: 200, body: '', reusable: true, method: 'HEAD' },
  ],
  ['204 and 304 have no body', 'HTTP/1.1 204 No Content\r\n\r\n', { status: 204, body: '', reusable: true }],
  [
    'interim 100 and 103 skipped',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
    { status: 200, body: 'x', reusable: true },
  ],
  [
    'the same length twice',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\nContent-Length: 2, 2\r\n\r\nhi',
    { status: 200, body: 'hi', reusable: true },
  ],
  [
    'a value with tabs, spaces and obs-text',
    'HTTP/1.1 200 OK\r\nX-A:\t a \xe9 b \t\r\nContent-Length: 0\r\n\r\n',
    { status: 200, body: '', reusable: true },
  ],
];

describe('a valid response', () => {
  it.each(VALID)('%s: read whole, whatever the pieces', (_name, raw, want) => {
    const opts = want.method ? { method: want.method } : {};
    const whole = parse(raw, [], opts, want.close);
    expect(whole && { status: whole.status, body: whole.body, reusable: whole.reusable }).toEqual({
      status: want.status,
      body: want.body,
      reusable: want.reusable,
    });
    // every split in two, and random splits in many
    for (let i = 1; i < raw.length; i++) expect(parse(raw, [i], opts, want.close)).toEqual(whole);
    fc.assert(
      fc.property(fc.array(fc.nat(raw.length), { maxLength: 12 }), (cuts) => {
        expect(parse(raw, cuts, opts, want.close)).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('headers as Node has them: lower-case names, repeated ones joined, first-wins ones kept first, set-cookie a list', () => {
    const r = parse(
      'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="a"\r\nwww-authenticate: Basic realm="b"\r\nLocation: /one\r\nlocation: /two\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n',
    );
    expect(r?.headers).toEqual({
      'www-authenticate': 'Bearer realm="a", Basic realm="b"',
      location: '/one',
      'set-cookie': ['a=1', 'b=2'],
      'content-length': '0',
    });
  });

  it('is not done before its last byte, nor a body read to the end before the connection ends', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell')).toBeUndefined();
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n')).toBeUndefined();
    expect(parse('HTTP/1.1 200 OK\r\n\r\nsome')).toBeUndefined();
  });
});

const MALFORMED: Array<[string, string]> = [
  ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
  ['HTTP/2 status line', 'HTTP/2 200\r\n\r\n'],
  ['a status of two digits', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
  ['a status line ending in LF only', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
  ['a header line ending in LF only', 'HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n'],
  ['a bare CR in a value', 'HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n'],
  ['NUL in a value', 'HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n'],
  ['a folded line (obs-fold)', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
  ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
  ['no colon', 'HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n'],
  ['an empty name', 'HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n'],
  ['both Content-Length and chunked (smuggling)', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['two different lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
  ['a list of different lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd'],
  ['a negative length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
  ['a length with a sign', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc'],
  ['a hex length', 'HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc'],
  ['a length beyond a safe integer', 'HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n'],
  ['gzip transfer coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
  ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['chunked in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n\r\n'],
  [
    'whitespace before a chunk extension (llhttp refuses it too)',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n',
  ],
  ['a chunk size with a sign', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n'],
  ['a chunk size of 9 hex digits (overflow)', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000005\r\nhello\r\n0\r\n\r\n'],
  ['a chunk size of 9 digits after zeros', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000100000005\r\nhello\r\n0\r\n\r\n'],
  ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n'],
  ['an invalid trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n'],
  ['bytes after a framed response', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n\r\n'],
  ['bytes after a bodiless response', 'HTTP/1.1 204 No Content\r\n\r\nx'],
  ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'],
  ['too many interim responses', 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(9)],
];

describe('a malformed response is an error, never a guess', () => {
  it.each(MALFORMED)('%s', (_name, raw) => {
    expect(() => parse(raw, [], {}, true)).toThrow(Http1Error);
    // the same in pieces
    expect(() => parse(raw, [1, 7, 17, 18, 30], {}, true)).toThrow(Http1Error);
  });

  it('a connection that ends early: no response, or one cut short', () => {
    expect(() => parse('', [], {}, true)).toThrow(/closed before a response/);
    expect(() => parse('HTTP/1.1 200 OK\r\nContent-Len', [], {}, true)).toThrow(/cut short/);
    expect(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel', [], {}, true)).toThrow(/cut short/);
    expect(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', [], {}, true)).toThrow(/cut short/);
  });
});

describe('every part is bounded', () => {
  it(`a head over ${MAX_HEAD_BYTES} bytes, even dripped without its end`, () => {
    const big = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    expect(() => parse(big)).toThrow(/head too large/);
    const p = new ResponseParser(OPTS);
    expect(() => {
      for (let i = 0; i < MAX_HEAD_BYTES / 1024 + 2; i++) p.push(Buffer.from(i === 0 ? 'HTTP/1.1 200 OK\r\nX: ' : 'a'.repeat(1024)));
    }).toThrow(/head too large/);
  });

  it('a chunk-size line or the trailers past their cap, dripped', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    expect(() => parse(`${head}5;${'e'.repeat(MAX_CHUNK_LINE_BYTES)}`)).toThrow(/chunk-size line too long/);
    expect(() => parse(`${head}0\r\n${'X: y\r\n'.repeat(MAX_CHUNK_LINE_BYTES / 6 + 1)}\r\n`)).toThrow(/trailers too large/);
  });

  it('a body over the cap: refused when declared, when chunked and when read to the end', () => {
    const o = { maxBytes: 4 };
    expect(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', [], o)).toThrow(Http1TooLarge);
    expect(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n', [], o)).toThrow(Http1TooLarge);
    expect(() => parse('HTTP/1.1 200 OK\r\n\r\nabcde', [], o)).toThrow(Http1TooLarge);
    // a chunk announcing ~4 GiB is refused at its size line, before any of it is read
    expect(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n', [], o)).toThrow(Http1TooLarge);
  });

  it('truncate keeps the first maxBytes and ends the connection’s use', () => {
    const o = { maxBytes: 4, truncate: true };
    for (const raw of [
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n012\r\n7\r\n3456789\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\n\r\n0123456789',
    ]) {
      const r = parse(raw, [], o);
      expect(r).toMatchObject({ body: '0123', truncated: true, reusable: false });
    }
  });
});

describe('the request it writes', () => {
  const url = new URL('https://r.example:5000/v2/a/b/manifests/sha256:00?n=1&last=x');

  it('is the method, the target, Host, the headers and a length for a body', () => {
    expect(requestHead('POST', url, { authorization: 'Bearer t', 'content-type': 'x' }, 3)).toBe(
      'POST /v2/a/b/manifests/sha256:00?n=1&last=x HTTP/1.1\r\nHost: r.example:5000\r\nauthorization: Bearer t\r\ncontent-type: x\r\nContent-Length: 3\r\n\r\n',
    );
  });

  it.each([
    ['CRLF in a value (a token that injects a header)', { authorization: 'Bearer t\r\nX-Evil: 1' }],
    ['LF in a value', { authorization: 'Bearer t\nX: 1' }],
    ['NUL in a value', { authorization: 'Bearer \0' }],
    ['a character beyond latin1', { authorization: 'Bearer \u0100' }],
    ['a name that is not a token', { 'x y': '1' }],
    ['Host set by the caller', { host: 'other.example' }],
    ['Content-Length set by the caller', { 'Content-Length': '0' }],
    ['Transfer-Encoding set by the caller', { 'transfer-encoding': 'chunked' }],
  ])('refuses %s', (_name, headers) => {
    expect(() => requestHead('GET', url, headers as Record<string, string>, undefined)).toThrow(Http1Error);
  });
});
