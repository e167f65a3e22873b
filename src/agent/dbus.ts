/**
 * A minimal D-Bus connection (the wire protocol of the D-Bus specification: SASL EXTERNAL, then
 * messages), enough for the agent to ask the host's systemd to restart a unit (systemd.ts).
 *
 * Why not a library: the maintained npm client (@homebridge/dbus-native, the dbus-native lineage;
 * dbus-next is unmaintained) buffers a message of whatever length its header announces (up to
 * 4 GiB), throws from its stream handler on malformed input (an uncaught exception in the agent),
 * tries cookie authentication from a home folder, loads optional modules dynamically, and brings
 * event-stream, xml2js, hexy, long, minimist and safe-buffer for an agent that makes five calls and
 * waits for one signal. This file is bounded instead: a line and message size cap (a larger message
 * is skipped without being buffered), a nesting cap, every read checked, and a timeout on connect,
 * authentication and every call. Both byte orders are read; messages are written little-endian.
 */
import { type Socket, createConnection } from 'node:net';

export class DBusError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
const NO_REPLY_EXPECTED = 0x1;

export interface Message {
  type: number;
  flags: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  body: unknown[];
}

/** A variant as written and read here: its signature and its value. */
export interface Variant {
  signature: string;
  value: unknown;
}

/** Messages larger than this are skipped unread (the protocol allows 128 MiB; systemd's are a few KiB). */
export const MAX_MESSAGE = 1 << 20;
const MAX_DEPTH = 64; // the specification's 32 arrays + 32 structs
const MAX_LINE = 1024;

const FIELD = { PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9 };
const FIELD_TYPE: Record<number, string> = { 1: 'o', 2: 's', 3: 's', 4: 's', 5: 'u', 6: 's', 7: 's', 8: 'g', 9: 'u' };

const protocol = (m: string) => new DBusError('sigguard.Protocol', `D-Bus protocol: ${m}`);

function alignOf(c: string): number {
  switch (c) {
    case 'y':
    case 'g':
    case 'v':
      return 1;
    case 'n':
    case 'q':
      return 2;
    case 'b':
    case 'i':
    case 'u':
    case 'h':
    case 's':
    case 'o':
    case 'a':
      return 4;
    case 'x':
    case 't':
    case 'd':
    case '(':
    case '{':
      return 8;
    default:
      throw protocol(`unknown type code "${c}"`);
  }
}

/** The end (exclusive) of the single complete type starting at `i` of `sig`. */
function typeEnd(sig: string, i: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw protocol('signature nested too deeply');
  const c = sig[i];
  if (c === undefined) throw protocol(`incomplete signature "${sig}"`);
  if (c === 'a') return typeEnd(sig, i + 1, depth + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    let n = 0;
    while (sig[j] !== close) {
      j = typeEnd(sig, j, depth + 1);
      n++;
    }
    if (n === 0 || (c === '{' && (n !== 2 || sig[i - 1] !== 'a'))) throw protocol(`bad container in signature "${sig}"`);
    return j + 1;
  }
  alignOf(c); // known?
  if (c === ')' || c === '}') throw protocol(`bad signature "${sig}"`);
  return i + 1;
}

/** The complete types of a signature, one by one. */
export function splitSignature(sig: string): string[] {
  if (sig.length > 255) throw protocol('signature longer than 255');
  const out: string[] = [];
  for (let i = 0; i < sig.length; ) {
    const end = typeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

class Writer {
  private buf = Buffer.alloc(256);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  align(n: number): void {
    const pad = (n - (this.len % n)) % n;
    this.room(pad);
    this.buf.fill(0, this.len, this.len + pad);
    this.len += pad;
  }
  byte(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.len++);
  }
  u32(v: number): void {
    this.align(4);
    this.room(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  private text(s: string, sig: boolean): void {
    const b = Buffer.from(s, 'utf8');
    if (b.includes(0)) throw protocol('a string holds a NUL');
    if (sig) {
      if (b.length > 255) throw protocol('signature longer than 255');
      this.byte(b.length);
    } else this.u32(b.length);
    this.room(b.length + 1);
    b.copy(this.buf, this.len);
    this.len += b.length;
    this.buf[this.len++] = 0;
  }
  write(type: string, v: unknown, depth = 0): void {
    if (depth > MAX_DEPTH) throw protocol('value nested too deeply');
    const c = type[0] as string;
    switch (c) {
      case 'y':
        this.byte(Number(v));
        return;
      case 'b':
        this.u32(v ? 1 : 0);
        return;
      case 'n':
      case 'q':
        this.align(2);
        this.room(2);
        if (c === 'n') this.buf.writeInt16LE(Number(v), this.len);
        else this.buf.writeUInt16LE(Number(v), this.len);
        this.len += 2;
        return;
      case 'i':
      case 'h':
        this.align(4);
        this.room(4);
        this.buf.writeInt32LE(Number(v), this.len);
        this.len += 4;
        return;
      case 'u':
        this.u32(Number(v));
        return;
      case 'x':
      case 't':
        this.align(8);
        this.room(8);
        if (c === 'x') this.buf.writeBigInt64LE(BigInt(v as bigint), this.len);
        else this.buf.writeBigUInt64LE(BigInt(v as bigint), this.len);
        this.len += 8;
        return;
      case 'd':
        this.align(8);
        this.room(8);
        this.buf.writeDoubleLE(Number(v), this.len);
        this.len += 8;
        return;
      case 's':
      case 'o':
        this.text(String(v), false);
        return;
      case 'g':
        splitSignature(String(v));
        this.text(String(v), true);
        return;
      case 'v': {
        const { signature, value } = v as Variant;
        if (splitSignature(signature).length !== 1) throw protocol('a variant holds one complete type');
        this.text(signature, true);
        this.write(signature, value, depth + 1);
        return;
      }
      case 'a': {
        const elem = type.slice(1);
        this.u32(0);
        const at = this.len - 4;
        this.align(alignOf(elem[0] as string));
        const start = this.len;
        for (const e of v as unknown[]) this.write(elem, e, depth + 1);
        this.buf.writeUInt32LE(this.len - start, at);
        return;
      }
      case '(':
      case '{': {
        this.align(8);
        const fields = splitSignature(type.slice(1, -1));
        const values = v as unknown[];
        if (!Array.isArray(values) || values.length !== fields.length) throw protocol(`a struct ${type} needs ${fields.length} values`);
        for (const [k, f] of fields.entries()) this.write(f, values[k], depth + 1);
        return;
      }
      default:
        throw protocol(`cannot write type "${type}"`);
    }
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly le: boolean,
    /** Where the buffer sits in the message: alignment is counted from the message's start. */
    private readonly base = 0,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw protocol('message ends early');
  }
  align(n: number): void {
    const pad = (n - ((this.base + this.pos) % n)) % n;
    this.need(pad);
    for (let k = 0; k < pad; k++) if (this.buf[this.pos + k] !== 0) throw protocol('padding is not zero');
    this.pos += pad;
  }
  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.le ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private text(len: number): string {
    this.need(len + 1);
    const b = this.buf.subarray(this.pos, this.pos + len);
    if (this.buf[this.pos + len] !== 0 || b.includes(0)) throw protocol('string not NUL-terminated');
    const s = new TextDecoder('utf-8', { fatal: true }).decode(b);
    this.pos += len + 1;
    return s;
  }
  read(type: string, depth = 0): unknown {
    if (depth > MAX_DEPTH) throw protocol('value nested too deeply');
    const c = type[0] as string;
    switch (c) {
      case 'y':
        this.need(1);
        return this.buf[this.pos++];
      case 'b': {
        const v = this.u32();
        if (v > 1) throw protocol('boolean neither 0 nor 1');
        return v === 1;
      }
      case 'n':
      case 'q': {
        this.align(2);
        this.need(2);
        const v =
          c === 'n'
            ? this.le
              ? this.buf.readInt16LE(this.pos)
              : this.buf.readInt16BE(this.pos)
            : this.le
              ? this.buf.readUInt16LE(this.pos)
              : this.buf.readUInt16BE(this.pos);
        this.pos += 2;
        return v;
      }
      case 'i':
      case 'h': {
        this.align(4);
        this.need(4);
        const v = this.le ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case 'u':
        return this.u32();
      case 'x':
      case 't': {
        this.align(8);
        this.need(8);
        const v =
          c === 'x'
            ? this.le
              ? this.buf.readBigInt64LE(this.pos)
              : this.buf.readBigInt64BE(this.pos)
            : this.le
              ? this.buf.readBigUInt64LE(this.pos)
              : this.buf.readBigUInt64BE(this.pos);
        this.pos += 8;
        return v;
      }
      case 'd': {
        this.align(8);
        this.need(8);
        const v = this.le ? this.buf.readDoubleLE(this.pos) : this.buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case 's':
      case 'o':
        return this.text(this.u32());
      case 'g': {
        this.need(1);
        const sig = this.text(this.buf[this.pos++] as number);
        splitSignature(sig);
        return sig;
      }
      case 'v': {
        this.need(1);
        const signature = this.text(this.buf[this.pos++] as number);
        if (splitSignature(signature).length !== 1) throw protocol('a variant holds one complete type');
        return { signature, value: this.read(signature, depth + 1) } satisfies Variant;
      }
      case 'a': {
        const len = this.u32();
        if (len > 1 << 26) throw protocol('array longer than 64 MiB');
        const elem = type.slice(1);
        this.align(alignOf(elem[0] as string));
        const end = this.pos + len;
        this.need(len);
        const out: unknown[] = [];
        while (this.pos < end) out.push(this.read(elem, depth + 1));
        if (this.pos !== end) throw protocol('array length does not match its elements');
        return out;
      }
      case '(':
      case '{': {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((f) => this.read(f, depth + 1));
      }
      default:
        throw protocol(`cannot read type "${type}"`);
    }
  }
}

/** One message, little-endian. */
export function encodeMessage(m: Omit<Message, 'serial' | 'body'> & { body?: unknown[] }, serial: number): Buffer {
  const body = new Writer();
  const types = splitSignature(m.signature ?? '');
  const values = m.body ?? [];
  if (types.length !== values.length) throw protocol(`signature "${m.signature ?? ''}" does not match ${values.length} values`);
  for (const [k, t] of types.entries()) body.write(t, values[k]);
  const fields: Array<[number, Variant]> = [];
  const add = (code: number, value: unknown) => {
    if (value !== undefined) fields.push([code, { signature: FIELD_TYPE[code] as string, value }]);
  };
  add(FIELD.PATH, m.path);
  add(FIELD.INTERFACE, m.interface);
  add(FIELD.MEMBER, m.member);
  add(FIELD.ERROR_NAME, m.errorName);
  add(FIELD.REPLY_SERIAL, m.replySerial);
  add(FIELD.DESTINATION, m.destination);
  add(FIELD.SENDER, m.sender);
  if (types.length > 0) add(FIELD.SIGNATURE, m.signature);
  const h = new Writer();
  h.byte(0x6c); // 'l'
  h.byte(m.type);
  h.byte(m.flags);
  h.byte(1);
  h.u32(body.len);
  h.u32(serial);
  h.write('a(yv)', fields);
  h.align(8);
  return Buffer.concat([h.bytes(), body.bytes()]);
}

/** The length of the message at the start of `buf` from its fixed header (16 bytes needed). */
export function messageLength(buf: Buffer): number {
  const le = buf[0] === 0x6c;
  if (!le && buf[0] !== 0x42) throw protocol('bad byte order mark');
  if (buf[3] !== 1) throw protocol(`protocol version ${buf[3]}`);
  const bodyLen = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  const fieldsLen = le ? buf.readUInt32LE(12) : buf.readUInt32BE(12);
  return 16 + Math.ceil(fieldsLen / 8) * 8 + bodyLen;
}

/** One complete message. */
export function decodeMessage(buf: Buffer): Message {
  const le = buf[0] === 0x6c;
  const r = new Reader(buf, le);
  r.pos = 1;
  const type = r.read('y') as number;
  const flags = r.read('y') as number;
  r.read('y');
  const bodyLen = r.u32();
  const serial = r.u32();
  if (serial === 0) throw protocol('serial 0');
  const fields = r.read('a(yv)') as Array<[number, Variant]>;
  r.align(8);
  const m: Message = { type, flags, serial, body: [] };
  for (const [code, v] of fields) {
    if (FIELD_TYPE[code] !== undefined && v.signature !== FIELD_TYPE[code]) throw protocol(`header field ${code} of type ${v.signature}`);
    const value = v.value;
    if (code === FIELD.PATH) m.path = value as string;
    else if (code === FIELD.INTERFACE) m.interface = value as string;
    else if (code === FIELD.MEMBER) m.member = value as string;
    else if (code === FIELD.ERROR_NAME) m.errorName = value as string;
    else if (code === FIELD.REPLY_SERIAL) m.replySerial = value as number;
    else if (code === FIELD.DESTINATION) m.destination = value as string;
    else if (code === FIELD.SENDER) m.sender = value as string;
    else if (code === FIELD.SIGNATURE) m.signature = value as string;
    // UNIX_FDS and unknown fields: ignored (no descriptors are passed here)
  }
  if (r.pos + bodyLen !== buf.length) throw protocol('body length does not match the message');
  const body = new Reader(buf.subarray(r.pos), le);
  for (const t of splitSignature(m.signature ?? '')) m.body.push(body.read(t));
  if (body.pos !== bodyLen) throw protocol('body longer than its signature');
  return m;
}

/**
 * Frames a byte stream into messages: a message over MAX_MESSAGE is skipped as it streams past
 * (never held), anything malformed ends the stream with an error.
 */
export class MessageStream {
  private pending: Buffer[] = [];
  private size = 0;
  private skip = 0;
  skipped = 0;

  constructor(
    private readonly onMessage: (m: Message) => void,
    private readonly max = MAX_MESSAGE,
  ) {}

  push(chunk: Buffer): void {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.skip > 0 || this.size < 16) return;
      const head = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      this.pending = [head];
      const len = messageLength(head);
      if (len > this.max) {
        this.skipped++;
        this.pending = [];
        this.size = 0;
        this.skip = len - head.length;
        if (this.skip < 0) {
          const rest = head.subarray(len);
          this.skip = 0;
          if (rest.length > 0) this.push(rest);
        }
        return;
      }
      if (this.size < len) return;
      const rest = head.subarray(len);
      this.pending = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      this.onMessage(decodeMessage(head.subarray(0, len)));
    }
  }
}

export interface CallOptions {
  destination?: string;
  path: string;
  interface?: string;
  member: string;
  signature?: string;
  body?: unknown[];
  timeoutMs: number;
}

/** A D-Bus connection over a unix socket, authenticated with EXTERNAL (the peer's kernel credentials). */
export class DBusConnection {
  private serial = 0;
  private readonly replies = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listeners: Array<(m: Message) => void> = [];
  private closedWith: Error | undefined;
  private readonly closers: Array<(err: Error) => void> = [];

  private constructor(private readonly socket: Socket) {}

  /** Connects and authenticates within `timeoutMs`. */
  static connect(path: string, o: { timeoutMs: number; uid?: number }): Promise<DBusConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      let line = Buffer.alloc(0);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new DBusError('sigguard.Timeout', `no D-Bus authentication on ${path} within ${o.timeoutMs} ms`)),
        o.timeoutMs,
      );
      socket.on('error', (err) => fail(new DBusError('sigguard.Connect', `D-Bus socket ${path}: ${err.message}`)));
      socket.on('close', () => fail(new DBusError('sigguard.Connect', `D-Bus socket ${path} closed during authentication`)));
      socket.on('connect', () => {
        const uid = String(o.uid ?? process.getuid?.() ?? 0);
        socket.write(`\0AUTH EXTERNAL ${Buffer.from(uid).toString('hex')}\r\n`);
      });
      const onData = (chunk: Buffer) => {
        line = Buffer.concat([line, chunk]);
        const end = line.indexOf('\r\n');
        if (end < 0) {
          if (line.length > MAX_LINE) fail(protocol('authentication line too long'));
          return;
        }
        const text = line.subarray(0, end).toString('latin1');
        const rest = line.subarray(end + 2);
        if (!/^OK [0-9a-f]{32}$/.test(text)) {
          fail(new DBusError('sigguard.Auth', `D-Bus authentication on ${path} refused: ${text.slice(0, 200)}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        socket.write('BEGIN\r\n');
        const conn = new DBusConnection(socket);
        conn.attach(rest);
        resolve(conn);
      };
      socket.on('data', onData);
    });
  }

  /** A socket whose authentication is done (the server side of a direct connection, the tests' stand-in for systemd). */
  static adopt(socket: Socket, rest: Buffer = Buffer.alloc(0)): DBusConnection {
    const conn = new DBusConnection(socket);
    conn.attach(rest);
    return conn;
  }

  private attach(rest: Buffer): void {
    const stream = new MessageStream((m) => this.dispatch(m));
    const feed = (chunk: Buffer) => {
      try {
        stream.push(chunk);
      } catch (err) {
        this.shut(err as Error);
      }
    };
    this.socket.on('data', feed);
    this.socket.on('error', (err) => this.shut(new DBusError('sigguard.Connect', `D-Bus connection: ${err.message}`)));
    this.socket.on('close', () => this.shut(new DBusError('sigguard.Connect', 'D-Bus connection closed by the peer')));
    // after the caller's listeners are on (right after this returns, before any other socket event)
    if (rest.length > 0) queueMicrotask(() => feed(rest));
  }

  private dispatch(m: Message): void {
    if ((m.type === MessageType.METHOD_RETURN || m.type === MessageType.ERROR) && m.replySerial !== undefined) {
      const w = this.replies.get(m.replySerial);
      if (w === undefined) return;
      this.replies.delete(m.replySerial);
      clearTimeout(w.timer);
      if (m.type === MessageType.ERROR) {
        const text = typeof m.body[0] === 'string' ? m.body[0] : '';
        w.reject(new DBusError(m.errorName ?? 'unknown', `${m.errorName ?? 'error'}: ${text.slice(0, 500)}`));
      } else w.resolve(m);
      return;
    }
    for (const l of this.listeners) l(m);
  }

  private shut(err: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = err;
    for (const [, w] of this.replies) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.replies.clear();
    this.socket.destroy();
    for (const c of this.closers) c(err);
  }

  /** Called once when the connection ends (by the peer, an error, malformed input or close()). */
  onClose(listener: (err: Error) => void): void {
    if (this.closedWith !== undefined) listener(this.closedWith);
    else this.closers.push(listener);
  }

  /** Every message that is not a reply to a call of ours (signals, calls to us). */
  onMessage(listener: (m: Message) => void): void {
    this.listeners.push(listener);
  }

  /** Sends a message as is (a reply, a signal); returns its serial. */
  send(m: Omit<Message, 'serial' | 'body'> & { body?: unknown[] }): number {
    if (this.closedWith !== undefined) throw this.closedWith;
    this.serial = (this.serial % 0xffffffff) + 1;
    this.socket.write(encodeMessage(m, this.serial));
    return this.serial;
  }

  /** A method call and its reply, within `timeoutMs`; an error reply rejects with its D-Bus error name. */
  call(c: CallOptions): Promise<Message> {
    return new Promise((resolve, reject) => {
      let serial: number;
      try {
        serial = this.send({
          type: MessageType.METHOD_CALL,
          flags: 0,
          path: c.path,
          interface: c.interface,
          member: c.member,
          destination: c.destination,
          signature: c.signature,
          body: c.body,
        });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => {
        this.replies.delete(serial);
        reject(new DBusError('sigguard.Timeout', `no answer to ${c.interface ?? ''}.${c.member} within ${c.timeoutMs} ms`));
      }, c.timeoutMs);
      this.replies.set(serial, { resolve, reject, timer });
    });
  }

  /** A call whose reply nobody waits for. */
  notify(c: Omit<CallOptions, 'timeoutMs'>): void {
    this.send({ type: MessageType.METHOD_CALL, flags: NO_REPLY_EXPECTED, ...c });
  }

  close(): void {
    this.shut(new DBusError('sigguard.Closed', 'D-Bus connection closed'));
  }
}
