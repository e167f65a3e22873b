/**
 * Encodes and decodes the CRI messages described by the tables that build/gen-cri.mjs generates
 * from src/cri/proto/*.proto (src/cri/gen/), over the small proto3 wire codec of protobuf.ts.
 *
 * Tables rather than @bufbuild/protobuf: its runtime and the embedded descriptor it decodes at
 * load time cost a hook start about 30 ms more (measured with the same messages, node 24,
 * bundled by esbuild); this module and the tables cost well under one.
 *
 * Decoding reads every declared field (absent: its proto3 default; an absent message: undefined)
 * and skips the fields not declared. Encoding writes what is set, leaving out proto3 defaults;
 * a nested message that is set is written even when empty.
 */
import { ProtoMessage, ProtoWriter } from './protobuf.js';

export type FieldKind = 'string' | 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'enum' | 'map' | 'message';

export interface FieldInfo {
  /** The field number on the wire. */
  readonly no: number;
  /** The property name (lowerCamelCase of the .proto name). */
  readonly name: string;
  readonly kind: FieldKind;
  /** repeated (strings and messages only; a map is its own kind: map<string, string>). */
  readonly repeated?: boolean;
  /** For messages: the message's table. */
  readonly type?: () => MessageType<object>;
}

/** A generated message table; T is the generated interface. */
export interface MessageType<T extends object> {
  /** The full name, e.g. runtime.v1.ImageSpec. */
  readonly typeName: string;
  readonly fields: readonly FieldInfo[];
  /** Type only: never set. */
  readonly _type?: T;
}

/** A generated method: its gRPC path and the tables of its request and response. */
export interface MethodInfo<I extends object, O extends object> {
  readonly path: string;
  readonly input: MessageType<I>;
  readonly output: MessageType<O>;
}

/** What an encoder takes: every field optional, nested messages too. */
export type Init<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[]
    ? T[K]
    : T[K] extends bigint | string | number | boolean
      ? T[K]
      : T[K] extends Readonly<Record<string, string>>
        ? T[K]
        : Init<NonNullable<T[K]>>;
};

function subtype(f: FieldInfo): MessageType<object> {
  if (f.type === undefined) throw new Error(`field ${f.name}: message without a table`);
  return f.type();
}

function read(type: MessageType<object>, m: ProtoMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fields) {
    switch (f.kind) {
      case 'string':
        out[f.name] = f.repeated ? m.strings(f.no) : m.string(f.no);
        break;
      case 'bool':
        out[f.name] = m.bool(f.no);
        break;
      case 'int32':
      case 'enum':
        out[f.name] = m.int32(f.no);
        break;
      case 'uint32':
        out[f.name] = m.uint32(f.no);
        break;
      case 'int64':
        out[f.name] = m.int64(f.no);
        break;
      case 'uint64':
        out[f.name] = m.uint64(f.no);
        break;
      case 'map':
        out[f.name] = m.map(f.no);
        break;
      case 'message': {
        const t = subtype(f);
        if (f.repeated) out[f.name] = m.messages(f.no).map((x) => read(t, x));
        else {
          const sub = m.message(f.no);
          out[f.name] = sub === undefined ? undefined : read(t, sub);
        }
        break;
      }
    }
  }
  return out;
}

/** Reads a decoded message as `type` declares it. Throws ProtobufError on malformed input. */
export function readMessage<T extends object>(type: MessageType<T>, m: ProtoMessage): T {
  return read(type, m) as T;
}

/** Decodes `bytes` as `type`. Throws ProtobufError on malformed input. */
export function decodeMessage<T extends object>(type: MessageType<T>, bytes: Buffer): T {
  return readMessage(type, ProtoMessage.decode(bytes));
}

function write(w: ProtoWriter, type: MessageType<object>, value: Readonly<Record<string, unknown>>): void {
  for (const f of type.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    switch (f.kind) {
      case 'string':
        if (f.repeated) w.strings(f.no, v as string[]);
        else w.string(f.no, v as string);
        break;
      case 'bool':
        w.bool(f.no, v as boolean);
        break;
      case 'map':
        w.map(f.no, v as Record<string, string>);
        break;
      case 'message': {
        const t = subtype(f);
        if (f.repeated) w.messages(f.no, v as Record<string, unknown>[], (ww, item) => write(ww, t, item));
        else w.message(f.no, (ww) => write(ww, t, v as Record<string, unknown>));
        break;
      }
      default:
        w.int(f.no, v as number | bigint);
    }
  }
}

/** Encodes `value` as `type`. */
export function encodeMessage<T extends object>(type: MessageType<T>, value: Init<T>): Buffer {
  const w = new ProtoWriter();
  write(w, type, value as Readonly<Record<string, unknown>>);
  return w.finish();
}
