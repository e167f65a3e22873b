/**
 * The parts of sigguard a warm start does not run (issue 15), each a bundle of its own
 * (build/split.mjs) loaded on first use; inside the single executable, an asset of that name
 * with a V8 code cache made at build time by the same Node:
 *  - `sigguard-fast.cjs` (`sigguard-fast.cache`): a verification by trusted keys (the registry
 *    client, discovery, the key-only fast path) and `check`, loaded on a verdict-cache miss;
 *  - `sigguard-docs.cjs` (`sigguard-docs.cache`): validating a policy or a configuration (YAML,
 *    zod, the schemas), loaded when a document is not in the document cache;
 *  - `sigguard-cold.cjs` (`sigguard-cold.cache`): the rest (@sigstore/*, certificates, CEL, the
 *    other commands), loaded only when a start needs one of them.
 * A warm hook start (its verdict in the cache) parses neither: only this loader is in the main
 * bundle, and the bundler turns each `import()` of a cut module into a call of coldModule().
 *
 * A bundle that cannot be read or evaluated is an error with a reason (INTERNAL_ERROR: a
 * denial, exit 1), never an allow; a code cache V8 rejects only costs the compile time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sea from 'node:sea';
import { Script } from 'node:vm';
import { ReasonCode, SigguardError, oneLine } from '../errors.js';
import { mark } from '../trace.js';

export type BundleName = 'fast' | 'docs' | 'cold';
export const ASSETS: Record<BundleName, { source: string; cache: string }> = {
  fast: { source: 'sigguard-fast.cjs', cache: 'sigguard-fast.cache' },
  docs: { source: 'sigguard-docs.cjs', cache: 'sigguard-docs.cache' },
  cold: { source: 'sigguard-cold.cjs', cache: 'sigguard-cold.cache' },
};
export const COLD_ASSET = ASSETS.cold.source;
export const COLD_CACHE_ASSET = ASSETS.cold.cache;
/** How a later bundle names a module it takes from the main bundle, from the fast one's, from the docs one's (build/split.mjs). */
export const MAIN_PREFIX = 'sigguard-main:';
export const FAST_PREFIX = 'sigguard-fast:';
export const DOCS_PREFIX = 'sigguard-docs:';
/**
 * CommonJS evaluated as Node would a file: build/split.mjs writes each bundle already wrapped in
 * this function (no wrapped copy of its text made here), a vm.Script whose code cache
 * build/sea.mjs makes after a training run, with the bytecode of the functions a cold start runs.
 */
export const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const WRAPPER_TAIL = '\n})';

type Thunks = Record<string, () => unknown>;
type Wrapper = (exports: object, require: (id: string) => unknown, module: { exports: object }, filename: string, dirname: string) => void;

export interface Compiled {
  run: Wrapper;
  /** Whether V8 refused the code cache given (wrong Node, flags, or bytes): compiled from source. */
  cacheRejected: boolean | undefined;
}

/** A bundle's source compiled (its asset name as the file name), with its code cache when there is one. */
export function compileCold(source: string, cachedData: Buffer | undefined, filename = COLD_ASSET): Compiled {
  const script = new Script(source, { filename, ...(cachedData ? { cachedData } : {}) });
  const run: unknown = script.runInThisContext();
  if (typeof run !== 'function') throw new Error('it is not a wrapped bundle');
  return { run: run as Wrapper, cacheRejected: cachedData ? script.cachedDataRejected === true : undefined };
}

/** One instance of each module taken from an earlier bundle, whichever later bundle takes it. */
const taken = new Map<string, unknown>();
function take(from: Thunks, prefix: string, path: string, which: string): unknown {
  const key = `${prefix}${path}`;
  if (!taken.has(key)) {
    const get = from[path];
    if (!get) throw new Error(`the ${which} bundle has no module ${path}`);
    taken.set(key, get());
  }
  return taken.get(key);
}

/**
 * A bundle's exports (one thunk per module it gives out), evaluated with a require that takes the
 * main bundle's modules from `main` and, when given, the fast bundle's from `fast()` and the docs
 * bundle's from `docs()`.
 */
export function evaluateCold(compiled: Compiled, main: Thunks, fast?: () => Thunks, filename = COLD_ASSET, docs?: () => Thunks): Thunks {
  const requireFromBundle = (id: string): unknown => {
    if (id.startsWith(MAIN_PREFIX)) return take(main, MAIN_PREFIX, id.slice(MAIN_PREFIX.length), 'main');
    if (fast !== undefined && id.startsWith(FAST_PREFIX)) return take(fast(), FAST_PREFIX, id.slice(FAST_PREFIX.length), 'fast');
    if (docs !== undefined && id.startsWith(DOCS_PREFIX)) return take(docs(), DOCS_PREFIX, id.slice(DOCS_PREFIX.length), 'docs');
    // everything else is in the bundle: only Node's built-ins are left to require (taken with
    // process.getBuiltinModule: a require made by node:module's createRequire loads node:module
    // and its source maps, ~0.5 ms of a new image's start)
    const builtin: unknown = process.getBuiltinModule(id);
    if (builtin === undefined) throw new Error(`cannot require ${id}`);
    return builtin;
  };
  const module = { exports: {} };
  compiled.run(module.exports, requireFromBundle, module, join('/', filename), '/');
  return module.exports as Thunks;
}

// In the executable: the assets as they are mapped (getRawAsset, read only here), not copies of
// their megabytes: the peak RSS of a cold start counts every copy (issue 15).
function readBundle(name: BundleName): { source: string; cachedData: Buffer | undefined } {
  const { source, cache } = ASSETS[name];
  if (!sea.isSea()) return { source: readFileSync(join(__dirname, source), 'utf8'), cachedData: undefined };
  let cachedData: Buffer | undefined;
  try {
    cachedData = Buffer.from(sea.getRawAsset(cache));
  } catch {
    cachedData = undefined; // the other architecture's executable carries none
  }
  return { source: Buffer.from(sea.getRawAsset(source)).toString('utf8'), cachedData };
}

const loaded: Partial<Record<BundleName, Thunks>> = {};
let mainThunks: Thunks | undefined;

function load(name: BundleName): Thunks {
  const done = loaded[name];
  if (done) return done;
  if (!mainThunks) throw new Error('the main bundle gave no modules');
  const main = mainThunks;
  const { source, cachedData } = readBundle(name);
  const compiled = compileCold(source, cachedData, ASSETS[name].source);
  mark(
    `${name} bundle compiled${compiled.cacheRejected === undefined ? '' : compiled.cacheRejected ? ' (code cache rejected)' : ' (code cache accepted)'}`,
  );
  // each takes from those before it: fast from main, docs from main and fast, cold from all three
  const thunks = evaluateCold(
    compiled,
    main,
    name === 'fast' ? undefined : () => loadOrThrow('fast'),
    ASSETS[name].source,
    name === 'cold' ? () => loadOrThrow('docs') : undefined,
  );
  loaded[name] = thunks;
  return thunks;
}

/** An earlier bundle for a later one: a failure to load it names it (the later bundle's error wraps it). */
function loadOrThrow(name: BundleName): Thunks {
  try {
    return load(name);
  } catch (err) {
    throw new Error(`${ASSETS[name].source}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The cut module `path` (build/split.mjs), from its bundle loaded once. The main bundle's cuts give
 * its registry of modules (`main`); the fast bundle's cuts (to the cold bundle) give none, the
 * main bundle's having come first.
 */
export function coldModule(path: string, main: Thunks | undefined, bundle: BundleName = 'cold'): unknown {
  try {
    if (main) mainThunks = main;
    const get = load(bundle)[path];
    if (!get) throw new Error(`it has no module ${path}`);
    return get();
  } catch (err) {
    throw new SigguardError(
      ReasonCode.INTERNAL_ERROR,
      `cannot load sigguard's ${ASSETS[bundle].source} (${path}): ${oneLine(err instanceof Error ? err.message : String(err))}`,
      { cause: err },
    );
  }
}
