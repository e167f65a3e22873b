/**
 * Loopback ports held by the test itself for as long as it uses their number, instead of a port
 * that was free a moment ago (check-then-use: bind, close, use the number later, and another
 * process may have taken it meanwhile).
 *
 *  - deadPort(): nothing listens there, and nothing can: the port is the local end of a
 *    loopback connection this process made to itself (bound, never listening). A connect to it
 *    is refused (ECONNREFUSED), as to a registry that is down; a listen on it fails (EADDRINUSE).
 *  - holdPort(): a name that must answer at times (Kind's `localhost:5001` alias, reachable on the
 *    workstation only while images are pushed or signed): one listening socket from the start
 *    that relays to a target while open() and otherwise drops each connection at once, counting
 *    them, so a test can say that nobody came.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import { relay } from './node/forward.js';

export interface DeadPort {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  close(): Promise<void>;
}

const listen = (server: Server, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(err);
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', failed);
      resolve();
    });
  });

const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/** What a connect to 127.0.0.1:`port` gives: 'connected' or the error code. */
export function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** A loopback port nothing listens on, held until close(). */
export async function deadPort(): Promise<DeadPort> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await listen(server, 0);
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  const client = connect(address.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const peer = await accepted;
  // from here on only the two connected sockets hold the port: the listener goes now (close()'s
  // callback would wait for these connections to end)
  server.close();
  for (const s of [client, peer]) s.on('error', () => undefined);
  const port = client.localPort!;
  const dead: DeadPort = {
    port,
    host: `127.0.0.1:${port}`,
    close: async () => {
      client.destroy();
      peer.destroy();
    },
  };
  const seen = await probe(port);
  if (seen !== 'ECONNREFUSED') {
    await dead.close();
    throw new Error(`deadPort: a connect to ${port} gave ${seen}, not ECONNREFUSED`);
  }
  return dead;
}

export interface HeldPort {
  readonly port: number;
  /** Connections dropped so far (made while not open). */
  readonly dropped: number;
  /** Relay new connections to `target` until shut(). */
  open(target: { host: string; port: number }): void;
  /** Back to dropping; connections relayed so far are cut. */
  shut(): void;
  close(): Promise<void>;
}

/**
 * A loopback port held from now until close(): `prefer` if it can be had (the demo shows Kind's
 * localhost:5001), else one of the system's choosing. Dropping until open().
 */
export async function holdPort(opts: { prefer?: number } = {}): Promise<HeldPort> {
  let target: { host: string; port: number } | undefined;
  let dropped = 0;
  const relayed = new Set<Socket>();
  const take = (client: Socket) => {
    if (target === undefined) {
      dropped++;
      client.destroy();
      return;
    }
    relay(client, target, relayed);
  };
  const cut = () => {
    for (const s of relayed) s.destroy();
    relayed.clear();
  };
  let server = createServer(take);
  const preferred =
    opts.prefer !== undefined &&
    (await listen(server, opts.prefer).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw err;
        return false;
      },
    ));
  if (!preferred) {
    server = createServer(take);
    await listen(server, 0);
  }
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return {
    port: address.port,
    get dropped() {
      return dropped;
    },
    open(t) {
      target = t;
    },
    shut() {
      target = undefined;
      cut();
    },
    close() {
      target = undefined;
      cut();
      return closeServer(server);
    },
  };
}
