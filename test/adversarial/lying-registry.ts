/**
 * An OCI distribution server of the adversarial suite's own, on loopback
 * (port 0), that lies on demand: it serves whatever manifests, indexes, .sig
 * images, bundles and referrers a case puts into it, with whatever headers,
 * and any route can be replaced by a misbehaving responder (wrong digests, a
 * lying Docker-Content-Digest, wrong Content-Type, slow, huge, truncated,
 * endless or redirected responses, auth challenges). Every request is
 * recorded with its headers, so a case can see where credentials went.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const MT = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  SIMPLE_SIGNING: 'application/vnd.dev.cosign.simplesigning.v1+json',
  BUNDLE_V03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
} as const;

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Record<string, unknown>;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface Stored {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  /** A descriptor for it (mediaType, digest, size). */
  desc: Descriptor;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** A replacement for a route: gets the request and answers however it likes (or never). */
export type Responder = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

interface Entry {
  bytes: Buffer;
  contentType: string;
  headers: Record<string, string>;
}

export interface AuthSpec {
  /** What the /v2/ and every other route answer without the right Authorization. */
  challenge: string;
  /** The Authorization values that are let through. */
  accept: string[];
}

export class LyingRegistry {
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly manifests = new Map<string, Entry>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly referrerLists = new Map<string, Descriptor[]>();
  private readonly overrides: Array<{ match: (path: string, req: IncomingMessage) => boolean; respond: Responder }> = [];
  auth: AuthSpec | undefined;
  port = 0;

  constructor(private readonly bind = '127.0.0.1') {}

  /** host:port as a reference names it (127.0.0.1:PORT unless another name is given). */
  get host(): string {
    return `${this.bind.includes(':') ? `[${this.bind}]` : this.bind}:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch(() => res.destroy());
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, this.bind, () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Requests whose path contains `part` (all when omitted). */
  seen(part = ''): RecordedRequest[] {
    return this.requests.filter((r) => r.url.includes(part));
  }

  putBlob(bytes: Buffer | string): { digest: string; size: number } {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    const digest = sha256(b);
    this.blobs.set(digest, b);
    return { digest, size: b.length };
  }

  /** A stored blob's bytes. */
  blob(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }

  /**
   * Stores a manifest or index (a document, serialised as given, or raw bytes) under its
   * digest and the given tags, in one repository; served with `contentType` (default: its mediaType).
   */
  putManifest(repo: string, doc: unknown, opts: { tags?: string[]; contentType?: string; headers?: Record<string, string> } = {}): Stored {
    const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc));
    const digest = sha256(bytes);
    let declared: string | undefined;
    try {
      declared = (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType;
    } catch {
      declared = undefined;
    }
    const mediaType = opts.contentType ?? declared ?? MT.OCI_MANIFEST;
    const entry: Entry = { bytes, contentType: mediaType, headers: opts.headers ?? {} };
    this.manifests.set(`${repo}@${digest}`, entry);
    for (const t of opts.tags ?? []) this.manifests.set(`${repo}@${t}`, entry);
    return { digest, bytes, mediaType, desc: { mediaType: declared ?? mediaType, digest, size: bytes.length } };
  }

  /** Puts raw bytes under a reference (tag or digest) without any relation to their digest: a lie. */
  putRaw(repo: string, reference: string, bytes: Buffer | string, contentType: string, headers: Record<string, string> = {}): void {
    this.manifests.set(`${repo}@${reference}`, { bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), contentType, headers });
  }

  /** Lists a descriptor among the referrers of `subject` (the referrers API of `repo`). */
  addReferrer(repo: string, subject: string, desc: Descriptor): void {
    const key = `${repo}@${subject}`;
    const list = this.referrerLists.get(key) ?? [];
    list.push(desc);
    this.referrerLists.set(key, list);
  }

  /** Replaces a route: `match` is a substring of the path or a predicate. Latest first. */
  on(match: string | RegExp | ((path: string, req: IncomingMessage) => boolean), respond: Responder): void {
    const m = typeof match === 'string' ? (p: string) => p.includes(match) : match instanceof RegExp ? (p: string) => match.test(p) : match;
    this.overrides.unshift({ match: m, respond });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    this.requests.push({ method: req.method ?? 'GET', url, headers: req.headers });
    // drain any body (token POSTs) so the socket is reusable
    req.resume();
    const path = url.split('?')[0]!;
    for (const o of this.overrides) {
      if (o.match(path, req)) {
        await o.respond(req, res);
        return;
      }
    }
    if (this.auth && !this.auth.accept.includes(req.headers.authorization ?? '')) {
      res.writeHead(401, { 'www-authenticate': this.auth.challenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
    if (!m) return notFound(res);
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const e = this.manifests.get(`${repo}@${ref}`);
      if (!e) return notFound(res, 'MANIFEST_UNKNOWN');
      res.writeHead(200, {
        'content-type': e.contentType,
        'content-length': String(e.bytes.length),
        'docker-content-digest': sha256(e.bytes),
        ...e.headers,
      });
      res.end(req.method === 'HEAD' ? undefined : e.bytes);
      return;
    }
    if (kind === 'blobs') {
      const b = this.blobs.get(ref);
      if (!b) return notFound(res, 'BLOB_UNKNOWN');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(b.length), 'docker-content-digest': ref });
      res.end(req.method === 'HEAD' ? undefined : b);
      return;
    }
    const list = this.referrerLists.get(`${repo}@${ref}`) ?? [];
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: list }));
    res.writeHead(200, { 'content-type': MT.OCI_INDEX, 'content-length': String(body.length) });
    res.end(body);
  }
}

function notFound(res: ServerResponse, code = 'NAME_UNKNOWN'): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code, message: 'not found' }] }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Responders for the usual misbehaviours. */
export const misbehave = {
  /** Headers, then one byte every `everyMs` for ever (until the client leaves). */
  slowDrip:
    (everyMs = 200, contentType: string = MT.OCI_MANIFEST): Responder =>
    async (req, res) => {
      res.writeHead(200, { 'content-type': contentType });
      let gone = false;
      req.socket.once('close', () => (gone = true));
      res.write('{');
      while (!gone) {
        await sleep(everyMs);
        if (!gone) res.write(' ');
      }
    },
  /** Accepts the request and never answers. */
  silent: (): Responder => () => {},
  /** A chunked body that never ends, as fast as the client reads. */
  endless:
    (contentType: string = MT.OCI_MANIFEST): Responder =>
    (req, res) => {
      res.writeHead(200, { 'content-type': contentType });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let gone = false;
      req.socket.once('close', () => (gone = true));
      const pump = () => {
        while (!gone && res.write(chunk)) {
          /* until the socket buffer is full */
        }
        if (!gone) res.once('drain', pump);
      };
      pump();
    },
  /** Declares `declared` bytes and sends `sent`, then closes the connection. */
  truncated:
    (declared: number, sent: number, contentType: string = MT.OCI_MANIFEST): Responder =>
    (_req, res) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': String(declared) });
      res.write(Buffer.alloc(sent, 0x20));
      setTimeout(() => res.socket?.destroy(), 50);
    },
  /** A redirect to `location` (absolute or relative). */
  redirect:
    (location: string, status = 302): Responder =>
    (_req, res) => {
      res.writeHead(status, { location });
      res.end();
    },
  /** A fixed answer. */
  answer:
    (status: number, body: Buffer | string, headers: Record<string, string> = {}): Responder =>
    (_req, res) => {
      const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(status, { 'content-length': String(b.length), ...headers });
      res.end(b);
    },
};
