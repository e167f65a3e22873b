/**
 * The CRI client's unix socket, driven through libuv's pipe handle (process.binding('pipe_wrap')
 * and 'stream_wrap'), as Node's own node:net drives it underneath, without a net.Socket and its
 * streams: on every containerd container start the hook connects once, writes twice and reads one
 * answer, and net.Socket's connect, Writable and Readable machinery cost more than the exchange
 * itself (issue 15, measured with the pinned Node: connect, write, read 5 kB, close through
 * node:net ~1.5-4 ms in a fresh process, through the handle ~0.5 ms).
 *
 * It offers what H2Connection uses of a socket (H2Socket): 'data', 'error' and 'close' events,
 * write, end, destroy, ref/unref, `writable`; a net.Socket is one too. Where the binding is not
 * there or not what is expected (another Node), connectUnix returns node:net's socket instead.
 *
 * Events keep node:net's order and meaning for H2Connection: 'data' for each read, an 'error'
 * (connect, read or write; an errno exception with `code`) before 'close', 'close' exactly once
 * after the handle is closed (the peer's end, an error, destroy()). Nothing is emitted from
 * inside connectUnix or a method call: a failure found there is reported on a later tick. What is
 * written before the connect completed is sent once it has, as node:net does.
 */

/** What H2Connection needs of its socket. */
export interface H2Socket {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  write(data: Buffer): unknown;
  /** Ends the writing side, after `data` if given. */
  end(): unknown;
  end(data: Buffer): unknown;
  destroy(): unknown;
  ref(): unknown;
  unref(): unknown;
  readonly writable: boolean;
}

interface PipeHandle {
  connect(req: Req, path: string): number;
  readStart(): number;
  writeBuffer(req: Req, data: Buffer): number;
  shutdown(req: Req): number;
  close(cb?: () => void): void;
  ref(): void;
  unref(): void;
  /** Set to functions only: anything else aborts the process (a native assertion). */
  onread?: (buf: ArrayBuffer | undefined) => void;
}
interface Req {
  oncomplete?: (status: number) => void;
  handle?: PipeHandle;
  buffer?: Buffer;
}
export interface PipeBindings {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => Req;
  WriteWrap: new () => Req;
  ShutdownWrap: new () => Req;
  SOCKET: number;
  /** stream_wrap's shared state: [kReadBytesOrError] the read's size or errno, [kArrayBufferOffset] its offset. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

/** libuv's end of stream (UV_EOF), as a read reports it. */
const UV_EOF = -4095;

type Binding = (name: string) => unknown;
const processBinding: Binding = (name) => (process as unknown as { binding(name: string): unknown }).binding(name);
let bindings: PipeBindings | null | undefined;

/** The pipe and stream bindings as node:net uses them (looked up once); undefined where they are not what is expected. */
export function pipeBindings(): PipeBindings | undefined {
  if (bindings === undefined) bindings = readBindings(processBinding) ?? null;
  return bindings ?? undefined;
}

/** The bindings `binding` gives, if they have the shape node:net relies on; never throws. */
export function readBindings(binding: Binding): PipeBindings | undefined {
  try {
    const pw = binding('pipe_wrap') as Partial<{ Pipe: unknown; PipeConnectWrap: unknown; constants: { SOCKET?: unknown } }> | undefined;
    const sw = binding('stream_wrap') as
      | Partial<{
          WriteWrap: unknown;
          ShutdownWrap: unknown;
          streamBaseState: unknown;
          kReadBytesOrError: unknown;
          kArrayBufferOffset: unknown;
        }>
      | undefined;
    const proto = (typeof pw?.Pipe === 'function' ? pw.Pipe.prototype : undefined) as Record<string, unknown> | undefined;
    if (
      proto === undefined ||
      typeof pw?.PipeConnectWrap !== 'function' ||
      typeof pw.constants?.SOCKET !== 'number' ||
      typeof sw?.WriteWrap !== 'function' ||
      typeof sw.ShutdownWrap !== 'function' ||
      !(sw.streamBaseState instanceof Int32Array) ||
      typeof sw.kReadBytesOrError !== 'number' ||
      typeof sw.kArrayBufferOffset !== 'number' ||
      !['connect', 'readStart', 'writeBuffer', 'shutdown', 'close', 'ref', 'unref'].every((m) => typeof proto[m] === 'function')
    )
      return undefined;
    return {
      Pipe: pw.Pipe as PipeBindings['Pipe'],
      PipeConnectWrap: pw.PipeConnectWrap as PipeBindings['PipeConnectWrap'],
      WriteWrap: sw.WriteWrap as PipeBindings['WriteWrap'],
      ShutdownWrap: sw.ShutdownWrap as PipeBindings['ShutdownWrap'],
      SOCKET: pw.constants.SOCKET,
      state: sw.streamBaseState,
      kReadBytesOrError: sw.kReadBytesOrError,
      kArrayBufferOffset: sw.kArrayBufferOffset,
    };
  } catch {
    return undefined; // no process.binding, or these are not in its allowlist
  }
}

/** An errno as node:net reports it: `<syscall> <CODE>[ <path>]`, with code, errno and syscall. */
function errnoError(status: number, syscall: string, path?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = process.getBuiltinModule('node:util').getSystemErrorName(status);
  } catch {
    code = `E${-status}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${path === undefined ? '' : ` ${path}`}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** One connection through the pipe handle (see the top of this file). */
export class PipeSocket implements H2Socket {
  private readonly handle: PipeHandle;
  private readonly listeners: {
    data: Array<(c: Buffer) => void>;
    error: Array<(e: NodeJS.ErrnoException) => void>;
    close: Array<() => void>;
  } = { data: [], error: [], close: [] };
  /** Written before the connect completed: sent once it has (as node:net does). */
  private pending: Buffer[] | undefined = [];
  private closing = false;
  private ended = false;

  constructor(
    private readonly b: PipeBindings,
    path: string,
  ) {
    this.handle = new b.Pipe(b.SOCKET);
    const req = new b.PipeConnectWrap();
    req.oncomplete = (status) => this.connected(status, path);
    const err = this.handle.connect(req, path);
    // libuv reports most connect failures through the callback; one found at once comes a tick later
    if (err < 0) process.nextTick(() => this.fail(errnoError(err, 'connect', path)));
  }

  get writable(): boolean {
    return !this.closing && !this.ended;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'data' | 'error' | 'close', listener: (arg: never) => void): this {
    (this.listeners[event] as Array<(arg: never) => void>).push(listener);
    return this;
  }

  write(data: Buffer): boolean {
    if (!this.writable) return false;
    if (this.pending) this.pending.push(data);
    else this.send(data);
    return true;
  }

  end(data?: Buffer): this {
    if (!this.writable) return this;
    if (data !== undefined && data.length > 0) this.write(data);
    this.ended = true;
    if (!this.pending) this.shutdown();
    return this;
  }

  destroy(): this {
    if (this.closing) return this;
    this.closing = true;
    this.pending = undefined; // onread stays (the binding takes only a function): it ignores reads once closing
    this.handle.close(() => {
      for (const l of this.listeners.close) l();
    });
    return this;
  }

  ref(): this {
    if (!this.closing) this.handle.ref();
    return this;
  }

  unref(): this {
    if (!this.closing) this.handle.unref();
    return this;
  }

  private connected(status: number, path: string): void {
    if (this.closing) return;
    if (status < 0) {
      this.fail(errnoError(status, 'connect', path));
      return;
    }
    const pending = this.pending ?? [];
    this.pending = undefined;
    this.handle.onread = (buf) => this.onRead(buf);
    const r = this.handle.readStart();
    if (r < 0) {
      this.fail(errnoError(r, 'read'));
      return;
    }
    for (const data of pending) if (!this.closing) this.send(data);
    if (this.ended && !this.closing) this.shutdown();
  }

  private send(data: Buffer): void {
    const req = new this.b.WriteWrap();
    req.handle = this.handle;
    req.buffer = data; // held until a write libuv could not finish at once completes
    req.oncomplete = (status) => {
      req.buffer = undefined;
      if (status < 0) this.fail(errnoError(status, 'write'));
    };
    const err = this.handle.writeBuffer(req, data);
    if (err < 0) process.nextTick(() => this.fail(errnoError(err, 'write')));
  }

  private shutdown(): void {
    const req = new this.b.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = () => {};
    if (this.handle.shutdown(req) < 0) this.destroy();
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.closing) return;
    for (const l of this.listeners.error) l(err);
    this.destroy();
  }

  private onRead(buf: ArrayBuffer | undefined): void {
    if (this.closing) return;
    const n = this.b.state[this.b.kReadBytesOrError]!;
    if (n > 0) {
      if (buf === undefined) {
        this.fail(errnoError(-5, 'read')); // EIO: a read without its bytes
        return;
      }
      const chunk = Buffer.from(buf, this.b.state[this.b.kArrayBufferOffset]!, n);
      for (const l of this.listeners.data) l(chunk);
      return;
    }
    if (n === 0) return; // nothing this time (EAGAIN)
    if (n === UV_EOF) this.destroy();
    else this.fail(errnoError(n, 'read'));
  }
}

/**
 * Connects to the unix socket at `path`: through the pipe handle, or node:net's socket where the
 * bindings are not there. Never throws for a socket that cannot be reached: that is an 'error'.
 */
export function connectUnix(path: string, b: () => PipeBindings | undefined = pipeBindings): H2Socket {
  const found = b();
  // node:net only here: a hook does not otherwise load it, and loading it is ~1-2 ms of a start
  return found === undefined ? process.getBuiltinModule('node:net').connect(path) : new PipeSocket(found, path);
}
