/**
 * A small protobuf (proto3) wire codec: just what the CRI messages need.
 * Written out by hand rather than generated, so it needs no .proto file and
 * no package at run time (the hook is a Node single executable).
 *
 * Encoding follows proto3: scalar fields at their default ('' / 0 / false)
 * are not written; a nested message is written when the caller asks for it,
 * even if empty. Decoding keeps every field it meets (unknown ones are simply
 * never asked for), merges repeated occurrences of a nested message as the
 * spec says (concatenated bytes = merged message), and accepts repeated
 * scalars packed or not.
 */

export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

const U64 = (1n << 64n) - 1n;

/** Builds one message. Fields are written in the order the calls are made. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private readonly scratch: number[] = [];
  private size = 0;

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    const b = Buffer.from(this.scratch);
    this.parts.push(b);
    this.size += b.length;
    this.scratch.length = 0;
  }

  private raw(b: Buffer): void {
    this.flushScratch();
    this.parts.push(b);
    this.size += b.length;
  }

  /** An unsigned varint; negative numbers are written as their 64-bit two's complement (int32/int64 semantics). */
  varint(value: number | bigint): this {
    let v = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
    if (v < 0n) v &= U64;
    if (v > U64) throw new ProtobufError(`varint out of range: ${value}`);
    if (v < 0x80n) {
      this.scratch.push(Number(v));
      return this;
    }
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
    return this;
  }

  tag(field: number, wireType: number): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new ProtobufError(`invalid field number ${field}`);
    return this.varint((BigInt(field) << 3n) | BigInt(wireType));
  }

  /** int32, int64, uint32, uint64, enum: omitted when 0. */
  int(field: number, value: number | bigint | undefined): this {
    if (value === undefined || value === 0 || value === 0n) return this;
    return this.tag(field, WireType.VARINT).varint(value);
  }

  bool(field: number, value: boolean | undefined): this {
    if (!value) return this;
    return this.tag(field, WireType.VARINT).varint(1);
  }

  bytes(field: number, value: Uint8Array | undefined): this {
    if (value === undefined || value.length === 0) return this;
    this.tag(field, WireType.LEN).varint(value.length);
    this.raw(Buffer.from(value));
    return this;
  }

  /** A string field: omitted when empty. */
  string(field: number, value: string | undefined): this {
    if (value === undefined || value === '') return this;
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** repeated string: one field per element (empty strings too, as proto3 does for repeated). */
  strings(field: number, values: readonly string[] | undefined): this {
    for (const v of values ?? []) {
      const b = Buffer.from(v, 'utf8');
      this.tag(field, WireType.LEN).varint(b.length);
      if (b.length > 0) this.raw(b);
    }
    return this;
  }

  /** A nested message, written even when empty. Nothing is written when `build` is undefined. */
  message(field: number, build: ((w: ProtoWriter) => void) | undefined): this {
    if (build === undefined) return this;
    const inner = new ProtoWriter();
    build(inner);
    const b = inner.finish();
    this.tag(field, WireType.LEN).varint(b.length);
    if (b.length > 0) this.raw(b);
    return this;
  }

  /** repeated nested messages. */
  messages<T>(field: number, items: readonly T[] | undefined, build: (w: ProtoWriter, item: T) => void): this {
    for (const item of items ?? []) this.message(field, (w) => build(w, item));
    return this;
  }

  /** map<string, string>: one entry message {1: key, 2: value} per pair. */
  map(field: number, value: Readonly<Record<string, string>> | undefined): this {
    for (const [k, v] of Object.entries(value ?? {})) this.message(field, (w) => w.string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    this.flushScratch();
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
  }
}

/** One decoded field occurrence: varints and fixed-width values as bigint, LEN as bytes. */
export type FieldValue = { wireType: 0 | 1 | 5; value: bigint } | { wireType: 2; value: Buffer };

/** Reads a varint at `pos`; returns the value and the next position. */
export function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufError('truncated varint');
    const byte = buf[pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) {
      if (result > U64) throw new ProtobufError('varint longer than 64 bits');
      return [result, pos];
    }
    shift += 7n;
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

/**
 * A decoded message: every field occurrence by field number. Typed getters
 * read it as the .proto declares; a field never asked for (unknown to us) is
 * skipped at no cost.
 */
export class ProtoMessage {
  private constructor(private readonly fields: Map<number, FieldValue[]>) {}

  static decode(buf: Buffer): ProtoMessage {
    const fields = new Map<number, FieldValue[]>();
    let pos = 0;
    while (pos < buf.length) {
      const [key, next] = readVarint(buf, pos);
      pos = next;
      if (key > 0xffffffffn) throw new ProtobufError('field key out of range');
      const field = Number(key >> 3n);
      const wireType = Number(key & 7n);
      if (field === 0) throw new ProtobufError('field number 0');
      let fv: FieldValue;
      switch (wireType) {
        case WireType.VARINT: {
          const [v, n] = readVarint(buf, pos);
          pos = n;
          fv = { wireType: 0, value: v };
          break;
        }
        case WireType.I64:
          if (pos + 8 > buf.length) throw new ProtobufError('truncated fixed64');
          fv = { wireType: 1, value: buf.readBigUInt64LE(pos) };
          pos += 8;
          break;
        case WireType.I32:
          if (pos + 4 > buf.length) throw new ProtobufError('truncated fixed32');
          fv = { wireType: 5, value: BigInt(buf.readUInt32LE(pos)) };
          pos += 4;
          break;
        case WireType.LEN: {
          const [len, n] = readVarint(buf, pos);
          pos = n;
          if (len > BigInt(buf.length - pos)) throw new ProtobufError(`field ${field}: length ${len} beyond the end of the message`);
          fv = { wireType: 2, value: buf.subarray(pos, pos + Number(len)) };
          pos += Number(len);
          break;
        }
        default:
          // groups (3, 4) are proto2-only and unused by the CRI; 6 and 7 do not exist
          throw new ProtobufError(`field ${field}: unsupported wire type ${wireType}`);
      }
      const list = fields.get(field);
      if (list) list.push(fv);
      else fields.set(field, [fv]);
    }
    return new ProtoMessage(fields);
  }

  has(field: number): boolean {
    return this.fields.has(field);
  }

  /** The field numbers present (for tests and debugging). */
  fieldNumbers(): number[] {
    return [...this.fields.keys()];
  }

  private last(field: number): FieldValue | undefined {
    const list = this.fields.get(field);
    return list?.[list.length - 1];
  }

  private lenOf(field: number, fv: FieldValue): Buffer {
    if (fv.wireType !== WireType.LEN)
      throw new ProtobufError(`field ${field}: expected a length-delimited value, got wire type ${fv.wireType}`);
    return fv.value;
  }

  private scalarOf(field: number, fv: FieldValue): bigint {
    if (fv.wireType === WireType.LEN) throw new ProtobufError(`field ${field}: expected a scalar, got a length-delimited value`);
    return fv.value;
  }

  string(field: number): string {
    const fv = this.last(field);
    return fv === undefined ? '' : this.lenOf(field, fv).toString('utf8');
  }

  strings(field: number): string[] {
    return (this.fields.get(field) ?? []).map((fv) => this.lenOf(field, fv).toString('utf8'));
  }

  bytes(field: number): Buffer {
    const fv = this.last(field);
    return fv === undefined ? Buffer.alloc(0) : this.lenOf(field, fv);
  }

  /** The raw unsigned 64-bit value (0n when absent). */
  uint64(field: number): bigint {
    const fv = this.last(field);
    return fv === undefined ? 0n : this.scalarOf(field, fv);
  }

  /** int64 as a signed bigint. */
  int64(field: number): bigint {
    return BigInt.asIntN(64, this.uint64(field));
  }

  /** int32 / enum (sign-extended on the wire). */
  int32(field: number): number {
    return Number(BigInt.asIntN(32, this.uint64(field)));
  }

  uint32(field: number): number {
    return Number(BigInt.asUintN(32, this.uint64(field)));
  }

  bool(field: number): boolean {
    return this.uint64(field) !== 0n;
  }

  /** repeated varint scalars (int64 etc.), packed or not, as signed bigints. */
  int64s(field: number): bigint[] {
    const out: bigint[] = [];
    for (const fv of this.fields.get(field) ?? []) {
      if (fv.wireType === WireType.LEN) {
        let pos = 0;
        while (pos < fv.value.length) {
          const [v, n] = readVarint(fv.value, pos);
          out.push(BigInt.asIntN(64, v));
          pos = n;
        }
      } else {
        out.push(BigInt.asIntN(64, fv.value));
      }
    }
    return out;
  }

  /** A nested message; several occurrences are merged, as the protobuf spec says. */
  message(field: number): ProtoMessage | undefined {
    const list = this.fields.get(field);
    if (list === undefined) return undefined;
    const bufs = list.map((fv) => this.lenOf(field, fv));
    return ProtoMessage.decode(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  messages(field: number): ProtoMessage[] {
    return (this.fields.get(field) ?? []).map((fv) => ProtoMessage.decode(this.lenOf(field, fv)));
  }

  /** map<string, string>: entries {1: key, 2: value}; a later duplicate key wins. */
  map(field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of this.messages(field)) {
      // defineProperty: a key like "__proto__" is data, not the object's prototype
      Object.defineProperty(out, entry.string(1), { value: entry.string(2), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}
