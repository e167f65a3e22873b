/**
 * TUF repositories made by the tests, signed with @tufjs/models and laid out as the Sigstore
 * TUF repository is (consistent snapshots): `N.root.json`, `timestamp.json`, `N.snapshot.json`,
 * `N.targets.json` at the top, targets under `targets/` by their hash-prefixed names. Served
 * from the folder as it is (`--from DIR`) or over loopback HTTP (serveFolder).
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { Key, MetaFile, Metadata, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

export interface TufSigner {
  key: Key;
  privateKey: KeyObject;
}

export function tufSigner(): TufSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
  const keyID = createHash('sha256').update(raw).digest('hex');
  return { key: new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } }), privateKey };
}

type RoleName = 'root' | 'timestamp' | 'snapshot' | 'targets';
const ROLES: RoleName[] = ['root', 'timestamp', 'snapshot', 'targets'];
const SPEC = '1.0.31';
const inDays = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');

function signed<T extends Root | Timestamp | Snapshot | Targets>(md: Metadata<T>, signers: TufSigner[]): Buffer {
  for (const s of signers) md.sign((data) => new Signature({ keyID: s.key.keyID, sig: sign(null, data, s.privateKey).toString('hex') }));
  return Buffer.from(JSON.stringify(md.toJSON()));
}

export interface PublishOptions {
  targetsVersion?: number;
  snapshotVersion?: number;
  timestampVersion?: number;
  /** Days until the timestamp expires (negative: expired). */
  timestampExpiresInDays?: number;
  /** Bytes served under the target's hash-prefixed name instead of the ones the metadata names. */
  servedInstead?: Record<string, Buffer>;
}

export class TufRepoFixture {
  readonly signers: Record<RoleName, TufSigner[]>;
  readonly thresholds: Record<RoleName, number> = { root: 1, timestamp: 1, snapshot: 1, targets: 1 };
  rootVersion = 0;
  readonly versions = { timestamp: 0, snapshot: 0, targets: 0 };

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'targets'), { recursive: true });
    this.signers = { root: [tufSigner()], timestamp: [tufSigner()], snapshot: [tufSigner()], targets: [tufSigner()] };
    this.writeRoot(this.signers.root);
  }

  /** The initial root (1.root.json): what `trust update --root` starts from. */
  get initialRoot(): string {
    return join(this.dir, '1.root.json');
  }

  private rootMetadata(version: number): Metadata<Root> {
    // @tufjs/models exports no Role: the root is read from its JSON form
    const roles = Object.fromEntries(
      ROLES.map((r) => [r, { keyids: this.signers[r].map((s) => s.key.keyID), threshold: this.thresholds[r] }]),
    );
    const keys = Object.fromEntries(ROLES.flatMap((r) => this.signers[r].map((s) => [s.key.keyID, s.key.toJSON()])));
    const json = { _type: 'root', spec_version: SPEC, version, expires: inDays(365), keys, roles, consistent_snapshot: true };
    return new Metadata(Root.fromJSON(json));
  }

  /** Writes the next N.root.json for the current signers and thresholds, signed by `signers`. */
  writeRoot(signers: TufSigner[]): void {
    this.rootVersion++;
    writeFileSync(join(this.dir, `${this.rootVersion}.root.json`), signed(this.rootMetadata(this.rootVersion), signers));
  }

  /**
   * Root rotation: new keys (and thresholds) for roles, signed by the old root's keys and the
   * new ones (TUF: a new root must meet both the old and its own threshold).
   */
  rotate(change: Partial<Record<RoleName, { signers: TufSigner[]; threshold: number }>>, signWith?: TufSigner[]): void {
    const old = this.signers.root;
    for (const [role, c] of Object.entries(change) as Array<[RoleName, { signers: TufSigner[]; threshold: number }]>) {
      this.signers[role] = c.signers;
      this.thresholds[role] = c.threshold;
    }
    this.writeRoot(signWith ?? [...new Set([...old, ...this.signers.root])]);
  }

  /** Publishes targets, snapshot and timestamp metadata naming `files`. */
  publish(files: Record<string, Buffer>, o: PublishOptions = {}): void {
    const targets: Record<string, TargetFile> = {};
    for (const [name, bytes] of Object.entries(files)) {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      targets[name] = new TargetFile({ path: name, length: bytes.length, hashes: { sha256 } });
      writeFileSync(join(this.dir, 'targets', `${sha256}.${name}`), o.servedInstead?.[name] ?? bytes);
    }
    this.versions.targets = o.targetsVersion ?? this.versions.targets + 1;
    this.versions.snapshot = o.snapshotVersion ?? this.versions.snapshot + 1;
    this.versions.timestamp = o.timestampVersion ?? this.versions.timestamp + 1;
    const t = signed(
      new Metadata(new Targets({ version: this.versions.targets, specVersion: SPEC, expires: inDays(90), targets })),
      this.signers.targets,
    );
    writeFileSync(join(this.dir, `${this.versions.targets}.targets.json`), t);
    const s = signed(
      new Metadata(
        new Snapshot({
          version: this.versions.snapshot,
          specVersion: SPEC,
          expires: inDays(30),
          meta: { 'targets.json': new MetaFile({ version: this.versions.targets }) },
        }),
      ),
      this.signers.snapshot,
    );
    writeFileSync(join(this.dir, `${this.versions.snapshot}.snapshot.json`), s);
    const ts = signed(
      new Metadata(
        new Timestamp({
          version: this.versions.timestamp,
          specVersion: SPEC,
          expires: inDays(o.timestampExpiresInDays ?? 7),
          snapshotMeta: new MetaFile({ version: this.versions.snapshot }),
        }),
      ),
      this.signers.timestamp,
    );
    writeFileSync(join(this.dir, 'timestamp.json'), ts);
  }
}

/** Serves a folder over loopback HTTP (404 for what is not there); `hang` answers nothing, ever. */
export async function serveFolder(
  dir: string,
  opts: { hang?: (path: string) => boolean } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (opts.hang?.(path)) return; // the socket stays open until close()
    const file = join(dir, path);
    try {
      if (!file.startsWith(dir) || !statSync(file).isFile()) throw new Error('no');
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
