/**
 * What the hook reads of a ContainerStatusResponse (runtime.v1), decoded from the wire without
 * the rest: status.image (image, user_specified_image), status.image_ref, status.image_id and
 * info["info"] (containerd's verbose JSON). The generated decoder (codec.ts) reads every field of
 * the message, the labels, annotations and metadata too, with a BigInt per varint: ~0.3 ms of
 * each warm containerd start for fields nobody looks at (issue 15).
 *
 * The same answers as decodeMessage(ContainerStatusResponse, …) for these fields (a test
 * compares them): proto3 defaults for absent fields, the last occurrence of a string winning,
 * occurrences of a message merged, a later duplicate map key winning. The levels it walks
 * (the response, the status, its image, each info entry) must be well-formed protobuf, and a
 * field it reads must have its declared wire type: anything else is a ProtobufError, as with
 * the generated decoder. Fields it does not read are skipped by their length or size, never
 * parsed, so a malformed value there is not an error here (it decides nothing).
 */
import { ProtobufError, WireType } from './protobuf.js';

export interface ContainerImageFacts {
  /** Undefined when the answer has no status. */
  status:
    | {
        imageId: string;
        imageRef: string;
        /** Undefined when the status has no image spec. */
        image: { image: string; userSpecifiedImage: string } | undefined;
      }
    | undefined;
  /** info["info"]: containerd's verbose JSON, if it sent one. */
  info: string | undefined;
}

/**
 * A varint at `at.pos` (moved past it) for a key or a length: up to 10 bytes as readVarint takes
 * them, its value a JavaScript number exactly (above 2^53 no key or length is valid anyway).
 */
function smallVarint(buf: Uint8Array, at: { pos: number }, end: number): number {
  let value = 0;
  for (let i = 0, scale = 1; i < 10; i++, scale *= 128) {
    if (at.pos >= end) throw new ProtobufError('truncated varint');
    const byte = buf[at.pos++]!;
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) throw new ProtobufError('varint out of range for a key or a length');
    if ((byte & 0x80) === 0) return value;
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

/** Skips a varint of up to 64 bits, as readVarint would accept it. */
function skipVarint(buf: Uint8Array, at: { pos: number }, end: number): void {
  for (let i = 0; i < 10; i++) {
    if (at.pos >= end) throw new ProtobufError('truncated varint');
    const byte = buf[at.pos++]!;
    if ((byte & 0x80) === 0) {
      if (i === 9 && byte > 1) throw new ProtobufError('varint longer than 64 bits');
      return;
    }
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

/**
 * Walks the fields of the message in buf[from, to): `onLen(field, start, end)` for each
 * length-delimited one; `wanted(field)` says which fields must be length-delimited.
 */
function walk(
  buf: Uint8Array,
  from: number,
  to: number,
  wanted: (field: number) => boolean,
  onLen: (field: number, start: number, end: number) => void,
): void {
  const at = { pos: from };
  while (at.pos < to) {
    const key = smallVarint(buf, at, to);
    if (key > 0xffff_ffff) throw new ProtobufError('field key out of range');
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw new ProtobufError('field number 0');
    if (wireType !== WireType.LEN && wanted(field))
      throw new ProtobufError(`field ${field}: expected a length-delimited value, got wire type ${wireType}`);
    switch (wireType) {
      case WireType.VARINT:
        skipVarint(buf, at, to);
        break;
      case WireType.I64:
        if (at.pos + 8 > to) throw new ProtobufError('truncated fixed64');
        at.pos += 8;
        break;
      case WireType.I32:
        if (at.pos + 4 > to) throw new ProtobufError('truncated fixed32');
        at.pos += 4;
        break;
      case WireType.LEN: {
        const len = smallVarint(buf, at, to);
        if (len > to - at.pos) throw new ProtobufError(`field ${field}: length ${len} beyond the end of the message`);
        const start = at.pos;
        at.pos += len;
        onLen(field, start, at.pos);
        break;
      }
      default:
        throw new ProtobufError(`field ${field}: unsupported wire type ${wireType}`);
    }
  }
}

const text = (buf: Buffer, start: number, end: number) => buf.toString('utf8', start, end);

// runtime.v1 field numbers (src/cri/proto/sigguard-cri.proto)
const RESPONSE_STATUS = 1;
const RESPONSE_INFO = 2;
const STATUS_IMAGE = 8;
const STATUS_IMAGE_REF = 9;
const STATUS_IMAGE_ID = 17;
const SPEC_IMAGE = 1;
const SPEC_USER_SPECIFIED_IMAGE = 18;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

/** Decodes what ContainerImageFacts holds from an encoded ContainerStatusResponse. Throws ProtobufError on malformed input. */
export function decodeContainerImage(buf: Buffer): ContainerImageFacts {
  let status: NonNullable<ContainerImageFacts['status']> | undefined;
  let info: string | undefined;
  const isStatusString = (f: number) => f === STATUS_IMAGE_REF || f === STATUS_IMAGE_ID || f === STATUS_IMAGE;
  const isSpecString = (f: number) => f === SPEC_IMAGE || f === SPEC_USER_SPECIFIED_IMAGE;
  const isEntryString = (f: number) => f === ENTRY_KEY || f === ENTRY_VALUE;
  walk(
    buf,
    0,
    buf.length,
    (f) => f === RESPONSE_STATUS || f === RESPONSE_INFO,
    (field, start, end) => {
      if (field === RESPONSE_STATUS) {
        status ??= { imageId: '', imageRef: '', image: undefined };
        const s = status;
        walk(buf, start, end, isStatusString, (sf, ss, se) => {
          if (sf === STATUS_IMAGE_REF) s.imageRef = text(buf, ss, se);
          else if (sf === STATUS_IMAGE_ID) s.imageId = text(buf, ss, se);
          else if (sf === STATUS_IMAGE) {
            s.image ??= { image: '', userSpecifiedImage: '' };
            const spec = s.image;
            walk(buf, ss, se, isSpecString, (pf, ps, pe) => {
              if (pf === SPEC_IMAGE) spec.image = text(buf, ps, pe);
              else if (pf === SPEC_USER_SPECIFIED_IMAGE) spec.userSpecifiedImage = text(buf, ps, pe);
            });
          }
        });
      } else if (field === RESPONSE_INFO) {
        let key = '';
        let value: [number, number] | undefined;
        walk(buf, start, end, isEntryString, (ef, es, ee) => {
          if (ef === ENTRY_KEY) key = text(buf, es, ee);
          else if (ef === ENTRY_VALUE) value = [es, ee];
        });
        if (key === 'info') info = value === undefined ? '' : text(buf, value[0], value[1]);
      }
    },
  );
  return { status, info };
}
