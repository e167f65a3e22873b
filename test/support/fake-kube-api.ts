/**
 * A small Kubernetes API server on loopback (TLS from a test CA) that keeps one Node: GET, and
 * PATCH with a JSON patch applied as the API server does (test ops first: a failed test is a 422
 * Invalid, as the API server answers a JSON patch that does not apply; then remove; add), the bearer
 * token checked, `?dryRun=All` kept nothing. deploy/base's ValidatingAdmissionPolicy emulated
 * (`admissionPolicy`): a patch may only take sigguard.dev/not-ready off, anything else is 403.
 * Faults by `override` and `meanwhile`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}
export interface NodeObj {
  kind: 'Node';
  apiVersion: 'v1';
  metadata: { name: string; resourceVersion: string; labels: Record<string, string> };
  spec: { taints?: Taint[]; podCIDR: string };
  status: { phase?: string };
}

export const freshNode = (taints: Taint[], name = 'node-1'): NodeObj => ({
  kind: 'Node',
  apiVersion: 'v1',
  metadata: { name, resourceVersion: '100', labels: { 'kubernetes.io/hostname': name } },
  spec: { taints, podCIDR: '10.244.1.0/24' },
  status: {},
});

/** The policy's rule: the new Node is the old one less taints of the key sigguard.dev/not-ready. */
function onlyOursRemoved(before: NodeObj, after: NodeObj): boolean {
  const key = (t: Taint) => JSON.stringify(t);
  const old = (before.spec.taints ?? []).map(key);
  const now = (after.spec.taints ?? []).map(key);
  const rest = (n: NodeObj) => JSON.stringify({ ...n, spec: { ...n.spec, taints: undefined } });
  return (
    now.every((t) => old.includes(t)) &&
    (before.spec.taints ?? []).every((t) => t.key === 'sigguard.dev/not-ready' || now.includes(key(t))) &&
    rest(before) === rest(after)
  );
}

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

export class FakeApi {
  node = freshNode([]);
  readonly requests: Array<{ method: string; url: string; auth: string | undefined; type: string | undefined; body: string; at: number }> =
    [];
  /** Replaces the default handling for the next requests (faults). */
  override: Handler | undefined;
  /** deploy/base/taint-policy.yaml in force (false: a cluster without it, where the token may change anything). */
  admissionPolicy = true;
  /** Runs between a GET and the next PATCH once (a concurrent writer). */
  meanwhile: (() => void) | undefined;
  server!: Server;
  private readonly sockets = new Set<Duplex>();

  constructor(readonly token: string) {}

  /** Listens on 127.0.0.1 with `cert` (key and certificate PEM); returns the port. */
  async start(cert: { key: string; cert: string }): Promise<number> {
    this.server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        this.requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body,
          at: Date.now(),
        });
        if (this.override) return this.override(req, body, res);
        this.handle(req, body, res);
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  /** Answers a Status; returns whether the request was answered (always: for `return this.status(...)`). */
  private status(res: ServerResponse, code: number, reason: string, message: string): boolean {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
    return true;
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): boolean {
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    const [path, query = ''] = (req.url ?? '').split('?');
    if (path !== `/api/v1/nodes/${this.node.metadata.name}`) return this.status(res, 404, 'NotFound', `nodes "${req.url}" not found`);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.node));
      return true;
    }
    if (req.method !== 'PATCH' || req.headers['content-type'] !== 'application/json-patch+json')
      return this.status(res, 415, 'UnsupportedMediaType', 'no');
    const m = this.meanwhile;
    this.meanwhile = undefined;
    m?.();
    const doc = structuredClone(this.node) as unknown as Record<string, unknown>;
    for (const op of JSON.parse(body) as Array<{ op: string; path: string; value?: unknown }>) {
      const parts = op.path.split('/').slice(1);
      const last = parts.pop() as string;
      let parent: unknown = doc;
      for (const p of parts) parent = (parent as Record<string, unknown>)[p];
      const container = parent as Record<string, unknown> & unknown[];
      if (op.op === 'test') {
        if (JSON.stringify(container?.[last as never]) !== JSON.stringify(op.value))
          return this.status(res, 422, 'Invalid', `testing value ${op.path} failed: test failed`);
      } else if (op.op === 'remove' && Array.isArray(container)) container.splice(Number(last), 1);
      else if (op.op === 'add' && Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, op.value);
      else return this.status(res, 422, 'Invalid', `op ${op.op} not here`);
    }
    if (this.admissionPolicy && !onlyOursRemoved(this.node, doc as unknown as NodeObj))
      return this.status(
        res,
        403,
        'Forbidden',
        `nodes "${this.node.metadata.name}" is forbidden: ValidatingAdmissionPolicy 'sigguard-agent-node-taint' denied request`,
      );
    if (new URLSearchParams(query).get('dryRun') === 'All') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
      return true;
    }
    this.node = doc as unknown as NodeObj;
    this.node.metadata.resourceVersion = String(Number(this.node.metadata.resourceVersion) + 1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(this.node));
    return true;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
