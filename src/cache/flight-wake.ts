/**
 * The single-flight leader wakes its followers itself (issue 15's node-boot storm): while it holds
 * a key's lock it listens on a unix socket next to the lock (`<key>.wake`, in the same root-only
 * cache folder); a follower connects and sleeps until the connection ends. The leader ends every
 * connection once its verdict is stored and its lock let go; if it dies, the kernel ends them. A
 * follower then reads the cache and looks at the lock as it does after any look
 * (src/cache/single-flight.ts): the socket only says "look now". Nothing is read from it and no
 * verdict comes through it, so a socket planted, replaced, closed at once or never closed can make
 * a follower look sooner or later, never take a verdict the cache does not hold, and never wait
 * past its deadline (the follower's own timer bounds every wait).
 *
 * Loaded only on a verdict-cache miss. Both sides use libuv's pipe handle, not node:net (below).
 */
import { lstatSync, rmSync } from 'node:fs';

/** sun_path is 108 bytes with its terminating NUL: a longer path is refused (EINVAL), or cut by older libuv. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** How many followers one leader keeps connected; more are closed at once (they fall back to looking now and then). */
export const MAX_FOLLOWERS = 512;
/** A connect that has not completed by then is given up (a full backlog, a stuck peer). */
export const CONNECT_TIMEOUT_MS = 250;

export const wakePath = (lock: string): string => lock.replace(/\.lock$/, '.wake');
const fits = (path: string): boolean => Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES;

/** The leader's side. */
export interface Bell {
  /** Stops listening and removes the socket file: call while still holding the lock (libuv unlinks the path on close). */
  stop(): void;
  /** Ends every follower's connection: call after the verdict is stored and the lock let go. */
  ring(): void;
}

/**
 * Listens for followers at `path` (the lock is ours: whatever is there, a socket a crashed leader
 * left or a file put there, is removed first). Undefined when there can be no socket (path too
 * long, something that cannot be removed or bound, no pipe binding): followers then only look now
 * and then. Never throws.
 *
 * With libuv's pipe handle, as a follower waits (below), not node:net: a net.Server's listen()
 * loads node:cluster and with it child_process and dgram (~5 ms of a new image’s start, issue 15),
 * though nothing here forks. A follower's connection is read from only to see it end (it sends
 * nothing; one that does is closed, its bytes not kept) and is closed when the bell rings.
 */
export function listenForFollowers(
  path: string,
  binding: () => PipeBinding | undefined = pipeBinding,
  maxFollowers = MAX_FOLLOWERS,
): Bell | undefined {
  if (!fits(path)) return undefined;
  let server: PipeHandle | undefined;
  try {
    const b = binding();
    if (b === undefined || typeof b.constants.SERVER !== 'number') return undefined;
    rmSync(path, { force: true });
    const listening = new b.Pipe(b.constants.SERVER);
    server = listening;
    if (listening.bind(path) < 0 || listening.listen(maxFollowers) < 0) {
      listening.close();
      return undefined;
    }
    const followers = new Set<PipeHandle>();
    const drop = (c: PipeHandle): void => {
      if (followers.delete(c)) c.close();
    };
    listening.onconnection = (status: number, client?: PipeHandle) => {
      if (status < 0 || client === undefined) return;
      if (followers.size >= maxFollowers) {
        client.close();
        return;
      }
      followers.add(client);
      client.unref();
      // its end, an error or bytes: the connection is closed (nothing read is kept)
      client.onread = () => drop(client);
      if (client.readStart() < 0) drop(client);
    };
    listening.unref();
    let stopped = false;
    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        listening.close(); // libuv unlinks the socket file
      },
      ring: () => {
        for (const c of [...followers]) drop(c);
      },
    };
  } catch {
    try {
      server?.close();
    } catch {
      /* never listened */
    }
    return undefined;
  }
}

/** A follower's connection to the leader. */
export interface Wait {
  /** Settles when the connection ends: the leader rang, died, dropped us, or the connect failed or timed out. */
  ended: Promise<void>;
  /** Whether it ended. */
  over(): boolean;
  /** Whether it ever connected (false: no leader listening, refused, timed out). */
  connected(): boolean;
  close(): void;
}

/**
 * libuv's pipe handle as Node's own `net` drives it (node:internal pipe_wrap). A follower waits
 * with it, not with node:net: loading node:net and its streams, connecting and seeing the end
 * through them cost a follower ~5 ms CPU (measured with the pinned Node), more than looking every
 * 100 ms for 1.5 s; the handle costs ~0.7 ms. Nothing is read from it: any read callback (bytes,
 * the end, an error) is the wake-up. Where the binding is not there or not as expected (another
 * Node), there is no wait: the follower looks now and then, as with no socket.
 */
interface PipeHandle {
  connect(req: ConnectReq, path: string): number;
  bind(path: string): number;
  listen(backlog: number): number;
  readStart(): number;
  close(): void;
  unref(): void;
  onread?: () => void;
  onconnection?: (status: number, client?: PipeHandle) => void;
}
interface ConnectReq {
  oncomplete?: (status: number) => void;
}
interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number; SERVER?: number };
}

function pipeBinding(): PipeBinding | undefined {
  try {
    const b = (process as unknown as { binding(name: string): Partial<PipeBinding> | undefined }).binding('pipe_wrap');
    if (typeof b?.Pipe !== 'function' || typeof b.PipeConnectWrap !== 'function' || typeof b.constants?.SOCKET !== 'number')
      return undefined;
    return b as PipeBinding;
  } catch {
    return undefined;
  }
}

/**
 * Connects to the leader's socket at `path`; undefined when there is none to connect to (path too
 * long, nothing there, or not a socket owned by us: a regular file, a symlink, another user's).
 */
export function waitForLeader(path: string, binding: () => PipeBinding | undefined = pipeBinding): Wait | undefined {
  if (!fits(path)) return undefined;
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined || !st.isSocket() || st.uid !== (process.getuid?.() ?? 0)) return undefined;
    const b = binding();
    if (b === undefined) return undefined;
    const handle = new b.Pipe(b.constants.SOCKET);
    let connected = false;
    let over = false;
    let timer: NodeJS.Timeout | undefined;
    let settle: () => void = () => {};
    const ended = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const end = () => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      handle.close();
      settle();
    };
    const req = new b.PipeConnectWrap();
    req.oncomplete = (status: number) => {
      if (over) return;
      if (status < 0) return end();
      connected = true;
      clearTimeout(timer);
      // a leader writes nothing: bytes are a wake-up like the end, and none is kept
      handle.onread = end;
      if (handle.readStart() < 0) end();
    };
    if (handle.connect(req, path) < 0) end();
    else {
      timer = setTimeout(end, CONNECT_TIMEOUT_MS);
      timer.unref();
    }
    handle.unref();
    return { ended, over: () => over, connected: () => connected, close: end };
  } catch {
    return undefined;
  }
}
