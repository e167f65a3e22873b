/**
 * HPACK (RFC 7541) for the CRI client's own HTTP/2: a complete decoder
 * (static and dynamic tables, size updates and eviction, prefixed integers,
 * string literals with Huffman coding) and the small encoder the client needs
 * (literal header fields without indexing, no Huffman). Strings are octets:
 * they are held as latin1 JavaScript strings, so `length` is the octet count
 * the table sizes are made of.
 */

export type HeaderField = [name: string, value: string];

/** A malformed header block: on a connection, a COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = 'HpackError';
}

/** RFC 7541 Appendix A. Index 1 is STATIC_TABLE[0]. */
export const STATIC_TABLE: readonly HeaderField[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * RFC 7541 Appendix B, as data: for each symbol (the octets 0-255, then EOS
 * as 256), its code (right-aligned) and its length in bits.
 */
// prettier-ignore
export const HUFFMAN_TABLE: readonly number[] = [
  /*   0-7 */ 0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28,
  /*   8-15 */ 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
  /*  16-23 */ 0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  /*  24-31 */ 0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28,
  /*  32-39 */ 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, /*  40-47 */ 0x3fa, 10, 0x3fb, 10, 0xf9,
  8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6, /*  48-55 */ 0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6,
  /*  56-63 */ 0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, /*  64-71 */ 0x1ffa, 13, 0x21, 6, 0x5d, 7,
  0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7, /*  72-79 */ 0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7,
  /*  80-87 */ 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, /*  88-95 */ 0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13,
  0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6, /*  96-103 */ 0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6,
  /* 104-111 */ 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, /* 112-119 */ 0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9,
  5, 0x2d, 6, 0x77, 7, 0x78, 7, /* 120-127 */ 0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28,
  /* 128-135 */ 0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23,
  /* 136-143 */ 0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  /* 144-151 */ 0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23,
  /* 152-159 */ 0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24,
  /* 160-167 */ 0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  /* 168-175 */ 0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23,
  /* 176-183 */ 0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23,
  /* 184-191 */ 0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  /* 192-199 */ 0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25,
  /* 200-207 */ 0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25,
  /* 208-215 */ 0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  /* 216-223 */ 0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27,
  /* 224-231 */ 0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23,
  /* 232-239 */ 0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  /* 240-247 */ 0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
  /* 248-255 */ 0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26,
  /* 256 EOS */ 0x3fffffff, 30,
];

export const HUFFMAN_EOS = 256;

/**
 * The decoding tree: node n's children are at 2n (bit 0) and 2n+1 (bit 1); a
 * positive entry is an inner node, -(symbol + 1) a leaf. Built from HUFFMAN_TABLE
 * by buildHuffmanTree; a hook start takes it from HUFFMAN_TREE (that tree's 512
 * entries as int16 little-endian, base64) instead: building it walks ~4,400 code
 * bits in the interpreter, ~0.5 ms of every containerd container start (issue 15).
 * test/unit/h2/hpack.test.ts checks that the two are the same.
 */
let huffmanTree: Int16Array | undefined;

// biome-ignore format: data
export const HUFFMAN_TREE =
  'QgABAF0AAgBoAAMAdwAEAJAABQBLAAYAewAHAEcACABNAAkASQAKAAsADQAMAGYA///b/38ADgCAAA8AYgAQAIT/EQB8ABIAlgATABQAGQDHABUA2AAWABcA' +
  'ogAYAKEA/v94/6cAGgApABsAvwAcANMAHQDlAB4AHwAtACAAJgAhACMAAf8iAP3//P8kACUA+//6//n/+P8nADQAKAAzAPf/9P/QACoAKwClABD/LAD2/3H/' +
  'NwAuAD8ALwCTADAABv8xADIAOwD1//L/8//x/zUANgDw/+//7v/t/zgAPAA5ADoA7P/r/+r/6P/p///+PQA+AOf/5v/l/+T/QABBAOP/4v/h/+D/VQBDAEQA' +
  'UgCPAEUARgBRAN//2v9IAE8A3v/d/4P/SgDc/8H/TABQANn/1f/A/04A2P/U/9f/1v/T/8T/0v/R/1MAWgBUAFkA0P/M/1YAggBXAFgAz//O/83/nv/L/8r/' +
  'WwBcAMn/yP/H/8b/YwBeAIoAXwCOAGAAYQBnAMX/vf/D/5//ZACEAGUAgQDC/77/v/+k/7z/u/9pAHAAagBtAGsAbAC6/7n/uP+3/24AbwC2/7X/tP+z/3EA' +
  'dAByAHMAsv+x/7D/r/91AHYArv+t/6z/q/94AIgAeQB6AKr/qf+o/6b/p/+l/30AmwB+AJQAo/88/6L/gf+h/4L/oP+d/4MAhwCc/5r/hQCGAJv/mf+Y/5f/' +
  'lv+Q/4kAjQCV/5T/iwCMAJP/kv+R/4//jv+J/43/iv+M/4v/kQCSAIj/h/+G/4X/gP8j/y//lQB//33/xACXAJgAsgCZAJ4AGf+aAH7/e/+cAK8AnQDMAHz/' +
  'Xf+fAKAAev95/3f/bf92/3X/owCkAHT/c/9y/3D/pgCrAG//bv+oALkAqQCtAKoArABs/2r/a/9g/2n/aP+uALUAZ/9k//EAsACxALwAZv9e/7MAtwC0ALYA' +
  'Zf9j/2L/Yf9f/1z/uAC+AFv/Vv+6AMIAuwC9AFr/Wf9Y/1P/V/9R/1X/Uv/AANoAwQDqAFT/Mf/DAMsAUP9L/8UA6wDGAMoAT/9O/8gAzgDJAM0ATf9K/0z/' +
  'Lv9J/0j/R/89/0b/Rf/PANIARP9C/9EA1wBD/0D/Qf87/9QA4ADVAN4A1gDdAD//Pv86/xj/2QDzADn/G//1ANsA3AD0ADj/MP83/zb/3wDkADX/Mv/tAOEA' +
  '+ADiAAD/4wA0/zP/Lf8q/+YA+QDnAO8A6ADpACz/K/8p/yL/KP8e/+wA8gAn/yb/7gD2ACX/JP/wAPcAIf8g/x//Hf8c/xr/F/8W/xX/FP8T/xL/Ef8P/w7/' +
  'C/8N/wz/+gD9APsA/AAK/wn/CP8H//4A/wAF/wT/A/8C/w==';

/** HUFFMAN_TREE as the decoder uses it (its bytes copied whole: reading 512 int16s one by one took ~0.5 ms too). */
export function storedHuffmanTree(): Int16Array {
  const bytes = Buffer.from(HUFFMAN_TREE, 'base64');
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) bytes.swap16(); // a big-endian machine
  const tree = new Int16Array(bytes.length / 2);
  new Uint8Array(tree.buffer).set(bytes);
  return tree;
}

/** The decoding tree from HUFFMAN_TABLE, checking that it is a prefix code. */
export function buildHuffmanTree(): Int32Array {
  const tree = new Int32Array(2 * 256);
  let nodes = 1;
  for (let sym = 0; sym <= HUFFMAN_EOS; sym++) {
    const code = HUFFMAN_TABLE[2 * sym]!;
    const bits = HUFFMAN_TABLE[2 * sym + 1]!;
    let node = 0;
    for (let i = bits - 1; i > 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      let next = tree[slot]!;
      if (next < 0) throw new Error(`Huffman table: code of symbol ${sym} extends another code`);
      if (next === 0) {
        if (nodes >= 256) throw new Error('Huffman table: not a prefix code');
        next = nodes++;
        tree[slot] = next;
      }
      node = next;
    }
    const slot = 2 * node + (code & 1);
    if (tree[slot] !== 0) throw new Error(`Huffman table: code of symbol ${sym} is not a leaf`);
    tree[slot] = -(sym + 1);
  }
  return tree;
}

/** Decodes a Huffman-coded string literal (RFC 7541 5.2): EOS inside, or padding longer than 7 bits or not all ones, is an error. */
export function huffmanDecode(input: Uint8Array): Buffer {
  huffmanTree ??= storedHuffmanTree();
  const tree = huffmanTree;
  const out = Buffer.allocUnsafe(Math.floor((input.length * 8) / 5)); // the shortest code has 5 bits
  let n = 0;
  let node = 0;
  let pending = 0; // bits read since the last symbol
  let ones = true; // ...all of them 1
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = tree[2 * node + bit]!;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === HUFFMAN_EOS) throw new HpackError('Huffman string contains EOS');
        out[n++] = sym;
        node = 0;
        pending = 0;
        ones = true;
      } else {
        node = next;
        pending++;
        if (bit === 0) ones = false;
      }
    }
  }
  if (pending > 7) throw new HpackError(`Huffman string padded with ${pending} bits`);
  if (!ones) throw new HpackError('Huffman string padding is not the EOS prefix');
  return out.subarray(0, n);
}

/** Huffman-codes octets (RFC 7541 5.2), padding the last byte with the most significant bits of EOS. */
export function huffmanEncode(input: Uint8Array): Buffer {
  let total = 0;
  for (let i = 0; i < input.length; i++) total += HUFFMAN_TABLE[2 * input[i]! + 1]!;
  const out = Buffer.allocUnsafe(Math.ceil(total / 8));
  let n = 0;
  let acc = 0; // at most 7 + 30 bits: plain arithmetic, not 32-bit operators
  let accBits = 0;
  for (let i = 0; i < input.length; i++) {
    const sym = input[i]!;
    const bits = HUFFMAN_TABLE[2 * sym + 1]!;
    acc = acc * 2 ** bits + HUFFMAN_TABLE[2 * sym]!;
    accBits += bits;
    while (accBits >= 8) {
      accBits -= 8;
      const top = Math.floor(acc / 2 ** accBits);
      out[n++] = top;
      acc -= top * 2 ** accBits;
    }
  }
  if (accBits > 0) out[n++] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1);
  return out;
}

/** An integer with an N-bit prefix (RFC 7541 5.1), `first` holding the bits above the prefix. */
export function encodeInteger(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** Largest integer a header block may carry (indexes, lengths, sizes). */
const MAX_INTEGER = 0xffff_ffff;

const STATIC_NAMES = new Map<string, number>();
for (let i = STATIC_TABLE.length - 1; i >= 0; i--) STATIC_NAMES.set(STATIC_TABLE[i]![0], i + 1);

/**
 * A header block of literal header fields without indexing (RFC 7541 6.2.2),
 * the name by static-table index where it has one, strings without Huffman.
 * Nothing enters the peer's dynamic table.
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  // octets as latin1 takes them (the low byte of each UTF-16 unit), without a Buffer per string
  const str = (s: string) => {
    out.push(...encodeInteger(s.length, 7, 0x00));
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  };
  for (const [name, value] of fields) {
    const idx = STATIC_NAMES.get(name);
    if (idx !== undefined) {
      out.push(...encodeInteger(idx, 4, 0x00));
    } else {
      out.push(0x00);
      str(name);
    }
    str(value);
  }
  return Buffer.from(out);
}

export interface DecodedBlock {
  /** The header list, in order (empty when `tooLarge`). */
  fields: HeaderField[];
  /** Its size as SETTINGS_MAX_HEADER_LIST_SIZE counts it: name + value + 32 per field. */
  listSize: number;
  /** The list went over the limit given to decode(): the block was still decoded (the table stays in sync), the fields dropped. */
  tooLarge: boolean;
}

/**
 * One connection's HPACK decoding context. `maxTableSize` is the
 * SETTINGS_HEADER_TABLE_SIZE this side announced (default 4096): the
 * encoder's size updates may not go above it.
 */
export class HpackDecoder {
  /** Dynamic table, newest first (index 62 is entries[0]). */
  private readonly entries: HeaderField[] = [];
  private size = 0;
  private maxSize: number;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;

  constructor(readonly maxTableSize = 4096) {
    this.maxSize = maxTableSize;
  }

  /** The dynamic table's size in octets (RFC 7541 4.1). */
  get tableSize(): number {
    return this.size;
  }

  /** The dynamic table's current limit (the last size update). */
  get tableLimit(): number {
    return this.maxSize;
  }

  /** The dynamic table, newest first. */
  get dynamicTable(): readonly HeaderField[] {
    return this.entries;
  }

  /** Decodes one complete header block; an HpackError leaves the context unusable (the connection must end). */
  decode(block: Uint8Array, maxListSize = Number.POSITIVE_INFINITY): DecodedBlock {
    this.buf = block;
    this.pos = 0;
    const fields: HeaderField[] = [];
    let listSize = 0;
    let tooLarge = false;
    let fieldSeen = false;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos]!;
        let field: HeaderField;
        if (b & 0x80) {
          // 6.1 indexed header field
          const idx = this.integer(7);
          if (idx === 0) throw new HpackError('indexed header field with index 0');
          field = this.at(idx);
        } else if (b & 0x40) {
          // 6.2.1 literal with incremental indexing
          field = this.literal(6);
          this.add(field);
        } else if (b & 0x20) {
          // 6.3 dynamic table size update: only before the first field of a block
          if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
          const size = this.integer(5);
          if (size > this.maxTableSize)
            throw new HpackError(`dynamic table size update to ${size}, above the limit of ${this.maxTableSize}`);
          this.maxSize = size;
          this.evict(0);
          continue;
        } else {
          // 6.2.2 without indexing (0000), 6.2.3 never indexed (0001)
          field = this.literal(4);
        }
        fieldSeen = true;
        listSize += field[0].length + field[1].length + 32;
        if (listSize > maxListSize) tooLarge = true;
        else fields.push(field);
      }
    } finally {
      this.buf = new Uint8Array(0);
    }
    return { fields: tooLarge ? [] : fields, listSize, tooLarge };
  }

  private integer(prefixBits: number): number {
    const buf = this.buf;
    const max = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= buf.length) throw new HpackError('truncated integer');
      if (shift > 28) throw new HpackError('integer too large');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    if (value > MAX_INTEGER) throw new HpackError('integer too large');
    return value;
  }

  private string(): string {
    if (this.pos >= this.buf.length) throw new HpackError('truncated string literal');
    const huffman = (this.buf[this.pos]! & 0x80) !== 0;
    const len = this.integer(7);
    if (len > this.buf.length - this.pos) throw new HpackError(`string literal of ${len} bytes beyond the end of the block`);
    const raw = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    const bytes = huffman ? huffmanDecode(raw) : raw;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }

  private literal(prefixBits: number): HeaderField {
    const idx = this.integer(prefixBits);
    const name = idx === 0 ? this.string() : this.at(idx)[0];
    return [name, this.string()];
  }

  private at(idx: number): HeaderField {
    if (idx <= STATIC_TABLE.length) return STATIC_TABLE[idx - 1]!;
    const entry = this.entries[idx - STATIC_TABLE.length - 1];
    if (entry === undefined)
      throw new HpackError(`header index ${idx} beyond the tables (${STATIC_TABLE.length} static, ${this.entries.length} dynamic)`);
    return entry;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      const old = this.entries.pop()!;
      this.size -= old[0].length + old[1].length + 32;
    }
  }

  private add(field: HeaderField): void {
    const size = field[0].length + field[1].length + 32;
    this.evict(size);
    if (size > this.maxSize) return; // larger than the table: the table ends up empty (4.4)
    this.entries.unshift(field);
    this.size += size;
  }
}
