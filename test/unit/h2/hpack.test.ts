/**
 * HPACK (RFC 7541) for the CRI client's own HTTP/2: the Huffman table checked
 * as a code (complete, canonical, prefix-free) and by every byte value, and
 * the decoder against the RFC's Appendix C examples (integers, literals,
 * requests and responses with and without Huffman, table sizes and
 * evictions), plus the errors a peer's bad header block must raise.
 */
import { describe, expect, it } from 'vitest';
import {
  HUFFMAN_EOS,
  HUFFMAN_TABLE,
  HpackDecoder,
  HUFFMAN_TREE,
  HpackError,
  STATIC_TABLE,
  buildHuffmanTree,
  encodeHeaderBlock,
  encodeInteger,
  huffmanDecode,
  huffmanEncode,
  storedHuffmanTree,
} from '../../../src/h2/hpack.js';

const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Huffman table (RFC 7541 Appendix B)', () => {
  const code = (sym: number) => HUFFMAN_TABLE[2 * sym]!;
  const bits = (sym: number) => HUFFMAN_TABLE[2 * sym + 1]!;

  it('has 257 codes of 5 to 30 bits, EOS the 30 ones', () => {
    expect(HUFFMAN_TABLE.length).toBe(2 * 257);
    for (let s = 0; s <= HUFFMAN_EOS; s++) {
      expect(bits(s)).toBeGreaterThanOrEqual(5);
      expect(bits(s)).toBeLessThanOrEqual(30);
      expect(code(s)).toBeLessThan(2 ** bits(s));
    }
    expect([code(HUFFMAN_EOS), bits(HUFFMAN_EOS)]).toEqual([0x3fffffff, 30]);
  });

  it('is a complete code (Kraft sum exactly 1) and canonical (codes follow from the lengths)', () => {
    let kraft = 0n;
    for (let s = 0; s <= HUFFMAN_EOS; s++) kraft += 1n << BigInt(30 - bits(s));
    expect(kraft).toBe(1n << 30n);
    const order = [...Array(257).keys()].sort((a, b) => bits(a) - bits(b) || a - b);
    let next = 0;
    order.forEach((s, i) => {
      if (i > 0) next = (next + 1) * 2 ** (bits(s) - bits(order[i - 1]!));
      expect(code(s), `symbol ${s}`).toBe(next);
    });
  });

  it('spot checks against the RFC listing', () => {
    expect([code(0x30), bits(0x30)]).toEqual([0x0, 5]); // '0'
    expect([code(0x20), bits(0x20)]).toEqual([0x14, 6]); // ' '
    expect([code(0x61), bits(0x61)]).toEqual([0x3, 5]); // 'a'
    expect([code(0x7a), bits(0x7a)]).toEqual([0x7b, 7]); // 'z'
    expect([code(0), bits(0)]).toEqual([0x1ff8, 13]);
    expect([code(10), bits(10)]).toEqual([0x3ffffffc, 30]); // '\n'
    expect([code(255), bits(255)]).toEqual([0x3ffffee, 26]);
  });

  it('the stored decoding tree the decoder uses is the one the table builds (a wrong entry fails here)', () => {
    const built = buildHuffmanTree();
    expect(HUFFMAN_TREE.length).toBe(Math.ceil((built.length * 2) / 3) * 4);
    expect([...storedHuffmanTree()]).toEqual([...built]);
  });

  it('encodes and decodes every byte value, alone and all together', () => {
    for (let b = 0; b < 256; b++) {
      const one = Buffer.from([b]);
      const enc = huffmanEncode(one);
      expect(enc.length).toBe(Math.ceil(bits(b) / 8));
      expect(hex(huffmanDecode(enc)), `byte ${b}`).toBe(hex(one));
    }
    const all = Buffer.from([...Array(256).keys()]);
    const twice = Buffer.concat([all, Buffer.from([...all].reverse())]);
    expect(hex(huffmanDecode(huffmanEncode(twice)))).toBe(hex(twice));
    expect(huffmanEncode(Buffer.alloc(0)).length).toBe(0);
    expect(huffmanDecode(Buffer.alloc(0)).length).toBe(0);
  });

  it.each([
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['307', '640e ff'],
    ['private', 'aec3 771a 4b'],
    ['gzip', '9bd9 ab'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['Mon, 21 Oct 2013 20:13:22 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    [
      'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ],
  ])('the RFC strings: %s', (text, h) => {
    expect(hex(huffmanEncode(Buffer.from(text, 'latin1')))).toBe(hex(bytes(h)));
    expect(huffmanDecode(bytes(h)).toString('latin1')).toBe(text);
  });

  it.each([
    ['EOS in the string', 'ffff fffc', /contains EOS/],
    ['padding of 11 bits', '1fff', /padded with 11 bits/], // 'a' (00011) then 11 ones
    ['padding that is not ones', '00', /not the EOS prefix/], // '0' (00000) then 000
    ['a whole byte of padding', 'ff', /padded with 8 bits/],
  ])('rejects %s', (_n, h, why) => {
    expect(() => huffmanDecode(bytes(h))).toThrow(why);
  });
});

describe('prefixed integers (RFC 7541 C.1)', () => {
  it('encodes 10 / 5 bits, 1337 / 5 bits, 42 / 8 bits', () => {
    expect(hex(Buffer.from(encodeInteger(10, 5)))).toBe('0a');
    expect(hex(Buffer.from(encodeInteger(1337, 5)))).toBe('1f9a0a');
    expect(hex(Buffer.from(encodeInteger(42, 8)))).toBe('2a');
    expect(hex(Buffer.from(encodeInteger(31, 5, 0x20)))).toBe('3f00');
  });

  it('decodes them (as table size updates and indexes)', () => {
    const d = new HpackDecoder(4096);
    d.decode(bytes('3fe11f')); // size update to 4096 = 31 + 4065
    expect(d.tableLimit).toBe(4096);
    d.decode(bytes('2a')); // size update to 10
    expect(d.tableLimit).toBe(10);
  });
});

/** Decodes blocks in turn on one decoder; checks each list, then the table after the last. */
function sequence(
  decoder: HpackDecoder,
  steps: Array<{ block: string; want: Array<[string, string]>; table: Array<[string, string]>; size: number }>,
) {
  for (const [i, step] of steps.entries()) {
    const { fields, tooLarge } = decoder.decode(bytes(step.block));
    expect(tooLarge).toBe(false);
    expect(fields, `block ${i + 1}`).toEqual(step.want);
    expect(decoder.dynamicTable, `table after block ${i + 1}`).toEqual(step.table);
    expect(decoder.tableSize, `table size after block ${i + 1}`).toBe(step.size);
  }
}

describe('header blocks (RFC 7541 Appendix C)', () => {
  it('C.2.1 literal with indexing, C.2.2 without, C.2.3 never indexed, C.2.4 indexed', () => {
    sequence(new HpackDecoder(), [
      {
        block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
        want: [['custom-key', 'custom-header']],
        table: [['custom-key', 'custom-header']],
        size: 55,
      },
    ]);
    sequence(new HpackDecoder(), [{ block: '040c 2f73 616d 706c 652f 7061 7468', want: [[':path', '/sample/path']], table: [], size: 0 }]);
    sequence(new HpackDecoder(), [
      { block: '1008 7061 7373 776f 7264 0673 6563 7265 74', want: [['password', 'secret']], table: [], size: 0 },
    ]);
    sequence(new HpackDecoder(), [{ block: '82', want: [[':method', 'GET']], table: [], size: 0 }]);
  });

  const req1: Array<[string, string]> = [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ];
  const req2: Array<[string, string]> = [...req1, ['cache-control', 'no-cache']];
  const req3: Array<[string, string]> = [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ];
  const reqTables = {
    t1: [[':authority', 'www.example.com']] as Array<[string, string]>,
    t2: [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ] as Array<[string, string]>,
    t3: [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ] as Array<[string, string]>,
  };

  it('C.3 requests without Huffman', () => {
    sequence(new HpackDecoder(), [
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', want: req1, table: reqTables.t1, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', want: req2, table: reqTables.t2, size: 110 },
      { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', want: req3, table: reqTables.t3, size: 164 },
    ]);
  });

  it('C.4.1-C.4.3 requests with Huffman', () => {
    sequence(new HpackDecoder(), [
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', want: req1, table: reqTables.t1, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', want: req2, table: reqTables.t2, size: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', want: req3, table: reqTables.t3, size: 164 },
    ]);
  });

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const url = 'https://www.example.com';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses = [
    {
      want: [
        [':status', '302'],
        ['cache-control', 'private'],
        ['date', date1],
        ['location', url],
      ],
      table: [
        ['location', url],
        ['date', date1],
        ['cache-control', 'private'],
        [':status', '302'],
      ],
      size: 222,
    },
    {
      // (":status", "302") is evicted to make room for (":status", "307")
      want: [
        [':status', '307'],
        ['cache-control', 'private'],
        ['date', date1],
        ['location', url],
      ],
      table: [
        [':status', '307'],
        ['location', url],
        ['date', date1],
        ['cache-control', 'private'],
      ],
      size: 222,
    },
    {
      want: [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', date2],
        ['location', url],
        ['content-encoding', 'gzip'],
        ['set-cookie', cookie],
      ],
      table: [
        ['set-cookie', cookie],
        ['content-encoding', 'gzip'],
        ['date', date2],
      ],
      size: 215,
    },
  ] as Array<{ want: Array<[string, string]>; table: Array<[string, string]>; size: number }>;

  it('C.5 responses without Huffman, a 256-octet table, evictions', () => {
    const blocks = [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ];
    sequence(
      new HpackDecoder(256),
      blocks.map((block, i) => ({ block, ...responses[i]! })),
    );
  });

  it('C.6.1-C.6.3 responses with Huffman, a 256-octet table, evictions', () => {
    const blocks = [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ];
    sequence(
      new HpackDecoder(256),
      blocks.map((block, i) => ({ block, ...responses[i]! })),
    );
  });
});

describe("the dynamic table and the decoder's errors", () => {
  const lit = (name: string, value: string) => {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    return Buffer.from([0x40, ...encodeInteger(n.length, 7), ...n, ...encodeInteger(v.length, 7), ...v]);
  };

  it('the static table has its 61 entries', () => {
    expect(STATIC_TABLE).toHaveLength(61);
    expect(STATIC_TABLE[0]).toEqual([':authority', '']);
    expect(STATIC_TABLE[7]).toEqual([':status', '200']);
    expect(STATIC_TABLE[30]).toEqual(['content-type', '']);
    expect(STATIC_TABLE[60]).toEqual(['www-authenticate', '']);
  });

  it('a size update evicts, a later entry fits the new size, indexes follow the newest first', () => {
    const d = new HpackDecoder(4096);
    d.decode(Buffer.concat([lit('a', '1'), lit('b', '2'), lit('c', '3')])); // 34 octets each
    expect(d.tableSize).toBe(102);
    expect(d.decode(Buffer.from([0xbe, 0xc0])).fields).toEqual([
      ['c', '3'],
      ['a', '1'],
    ]);
    // shrink to 70: the oldest ("a") goes
    d.decode(Buffer.from(encodeInteger(70, 5, 0x20)));
    expect(d.dynamicTable).toEqual([
      ['c', '3'],
      ['b', '2'],
    ]);
    expect(() => d.decode(Buffer.from([0xc0]))).toThrow(/index 64 beyond the tables/);
    // an entry larger than the table empties it and is not added
    d.decode(lit('big', 'x'.repeat(100)));
    expect(d.dynamicTable).toEqual([]);
    expect(d.tableSize).toBe(0);
    // size 0 then back up, within the limit, both at the start of a block
    const { fields } = d.decode(Buffer.concat([Buffer.from([0x20, ...encodeInteger(4096, 5, 0x20)]), lit('d', '4')]));
    expect(fields).toEqual([['d', '4']]);
    expect(d.tableSize).toBe(34);
  });

  it('literal names by index, never-indexed fields stay out of the table', () => {
    const d = new HpackDecoder();
    // 0x1f 0x10 = never indexed, name index 31 (content-type) in a 4-bit prefix; 0x5f = with indexing, name index 31
    const block = Buffer.concat([Buffer.from([0x1f, 0x10, 0x03, ...Buffer.from('a/b')]), Buffer.from([0x5f, 0x03, ...Buffer.from('c/d')])]);
    expect(d.decode(block).fields).toEqual([
      ['content-type', 'a/b'],
      ['content-type', 'c/d'],
    ]);
    expect(d.dynamicTable).toEqual([['content-type', 'c/d']]);
  });

  it('over the header list limit: fields dropped, the block still decoded into the table', () => {
    const d = new HpackDecoder();
    const r = d.decode(Buffer.concat([lit('k', 'v'.repeat(100)), lit('x', 'y')]), 100);
    expect(r).toMatchObject({ fields: [], tooLarge: true, listSize: 133 + 34 });
    expect(d.dynamicTable).toEqual([
      ['x', 'y'],
      ['k', 'v'.repeat(100)],
    ]);
    expect(d.decode(Buffer.from([0xbf]), 200)).toMatchObject({ fields: [['k', 'v'.repeat(100)]], tooLarge: false });
  });

  it.each([
    ['index 0', '80', /index 0/],
    ['an index beyond the static table', 'be', /index 62 beyond the tables/],
    ['a size update above the limit', '3fe21f', /size update to 4097, above the limit of 4096/],
    ['a size update after a field', '82 20', /size update after a header field/],
    ['a truncated integer', '1f', /truncated integer/],
    ['an integer above 2^32', '1f ff ff ff ff 7f', /integer too large/],
    ['a six-byte integer continuation', '1f 80 80 80 80 80 01', /integer too large/],
    ['a string past the end', '40 05 61', /beyond the end of the block/],
    ['a missing value', '40 01 61', /truncated string literal/],
    ['a Huffman string with EOS', '40 84 ff ff ff fc 00', /contains EOS/],
    ['a Huffman string with bad padding', '40 81 00 00', /not the EOS prefix/],
  ])('rejects %s', (_n, h, why) => {
    const d = new HpackDecoder();
    let err: unknown;
    try {
      d.decode(bytes(h));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HpackError);
    expect((err as Error).message).toMatch(why);
  });
});

describe('encodeHeaderBlock', () => {
  it('literal fields without indexing, static names by index, no Huffman', () => {
    const block = encodeHeaderBlock([
      [':method', 'POST'],
      [':path', '/runtime.v1.RuntimeService/Version'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    expect(hex(block.subarray(0, 6))).toBe('0204' + hex(Buffer.from('POST'))); // :method, name index 2
    expect(block[6]).toBe(0x04); // :path, name index 4
    expect(hex(block.subarray(42, 44))).toBe('0f10'); // content-type: name index 31 = 15 + 16
    const d = new HpackDecoder();
    expect(d.decode(block).fields).toEqual([
      [':method', 'POST'],
      [':path', '/runtime.v1.RuntimeService/Version'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    expect(d.tableSize).toBe(0); // nothing entered the peer's table
  });

  it('long values take multi-byte lengths', () => {
    const v = 'x'.repeat(300);
    expect(new HpackDecoder().decode(encodeHeaderBlock([['x-long', v]])).fields).toEqual([['x-long', v]]);
  });
});
