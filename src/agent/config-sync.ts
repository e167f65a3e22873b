/**
 * Keeps the node's sigguard folder (/etc/sigguard) in step with the mounted ConfigMap/Secret
 * folders, the way kubelet itself updates such a volume:
 *
 *   /etc/sigguard/..gen-<sha256>/   one generation: the sources' files (policy.yaml, config.yaml,
 *                                   keys/..., CA files, trusted roots) as one tree
 *   /etc/sigguard/..data            a symbolic link to the generation in force
 *   /etc/sigguard/policy.yaml       -> ..data/policy.yaml, and so on for each top-level name
 *
 * A changed set of documents is written as a new generation, validated there with the hook's own
 * loaders (the policy compiled with its keys and CA files read from the new generation, the
 * configuration against its schema), and only then swapped in by one rename of `..data`: the hook
 * sees the old set or the new one. An invalid set is refused: the generation is removed, the one in
 * force stays, and the refusal is returned for the caller to log and count. Refused too: a policy
 * that no longer exempts the agent's own namespace (it would refuse the agent's restarts and
 * upgrades), any private key, no policy at all.
 *
 * What was in /etc/sigguard under a managed name before the agent's first swap is kept in
 * `..preagent/` and put back by `unsyncConfig` (sigguard agent --uninstall).
 */
import { createHash } from 'node:crypto';
import {
  type Stats,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ReasonCode, SigguardError } from '../errors.js';
import { parseDocument } from '../document/parse.js';

export const DATA_LINK = '..data';
const GEN_PREFIX = '..gen-';
const PREAGENT = '..preagent';
const MAX_FILES = 512;
const MAX_BYTES = 16 * 2 ** 20;
/** A file or folder name: what kubelet writes for a ConfigMap key or item path (host:port folders of certs.d too). */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._:-]*$/;
/** The agent's and install-node's own files in the same folder: no source may name them. */
const RESERVED = new Set([
  'installed.json',
  'installed-files',
  'agent.json',
  'agent-crio.json',
  'agent-uninstall.json',
  'agent-restart-pending.json',
]);
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|"privateKey"\s*:/;

export interface SyncOptions {
  /** The mounted ConfigMap/Secret folders, merged (a name in two of them is refused). */
  sources: string[];
  /** The node's sigguard folder the hook reads (/etc/sigguard). */
  etc: string;
  /** The agent's own namespace: the policy must keep it exempt. */
  namespace: string;
}

export type SyncResult =
  | { result: 'unchanged'; sha256: string }
  | { result: 'applied'; sha256: string; policySha256: string; files: number }
  | { result: 'refused'; sha256: string; error: string };

const refuse = (message: string) => new SigguardError(ReasonCode.CONFIG_INVALID, message);

/**
 * The sources' files (relative path -> content); `..`-names (kubelet's own) are skipped, links followed.
 * A folder kubelet keeps (ConfigMap, Secret, projected volume) is read through its `..data`, resolved
 * once: one published version whole, not names linked before and after an update's rename.
 */
export function readSources(sources: string[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let bytes = 0;
  const dataOf = (dir: string) => {
    try {
      return readlinkSync(join(dir, DATA_LINK));
    } catch {
      return undefined; // not kept by kubelet: the folder as it is
    }
  };
  const walk = (at: string, rel: string, source: string, into: Map<string, Buffer>, seen: Array<[string, string]>) => {
    const data = dataOf(at);
    if (data !== undefined) seen.push([at, data]);
    const dir = data === undefined ? at : resolve(at, data);
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('..')) continue;
      if (!NAME.test(name))
        throw refuse(`${join(dir, name)}: a name sigguard does not take (letters, digits, . _ : -, not starting with .)`);
      const path = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (RESERVED.has(r)) throw refuse(`${path}: ${r} is sigguard's own file on the node, not a document to sync`);
      let st: Stats;
      try {
        st = statSync(path);
      } catch (err) {
        throw refuse(`${path}: ${(err as Error).message}`);
      }
      if (st.isDirectory()) {
        walk(path, r, source, into, seen);
        continue;
      }
      if (!st.isFile()) throw refuse(`${path} is not a regular file`);
      if (files.has(r)) throw refuse(`${r} is in more than one source folder (${source} and another)`);
      if (files.size + into.size >= MAX_FILES) throw refuse(`more than ${MAX_FILES} files in ${sources.join(', ')}`);
      const data = readFileSync(path);
      bytes += data.length;
      if (bytes > MAX_BYTES) throw refuse(`more than ${MAX_BYTES} bytes in ${sources.join(', ')}`);
      into.set(r, data);
    }
  };
  for (const s of sources) {
    if (!existsSync(s)) throw refuse(`source folder ${s} does not exist`);
    for (let attempt = 1; ; attempt++) {
      const seen: Array<[string, string]> = [];
      const into = new Map<string, Buffer>();
      const before = bytes;
      let failure: unknown;
      try {
        walk(s, '', s, into, seen);
      } catch (err) {
        failure = err; // an error in a version kubelet replaced meanwhile (and removed) is no refusal
      }
      if (seen.every(([dir, data]) => dataOf(dir) === data)) {
        if (failure !== undefined) throw failure;
        for (const [r, d] of into) files.set(r, d);
        break;
      }
      if (attempt === 3) throw refuse(`${s} changed while it was read, three times`);
      bytes = before;
    }
  }
  return files;
}

/** One digest of the whole set: names and contents. */
export function digestOf(files: Map<string, Buffer>): string {
  const h = createHash('sha256');
  for (const [name, data] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(`${name}\0${data.length}\0`);
    h.update(data);
  }
  return h.digest('hex');
}

/** The generation in force (its digest), if the agent put one in place. */
export function currentGeneration(etc: string): string | undefined {
  try {
    const target = readlinkSync(join(etc, DATA_LINK));
    return target.startsWith(GEN_PREFIX) ? target.slice(GEN_PREFIX.length) : undefined;
  } catch {
    return undefined;
  }
}

/** Every string in `doc` that names a path under `from` named under `to` instead. */
function remapPaths(doc: unknown, from: string, to: string): unknown {
  if (typeof doc === 'string') return doc === from || doc.startsWith(`${from}/`) ? `${to}${doc.slice(from.length)}` : doc;
  if (Array.isArray(doc)) return doc.map((d) => remapPaths(d, from, to));
  if (doc !== null && typeof doc === 'object') {
    return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, remapPaths(v, from, to)]));
  }
  return doc;
}

/**
 * The hook's loaders over a generation: the policy as the hook will read it once swapped in
 * (paths under `etc` read from `gen`), with the exemption the agent needs; the configuration's schema.
 */
export async function validateGeneration(gen: string, etc: string, namespace: string): Promise<string> {
  const policyFile = join(gen, 'policy.yaml');
  if (!existsSync(policyFile))
    throw refuse(`no policy.yaml in ${gen === etc ? etc : 'the source folders'}: the hook would refuse every container`);
  const text = readFileSync(policyFile, 'utf8');
  const { validatePolicyWith, checkConditions, buildPolicy } = await import('../policy/load.js');
  const input = validatePolicyWith(
    await import('../policy/schema.js'),
    await parseDocument(text, policyFile, ReasonCode.POLICY_INVALID),
    policyFile,
  );
  const { conditionsOf } = await import('../policy/attested.js');
  if (conditionsOf(input).length > 0) checkConditions(input, policyFile, (await import('../policy/condition.js')).conditionProblem);
  buildPolicy(remapPaths(input, etc, gen) as typeof input, policyFile, gen);
  if (!input.exemptNamespaces.includes(namespace)) {
    throw new SigguardError(
      ReasonCode.POLICY_INVALID,
      `policy.yaml does not exempt namespace ${namespace}, where sigguard's agent runs: it would refuse the agent's own restarts and upgrades (add it to exemptNamespaces)`,
    );
  }
  const configFile = join(gen, 'config.yaml');
  if (existsSync(configFile)) {
    const { validateConfig } = await import('../config/load.js');
    await validateConfig(await parseDocument(readFileSync(configFile, 'utf8'), configFile, ReasonCode.CONFIG_INVALID), configFile);
  }
  return createHash('sha256').update(text).digest('hex');
}

function writeGeneration(dir: string, files: Map<string, Buffer>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o755 });
  for (const [rel, data] of files) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
    writeFileSync(path, data, { mode: 0o600 }); // root's alone: a Secret's registry credentials are among them
  }
}

/** Replaces `path` by a symbolic link to `target` in one rename. */
function linkAtomically(path: string, target: string): void {
  const tmp = `${path}.sigguard-tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, path);
}

const topNames = (files: Map<string, Buffer>) => new Set([...files.keys()].map((k) => k.split('/')[0] as string));
const isManagedLink = (etc: string, name: string) => {
  try {
    return readlinkSync(join(etc, name)) === `${DATA_LINK}/${name}`;
  } catch {
    return false;
  }
};

/**
 * One pass: read the sources; if they differ from the generation in force (and from the set
 * refused last, `lastRefused`), validate and swap in, or refuse.
 */
export async function syncConfig(o: SyncOptions, lastRefused?: string): Promise<SyncResult> {
  let files: Map<string, Buffer>;
  try {
    files = readSources(o.sources);
  } catch (err) {
    const error = (err as Error).message;
    const sha256 = createHash('sha256').update(error).digest('hex');
    return sha256 === lastRefused ? { result: 'unchanged', sha256 } : { result: 'refused', sha256, error };
  }
  const sha256 = digestOf(files);
  if (sha256 === currentGeneration(o.etc)) {
    // in force; its names linked (an agent killed after the ..data rename left some undone)
    linkNames(o.etc, topNames(files));
    return { result: 'unchanged', sha256 };
  }
  if (sha256 === lastRefused) return { result: 'unchanged', sha256 };

  for (const [rel, data] of files) {
    if (PRIVATE_KEY.test(data.toString('latin1'))) {
      return { result: 'refused', sha256, error: `${rel} holds a private key: sigguard needs public keys only, and the node no secret` };
    }
  }
  mkdirSync(o.etc, { recursive: true, mode: 0o755 });
  const gen = join(o.etc, `${GEN_PREFIX}${sha256}`);
  writeGeneration(gen, files);
  let policySha256: string;
  try {
    policySha256 = await validateGeneration(gen, o.etc, o.namespace);
  } catch (err) {
    rmSync(gen, { recursive: true, force: true });
    return { result: 'refused', sha256, error: (err as Error).message };
  }

  const previous = currentGeneration(o.etc);
  linkAtomically(join(o.etc, DATA_LINK), `${GEN_PREFIX}${sha256}`);
  linkNames(o.etc, topNames(files));
  // keep the previous generation for hooks still reading it; older ones go
  for (const entry of readdirSync(o.etc)) {
    if (entry.startsWith(GEN_PREFIX) && entry !== `${GEN_PREFIX}${sha256}` && entry !== `${GEN_PREFIX}${previous}`) {
      rmSync(join(o.etc, entry), { recursive: true, force: true });
    }
  }
  return { result: 'applied', sha256, policySha256, files: files.size };
}

/** Each of `names` a link through ..data (the node's own file under it kept first); managed links to names not in the set removed. */
function linkNames(etc: string, names: Set<string>): void {
  for (const name of names) {
    if (isManagedLink(etc, name)) continue;
    const path = join(etc, name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st) {
      // the node's own file under this name: kept for --uninstall (a copy first: no moment without it)
      const saved = join(etc, PREAGENT, name);
      if (!existsSync(saved)) {
        mkdirSync(join(etc, PREAGENT), { recursive: true, mode: 0o700 });
        cpSync(path, saved, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      }
      if (st.isDirectory()) rmSync(path, { recursive: true, force: true });
    }
    linkAtomically(path, `${DATA_LINK}/${name}`);
  }
  for (const name of readdirSync(etc)) {
    if (!names.has(name) && isManagedLink(etc, name)) rmSync(join(etc, name), { force: true });
  }
}

/** Takes the agent's files out of `etc`, putting back what was there before its first swap. */
export function unsyncConfig(etc: string): string[] {
  const restored: string[] = [];
  if (!existsSync(etc)) return restored;
  for (const name of readdirSync(etc)) {
    if (isManagedLink(etc, name)) rmSync(join(etc, name), { force: true });
  }
  const pre = join(etc, PREAGENT);
  if (existsSync(pre)) {
    for (const name of readdirSync(pre)) {
      renameSync(join(pre, name), join(etc, name));
      restored.push(name);
    }
    rmSync(pre, { recursive: true, force: true });
  }
  rmSync(join(etc, DATA_LINK), { force: true });
  for (const entry of readdirSync(etc)) if (entry.startsWith(GEN_PREFIX)) rmSync(join(etc, entry), { recursive: true, force: true });
  return restored;
}
