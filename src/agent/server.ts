/**
 * The agent's HTTP endpoints on --listen (default :9464): /metrics (Prometheus text format),
 * /healthz (the process serves), /readyz (200 once the hook is in every handler and the policy
 * is valid, else 503).
 */
import { type Server, createServer } from 'node:http';
import type { Logger } from 'pino';
import { ReasonCode, SigguardError } from '../errors.js';
import type { AgentMetrics } from './metrics.js';

/**
 * What one client may hold of the server (it listens on every interface in the DaemonSet, where
 * anything on the pod network can connect): at most `maxConnections` sockets at once (more are
 * closed at once), headers within `headersTimeoutMs` (slowloris), a whole request within
 * `requestTimeoutMs`, no socket silent for longer than `idleTimeoutMs`, an idle keep-alive socket
 * closed after `keepAliveTimeoutMs`. Prometheus and kubelet's probes need one or two sockets each.
 */
export const SERVER_LIMITS = {
  maxConnections: 64,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
};
export type ServerLimits = typeof SERVER_LIMITS;

export interface AgentServer {
  port: number;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([0-9]{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new SigguardError(ReasonCode.USAGE, `--listen takes [HOST]:PORT, not "${listen}"`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

export function startServer(
  listen: string,
  agent: { metrics: AgentMetrics; ready: boolean },
  log: Logger,
  limits: ServerLimits = SERVER_LIMITS,
): Promise<AgentServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // how often the two timeouts above are checked
      connectionsCheckingInterval: Math.max(100, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
      maxHeaderSize: 8192,
    },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const ready = agent.ready;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
      } else if (path === '/metrics') {
        agent.metrics.text().then(
          (text) => res.writeHead(200, { 'content-type': agent.metrics.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(`${(err as Error).message}\n`),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    },
  );
  server.maxConnections = limits.maxConnections;
  server.maxHeadersCount = 64;
  // a socket that sends nothing at all (the header timeout starts with the first byte)
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      log.info({ listen, port: bound }, 'serving /metrics, /healthz, /readyz');
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
