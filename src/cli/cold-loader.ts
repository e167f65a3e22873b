/**
 * The cold part of sigguard (issue 15): verification, the registry client, the zod schemas, YAML,
 * CEL and the commands other than the hook live in a bundle of their own (build/split.mjs:
 * build/out/sigguard-cold.cjs; inside the single executable, its asset of that name with a V8
 * code cache made at build time by the same Node, `sigguard-cold.cache`). A warm hook start (its
 * verdict in the cache) never parses it: only this loader is in the main bundle, and the bundler
 * turns each `import()` of a cold module into a call of coldModule().
 *
 * A cold bundle that cannot be read or evaluated is an error with a reason (INTERNAL_ERROR: a
 * denial, exit 1), never an allow; a code cache V8 rejects only costs the compile time.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as sea from 'node:sea';
import { Script } from 'node:vm';
import { ReasonCode, SigguardError, oneLine } from '../errors.js';
import { mark } from '../trace.js';

export const COLD_ASSET = 'sigguard-cold.cjs';
export const COLD_CACHE_ASSET = 'sigguard-cold.cache';
/** How the cold bundle names a module it takes from the main bundle (build/split.mjs). */
export const MAIN_PREFIX = 'sigguard-main:';
/**
 * CommonJS evaluated as Node would a file: build/split.mjs writes the bundle already wrapped in
 * this function (no wrapped copy of the 2.5 MB text made here), a vm.Script whose code cache
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

/** The cold bundle's source compiled, with its code cache when there is one. */
export function compileCold(source: string, cachedData: Buffer | undefined): Compiled {
  const script = new Script(source, { filename: COLD_ASSET, ...(cachedData ? { cachedData } : {}) });
  const run: unknown = script.runInThisContext();
  if (typeof run !== 'function') throw new Error('it is not a wrapped bundle');
  return { run: run as Wrapper, cacheRejected: cachedData ? script.cachedDataRejected === true : undefined };
}

/** The cold bundle's exports: one thunk per cut module. */
export function evaluateCold(compiled: Compiled, main: Thunks): Thunks {
  const builtins = createRequire(process.execPath);
  const taken = new Map<string, unknown>();
  const requireFromCold = (id: string): unknown => {
    if (id.startsWith(MAIN_PREFIX)) {
      const path = id.slice(MAIN_PREFIX.length);
      if (!taken.has(path)) {
        const get = main[path];
        if (!get) throw new Error(`the main bundle has no module ${path}`);
        taken.set(path, get());
      }
      return taken.get(path);
    }
    // everything else is in the bundle: only Node's built-ins are left to require
    if (!id.startsWith('node:') && !builtins('node:module').isBuiltin(id)) throw new Error(`cannot require ${id}`);
    return builtins(id);
  };
  const module = { exports: {} };
  compiled.run(module.exports, requireFromCold, module, join('/', COLD_ASSET), '/');
  return module.exports as Thunks;
}

// In the executable: the assets as they are mapped (getRawAsset, read only here), not copies of
// their 3 MB: the peak RSS of a cold start counts every copy (issue 15).
function readCold(): { source: string; cachedData: Buffer | undefined } {
  if (!sea.isSea()) return { source: readFileSync(join(__dirname, COLD_ASSET), 'utf8'), cachedData: undefined };
  let cachedData: Buffer | undefined;
  try {
    cachedData = Buffer.from(sea.getRawAsset(COLD_CACHE_ASSET));
  } catch {
    cachedData = undefined; // the other architecture's executable carries none
  }
  return { source: Buffer.from(sea.getRawAsset(COLD_ASSET)).toString('utf8'), cachedData };
}

let cold: Thunks | undefined;

/** The cut module `path` (build/split.mjs), from the cold bundle loaded once. */
export function coldModule(path: string, main: Thunks): unknown {
  try {
    if (!cold) {
      const { source, cachedData } = readCold();
      const compiled = compileCold(source, cachedData);
      mark(
        `cold bundle compiled${compiled.cacheRejected === undefined ? '' : compiled.cacheRejected ? ' (code cache rejected)' : ' (code cache accepted)'}`,
      );
      cold = evaluateCold(compiled, main);
    }
    const get = cold[path];
    if (!get) throw new Error(`it has no module ${path}`);
    return get();
  } catch (err) {
    throw new SigguardError(
      ReasonCode.INTERNAL_ERROR,
      `cannot load sigguard's ${COLD_ASSET} (${path}): ${oneLine(err instanceof Error ? err.message : String(err))}`,
      { cause: err },
    );
  }
}
