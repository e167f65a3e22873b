/**
 * A TCP forwarder on 127.0.0.1:<port> to another host:port — the host side of
 * Kind's registry pattern, where `localhost:5001` on the workstation is the
 * registry container's port: images are pushed and signed under that name.
 * Open it only while pushing or signing; on the node, the name is reached
 * through certs.d/<alias>/hosts.toml, never through this.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';

export interface Forwarder {
  port: number;
  close(): Promise<void>;
}

/** Pipes `client` to a new connection to `target` and back; both sockets are in `sockets` until they close. */
export function relay(client: Socket, target: { host: string; port: number }, sockets: Set<Socket>): void {
  const upstream = connect(target.port, target.host);
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream).pipe(client);
}

/** Port 0: a port of the system's choosing, held from the start (Forwarder.port says which). */
export async function forwardPort(port: number, target: { host: string; port: number }): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => relay(client, target, sockets));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
