/**
 * The trusted root that `sigguard trust update` keeps (src/trust/update.ts writes it), as the
 * hook reads it: the root file and the TUF state beside it, both root-only (as the verdict cache
 * requires), the root's bytes hashed against the signed targets metadata kept with it. Nothing
 * is fetched and no signature is checked here (the update did that); no zod either: this runs
 * on every container start (src/schema/lite.ts).
 *
 * Which public-good root a policy gets: the updated copy when it is newer (a higher TUF targets
 * version) than the one built in, the built-in one otherwise; an updated copy that is present
 * but fails these checks is no fallback to the older root: it is a refusal with its reason.
 */
import { lstatSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readProblem, readTrustedFile } from '../document/file-trust.js';
import { DEFAULT_PATHS } from '../defaults.js';
import { type Infer, integer, literal, object, optional, record, string } from '../schema/lite.js';

// node:crypto when a hash is taken, not when this module loads (the hook imports it on every start, issue 15)
const createHash = (algorithm: string) => process.getBuiltinModule('node:crypto').createHash(algorithm);

/** Where `trust update` keeps the public-good root by default (the configuration's `trust.publicGood`). */
export const DEFAULT_PUBLIC_GOOD_KEPT: string = DEFAULT_PATHS.trustPublicGood;

/**
 * The TUF targets version whose trusted_root.json the built-in root is: the copy @sigstore/tuf
 * 5.0.1 ships in its seeds (sha256 below) is the target of the public-good repository's
 * targets metadata version 14. A different built-in copy (after a dependency upgrade) has an
 * unknown version until this is updated (test/unit/trust-kept.test.ts fails then).
 */
export const BUILT_IN_TARGETS = {
  sha256: '6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66',
  version: 14,
} as const;

export const STATE_FORMAT = 'sigguard-tuf-state/1';

/** The TUF state kept beside a root file: `public-good.json` → `public-good.tuf.json`. */
export function tufStatePath(out: string): string {
  return `${out.replace(/\.json$/, '')}.tuf.json`;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export const stateSchema = object(
  {
    format: literal(STATE_FORMAT),
    /** The mirror URL, or `file:` + the folder an air-gapped update read. */
    mirror: string({ min: 1 }),
    target: string({ min: 1 }),
    fetchedAt: string({ pattern: ISO }),
    /** The trusted TUF metadata as its signed bytes (the next update starts from it). */
    metadata: object({
      root: string({ min: 2 }),
      timestamp: string({ min: 2 }),
      snapshot: string({ min: 2 }),
      targets: string({ min: 2 }),
    }),
    /** The targets metadata trusted before the last update (see readKeptRoot). */
    previousTargets: optional(string({ min: 2 })),
  },
  { strict: true },
);
export type TufState = Infer<typeof stateSchema>;

const signedSchema = object({ signed: object({ version: integer({ min: 1 }), expires: string({ pattern: ISO }) }) });
const targetsSchema = object({
  signed: object({
    _type: literal('targets'),
    version: integer({ min: 1 }),
    expires: string({ pattern: ISO }),
    targets: record(object({ length: integer({ min: 0 }), hashes: record(string({ pattern: /^[0-9a-f]+$/ })) })),
  }),
});

export interface KeptRoot {
  path: string;
  bytes: Buffer;
  /** sha256 (hex) of the root's bytes. */
  fingerprint: string;
  mirror: string;
  target: string;
  fetchedAt: string;
  targetsVersion: number;
  targetsExpires: string;
  rootVersion: number;
  rootExpires: string;
  timestampVersion: number;
  timestampExpires: string;
  snapshotVersion: number;
}

export type KeptResult = { state: 'absent' } | { state: 'ok'; root: KeptRoot } | { state: 'invalid'; problem: string };

const euid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : 0);

/** Owned by whoever runs sigguard (root on a node) and closed to everyone else, as the verdict cache's files. */
export function rootOnlyProblem(path: string, kind: 'file' | 'folder'): string | undefined {
  const st = lstatSync(path);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) return `${path} is not a regular ${kind === 'file' ? 'file' : 'folder'}`;
  if (st.uid !== euid()) return `${path} is owned by uid ${st.uid}, not ${euid() === 0 ? 'root' : `uid ${euid()}`}`;
  if ((st.mode & 0o077) !== 0) return `${path} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}) is open to group or others`;
  return undefined;
}

const exists = (path: string): boolean => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const digest = (algorithm: string, bytes: Buffer): string | undefined => {
  try {
    return createHash(algorithm).update(bytes).digest('hex');
  } catch {
    return undefined;
  }
};

/** The targets metadata's entry for `target` matches the bytes (length and every hash), or why not. */
function matchesTargets(text: string, target: string, bytes: Buffer): { version: number; expires: string } | string {
  const parsed = targetsSchema.parse(parseJSON(text));
  if (!parsed.ok) return `its targets metadata is malformed (${parsed.path}: ${parsed.message})`;
  const { version, expires, targets } = parsed.value.signed;
  const entry = targets[target];
  if (entry === undefined) return `its targets metadata (version ${version}) has no target ${target}`;
  const hashes = Object.entries(entry.hashes);
  if (!hashes.some(([a]) => a === 'sha256' || a === 'sha512'))
    return `its targets metadata (version ${version}) has no sha256 for ${target}`;
  if (entry.length !== bytes.length)
    return `its length ${bytes.length} is not the ${entry.length} of the signed targets metadata version ${version}`;
  for (const [algorithm, expected] of hashes) {
    const actual = digest(algorithm, bytes);
    if (actual === undefined) continue; // an algorithm node:crypto does not know; sha256/sha512 are required above
    if (actual !== expected) return `its ${algorithm} does not match the signed targets metadata version ${version}`;
  }
  return { version, expires };
}

/** The targets metadata of the state (its own, else the previous one) that `bytes` match, if any. */
export function matchingTargets(s: TufState, bytes: Buffer): string | undefined {
  if (typeof matchesTargets(s.metadata.targets, s.target, bytes) !== 'string') return s.metadata.targets;
  if (s.previousTargets !== undefined && typeof matchesTargets(s.previousTargets, s.target, bytes) !== 'string') return s.previousTargets;
  return undefined;
}

/**
 * The kept root at `path` with its TUF state, checked: absent (no root file), ok, or invalid with
 * why. An update writes the state first and the root second, keeping the targets metadata it
 * replaced as `previousTargets`: a root that matches that one is the previous root, still
 * whole (an update between its two renames, or cut short there).
 */
export function readKeptRoot(path: string): KeptResult {
  const file = resolve(path);
  const statePath = tufStatePath(file);
  const haveRoot = exists(file);
  const invalid = (problem: string): KeptResult => ({ state: 'invalid', problem: `updated trusted root ${file}: ${problem}` });
  // no root: none was ever written, or a first update is between its two renames (state, then
  // root) — unless someone else could have removed it: no fallback to the older built-in root then
  if (!haveRoot) {
    if (!exists(statePath)) return { state: 'absent' };
    const problem = rootOnlyProblem(dirname(file), 'folder');
    return problem === undefined
      ? { state: 'absent' }
      : invalid(`missing, beside its TUF state, in a folder that is not root's alone: ${problem}`);
  }
  if (!exists(statePath)) return invalid(`its TUF state ${statePath} is missing`);
  let bytes: Buffer;
  let stateText: string;
  try {
    const problem = rootOnlyProblem(dirname(file), 'folder') ?? rootOnlyProblem(file, 'file') ?? rootOnlyProblem(statePath, 'file');
    if (problem !== undefined) return invalid(`not trusted: ${problem} (kept trust material must be root's alone, as the verdict cache)`);
    bytes = readTrustedFile(file);
    stateText = readTrustedFile(statePath).toString('utf8');
  } catch (err) {
    return invalid(`cannot be read: ${readProblem(err)}`);
  }
  const state = stateSchema.parse(parseJSON(stateText));
  if (!state.ok) return invalid(`its TUF state ${statePath} is malformed (${state.path}: ${state.message})`);
  const s = state.value;
  let matched = matchesTargets(s.metadata.targets, s.target, bytes);
  if (typeof matched === 'string' && s.previousTargets !== undefined) {
    const previous = matchesTargets(s.previousTargets, s.target, bytes);
    if (typeof previous !== 'string') matched = previous;
  }
  if (typeof matched === 'string') return invalid(matched);
  const root = signedSchema.parse(parseJSON(s.metadata.root));
  const timestamp = signedSchema.parse(parseJSON(s.metadata.timestamp));
  const snapshot = signedSchema.parse(parseJSON(s.metadata.snapshot));
  if (!root.ok || !timestamp.ok || !snapshot.ok) return invalid(`its TUF state ${statePath} holds malformed metadata`);
  return {
    state: 'ok',
    root: {
      path: file,
      bytes,
      fingerprint: createHash('sha256').update(bytes).digest('hex'),
      mirror: s.mirror,
      target: s.target,
      fetchedAt: s.fetchedAt,
      targetsVersion: matched.version,
      targetsExpires: matched.expires,
      rootVersion: root.value.signed.version,
      rootExpires: root.value.signed.expires,
      timestampVersion: timestamp.value.signed.version,
      timestampExpires: timestamp.value.signed.expires,
      snapshotVersion: snapshot.value.signed.version,
    },
  };
}

/** Where a trusted root a policy uses came from: what the decision log and `check --explain` name. */
export interface RootOrigin {
  source: 'built-in' | 'tuf' | 'file';
  /** The file read (tuf, file). */
  path?: string;
  /** The TUF targets version the root is the target of (built-in: BUILT_IN_TARGETS, when known). */
  targetsVersion?: number;
  mirror?: string;
  fetchedAt?: string;
  /** Why the root is not used although it is the one that counts: every verification against it is refused. */
  problem?: string;
  /** Why the other candidate was not taken (public-good). */
  note?: string;
}

/** One line: `public-good (TUF targets v20 from URL, fetched T)`, `public-good (built in, TUF targets v14)`. */
export function describeOrigin(name: string, o: RootOrigin): string {
  if (o.problem !== undefined) return `${name} (unusable: ${o.problem})`;
  if (o.source === 'built-in')
    return `${name} (built in${o.targetsVersion !== undefined ? `, TUF targets v${o.targetsVersion}` : ''}${o.note ? `; ${o.note}` : ''})`;
  if (o.source === 'file') return name;
  return `${name} (TUF targets v${o.targetsVersion} from ${o.mirror}, fetched ${o.fetchedAt}${name === o.path ? '' : `, ${o.path}`})`;
}

/** The built-in public-good root's TUF targets version, when its bytes are the ones recorded. */
export function builtInTargetsVersion(bytes: Buffer): number | undefined {
  return createHash('sha256').update(bytes).digest('hex') === BUILT_IN_TARGETS.sha256 ? BUILT_IN_TARGETS.version : undefined;
}

export interface ChosenRoot {
  bytes: Buffer;
  origin: RootOrigin;
}

/**
 * `public-good`: the updated root kept at `keptPath` when it is newer than the built-in one,
 * else the built-in one; an updated root that fails its checks is chosen with its problem.
 */
export function choosePublicGood(builtIn: Buffer, keptPath: string): ChosenRoot {
  const builtInVersion = builtInTargetsVersion(builtIn);
  const kept = readKeptRoot(keptPath);
  if (kept.state === 'absent') return { bytes: builtIn, origin: { source: 'built-in', targetsVersion: builtInVersion } };
  if (kept.state === 'invalid') return { bytes: builtIn, origin: { source: 'tuf', path: resolve(keptPath), problem: kept.problem } };
  const k = kept.root;
  if (builtInVersion !== undefined && k.targetsVersion <= builtInVersion)
    return {
      bytes: builtIn,
      origin: {
        source: 'built-in',
        targetsVersion: builtInVersion,
        note: `the updated copy ${k.path} is TUF targets v${k.targetsVersion}, not newer`,
      },
    };
  return {
    bytes: k.bytes,
    origin: { source: 'tuf', path: k.path, targetsVersion: k.targetsVersion, mirror: k.mirror, fetchedAt: k.fetchedAt },
  };
}

/** A trustedRoot file named by a policy: TUF-checked when `trust update` keeps a state beside it, else as it is. */
export function keptOrPlain(path: string): { kind: 'plain' } | { kind: 'tuf'; root: KeptRoot } | { kind: 'invalid'; problem: string } {
  if (!exists(tufStatePath(resolve(path)))) return { kind: 'plain' };
  const kept = readKeptRoot(path);
  if (kept.state === 'ok') return { kind: 'tuf', root: kept.root };
  return { kind: 'invalid', problem: kept.state === 'invalid' ? kept.problem : `updated trusted root ${path}: missing` };
}

let publicGoodKept: string = DEFAULT_PUBLIC_GOOD_KEPT;

/** Where the updated public-good root is kept (the configuration's `trust.publicGood`): set before a policy is loaded. */
export function setPublicGoodKept(path: string): void {
  publicGoodKept = path;
}

export function publicGoodKeptPath(): string {
  return publicGoodKept;
}
