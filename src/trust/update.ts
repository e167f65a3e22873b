/**
 * `sigguard trust update`: a TUF client (tuf-js, the library @sigstore/tuf is built on) that
 * brings a Sigstore trusted root up to date from a TUF repository — a mirror over HTTPS, or the
 * same layout copied to a folder (air-gapped) — and keeps it, with the TUF metadata it was
 * verified with, for the hook (src/policy/kept-root.ts reads both).
 *
 * tuf-js does the TUF client workflow: every intermediate root version with its threshold, the
 * expiry of every role, rollback protection against the kept metadata, consistent snapshots,
 * target length and hashes. Around it, this module makes the result all-or-nothing: the
 * update runs in a staging folder started from a copy of the kept metadata, and only a run
 * that verified everything and got a usable trusted root replaces the kept files (state
 * first, keeping the targets metadata it replaces, then the root, each by an atomic rename).
 * Loaded only by the `trust` commands: the hook never touches the network for trust material.
 */
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReasonCode, SigguardError, oneLine } from '../errors.js';
import { checkTrustedPath, fileTrustEnforced, readProblem, readTrustedFile } from '../document/file-trust.js';
import { STATE_FORMAT, type TufState, matchingTargets, rootOnlyProblem, stateSchema, tufStatePath } from '../policy/kept-root.js';
import { PUBLIC_GOOD_TUF_URL, publicGoodTufRootBytes } from '../policy/public-good.js';
import { TrustedRootError, trustFromJSON } from '../verify/trusted-root.js';

export interface UpdateOptions {
  /** A TUF repository URL (https, or http to a loopback address); default the public-good one. */
  mirror?: string;
  /** A folder with the same layout (air-gapped). */
  from?: string;
  /** The initial trusted TUF root.json, used only when no state is kept beside `out` yet. */
  root?: string;
  target: string;
  out: string;
  timeoutMs: number;
}

export interface UpdateResult {
  status: 'updated' | 'current';
  out: string;
  source: string;
  rootVersion: number;
  timestampVersion: number;
  snapshotVersion: number;
  targetsVersion: number;
  fetchedAt: string;
}

const fail = (message: string): SigguardError => new SigguardError(ReasonCode.TRUST_UPDATE_FAILED, message);

/** The repository's base URL: the mirror, or the folder as a file: URL. */
function sourceURL(o: UpdateOptions): string {
  if (o.from !== undefined && o.mirror !== undefined)
    throw new SigguardError(ReasonCode.USAGE, 'trust update takes --mirror or --from, not both');
  if (o.from !== undefined) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(o.from);
    } catch (err) {
      throw new SigguardError(ReasonCode.USAGE, `--from ${o.from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!st.isDirectory()) throw new SigguardError(ReasonCode.USAGE, `--from ${o.from}: not a folder`);
    return pathToFileURL(resolve(o.from)).href;
  }
  const mirror = o.mirror ?? PUBLIC_GOOD_TUF_URL;
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new SigguardError(ReasonCode.USAGE, `--mirror ${mirror}: not a URL`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new SigguardError(ReasonCode.USAGE, `--mirror ${mirror}: only https (or http to a loopback address)`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new SigguardError(ReasonCode.USAGE, `--mirror ${mirror}: no credentials, query or fragment`);
  return url.href.replace(/\/+$/, '');
}

/** The kept state, checked as the hook checks it; a state that is there but unusable stops the update. */
function keptState(statePath: string): TufState | undefined {
  let text: string;
  try {
    statSync(statePath);
  } catch {
    return undefined;
  }
  try {
    const problem = rootOnlyProblem(statePath, 'file');
    if (problem !== undefined) throw fail(`the kept TUF state is not trusted: ${problem}`);
    text = readTrustedFile(statePath).toString('utf8');
  } catch (err) {
    if (err instanceof SigguardError) throw err;
    throw fail(`cannot read the kept TUF state ${statePath}: ${readProblem(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail(`the kept TUF state ${statePath} is not JSON (remove it to start again from --root)`);
  }
  const parsed = stateSchema.parse(json);
  if (!parsed.ok)
    throw fail(`the kept TUF state ${statePath} is malformed (${parsed.path}: ${parsed.message}; remove it to start again from --root)`);
  return parsed.value;
}

function initialRoot(o: UpdateOptions): Buffer {
  if (o.root === undefined) return publicGoodTufRootBytes();
  try {
    return readTrustedFile(o.root);
  } catch (err) {
    throw new SigguardError(ReasonCode.USAGE, `--root ${o.root}: ${readProblem(err)}`);
  }
}

/** Writes a file root-only and durable, then renames it into place. */
function writeAtomic(path: string, data: Buffer | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readIfThere(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** What went wrong, in one line: tuf-js's own message, the deadline, or the transport. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: unknown; statusCode?: number };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `the repository did not answer within ${timeoutMs / 1000} s`;
  if (typeof e?.statusCode === 'number') return `the repository answered HTTP ${e.statusCode}`;
  const cause = e?.cause instanceof Error ? ` (${e.cause.message})` : '';
  return oneLine(`${e?.message ?? String(err)}${cause}`);
}

/** tuf-js's Fetcher over a mirror (fetch, one deadline for the whole update) or a folder. */
async function makeFetcher(signal: AbortSignal) {
  const { BaseFetcher } = await import('tuf-js');
  const { DownloadHTTPError } = await import('tuf-js/dist/error.js');
  type Stream = Awaited<ReturnType<InstanceType<typeof BaseFetcher>['fetch']>>;
  class MirrorFetcher extends BaseFetcher {
    override async fetch(url: string): Promise<Stream> {
      const u = new URL(url);
      if (u.protocol === 'file:') {
        const path = fileURLToPath(u);
        try {
          if (!statSync(path).isFile()) throw new DownloadHTTPError(`${path} is not a file`, 404);
        } catch (err) {
          if (err instanceof DownloadHTTPError) throw err;
          throw new DownloadHTTPError(`${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, 404);
        }
        return Readable.toWeb(createReadStream(path)) as unknown as Stream;
      }
      const response = await fetch(url, { signal, redirect: 'follow', headers: { 'user-agent': 'sigguard-trust-update' } });
      if (!response.ok || response.body === null) {
        await response.body?.cancel();
        throw new DownloadHTTPError(`${url}: HTTP ${response.status}`, response.status);
      }
      return response.body as Stream;
    }
  }
  return new MirrorFetcher();
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

/**
 * One update at a time per kept root (a timer and a hand-run one): two interleaved would leave
 * one's state beside the other's root, which the hook refuses. A lock whose holder died is broken.
 */
function takeLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fail(`cannot lock ${path}: ${readProblem(err)}`);
    }
    const holder = Number.parseInt(readIfThere(path)?.toString('utf8') ?? '', 10);
    let alive = false;
    if (Number.isSafeInteger(holder) && holder > 0) {
      try {
        process.kill(holder, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (alive) throw fail(`another trust update (pid ${holder}) is running for ${path.replace(/\.lock$/, '')}`);
    rmSync(path, { force: true });
  }
  throw fail(`cannot lock ${path}`);
}

/** Runs the update; on any failure nothing kept is touched and a TRUST_UPDATE_FAILED error says why. */
export async function trustUpdate(o: UpdateOptions): Promise<UpdateResult> {
  const out = resolve(o.out);
  const source = sourceURL(o);
  const folder = dirname(out);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fail(`cannot create ${folder}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const folderProblem = rootOnlyProblem(folder, 'folder');
  if (folderProblem !== undefined) throw fail(`${folderProblem}: kept trust material must be root's alone (chmod 0700)`);
  const lock = `${tufStatePath(out)}.lock`;
  const unlock = takeLock(lock);
  try {
    // the whole path as the hook checks it (every ancestor and link): else the hook refuses what
    // is kept here, and whoever can write an ancestor can move the folder away (no kept root: the built-in one)
    if (fileTrustEnforced()) {
      try {
        checkTrustedPath(lock);
      } catch (err) {
        throw fail(`${folder}: ${readProblem(err)}`);
      }
    }
    return await updateLocked(o, out, source);
  } finally {
    unlock();
  }
}

async function updateLocked(o: UpdateOptions, out: string, source: string): Promise<UpdateResult> {
  const statePath = tufStatePath(out);
  const folder = dirname(out);
  const kept = keptState(statePath);
  const staging = mkdtempSync(join(folder, `.${basename(out)}.update-`));
  const signal = AbortSignal.timeout(o.timeoutMs);
  try {
    // the starting point: the kept metadata (so a rollback is seen), else the initial root
    writeAtomic(join(staging, 'root.json'), kept ? kept.metadata.root : initialRoot(o));
    if (kept) {
      writeAtomic(join(staging, 'timestamp.json'), kept.metadata.timestamp);
      writeAtomic(join(staging, 'snapshot.json'), kept.metadata.snapshot);
      writeAtomic(join(staging, 'targets.json'), kept.metadata.targets);
    }
    mkdirSync(join(staging, 'targets'), { mode: 0o700 });
    const { Updater } = await import('tuf-js');
    const work = (async () => {
      const updater = new Updater({
        metadataDir: staging,
        metadataBaseUrl: source,
        targetDir: join(staging, 'targets'),
        targetBaseUrl: `${source}/targets`,
        fetcher: await makeFetcher(signal),
        config: { fetchRetry: 0, fetchTimeout: o.timeoutMs },
      });
      await updater.refresh();
      const info = await updater.getTargetInfo(o.target);
      if (info === undefined) throw new Error(`the repository's targets metadata has no target ${o.target}`);
      return updater.downloadTarget(info, join(staging, 'targets', 'target'));
    })();
    const targetPath = await Promise.race([work, untilAborted(signal)]);
    const bytes = readFileSync(targetPath);
    try {
      trustFromJSON(JSON.parse(bytes.toString('utf8')) as unknown, o.target);
    } catch (err) {
      throw new Error(err instanceof TrustedRootError ? err.message : `${o.target} is not a trusted root (not JSON)`);
    }
    const read = (name: string) => readFileSync(join(staging, `${name}.json`), 'utf8');
    const metadata = { root: read('root'), timestamp: read('timestamp'), snapshot: read('snapshot'), targets: read('targets') };
    const fetchedAt = new Date().toISOString();
    const state: TufState = { format: STATE_FORMAT, mirror: source, target: o.target, fetchedAt, metadata };
    const previous = readIfThere(out);
    const current = previous?.equals(bytes) === true && kept?.metadata.targets === metadata.targets;
    // the state first, then the root: a hook between the two renames finds the root it had, which
    // still matches (previousTargets), or, on a first update, no root yet (the built-in one counts)
    if (previous?.equals(bytes) !== true) {
      // previous: the targets the root on disk matches (an update cut short between its renames
      // left the state one step ahead of it), so that it keeps counting until it is replaced
      const previousTargets = kept && ((previous && matchingTargets(kept, previous)) ?? kept.metadata.targets);
      writeAtomic(statePath, JSON.stringify(previousTargets ? { ...state, previousTargets } : state));
      writeAtomic(out, bytes);
    }
    writeAtomic(statePath, JSON.stringify(state));
    const version = (text: string): number => (JSON.parse(text) as { signed: { version: number } }).signed.version;
    return {
      status: current ? 'current' : 'updated',
      out,
      source,
      rootVersion: version(metadata.root),
      timestampVersion: version(metadata.timestamp),
      snapshotVersion: version(metadata.snapshot),
      targetsVersion: version(metadata.targets),
      fetchedAt,
    };
  } catch (err) {
    if (err instanceof SigguardError) throw err;
    throw fail(`trust update from ${source} refused: ${describe(err, o.timeoutMs)}; ${out} left as it was`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
