/**
 * The loopback HTTP(S) server under the test relays (auth-proxy.ts, fault-proxy.ts): port 0,
 * and a handler error becomes a 502 naming it rather than a hung request.
 */
import http from 'node:http';
import https from 'node:https';

export type RelayHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export async function startRelayServer(tls: { key: string; cert: string } | undefined, handle: RelayHandler): Promise<http.Server> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`relay error: ${err.message}`);
    });
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}
