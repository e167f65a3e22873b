/**
 * `sigguard agent` and `sigguard metrics` live in a bundle of their own (build/bundle.mjs:
 * build/out/sigguard-agent.cjs; inside the single executable, its asset of that name), so that
 * their code — pino, prom-client, the agent — is not even parsed when the hook starts: one
 * bundle with them cost every hook start ~10% more instructions (`sigguard version` under
 * callgrind: 453M -> 497M). Only this loader is in the main bundle.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { mark } from '../trace.js';
import type * as AgentCommands from './agent.js';

export const AGENT_ASSET = 'sigguard-agent.cjs';

export async function loadAgent(): Promise<typeof AgentCommands> {
  return loadBundle<typeof AgentCommands>(AGENT_ASSET);
}

/** The code cache asset of a bundle asset (`sigguard-agent.cjs` -> `sigguard-agent.cache`), which build/sea.mjs makes after a training run. */
export const cacheAssetOf = (asset: string): string => asset.replace(/\.cjs$/, '.cache');

/**
 * A command's own bundle: build/out/NAME beside the main bundle, or the single executable's asset
 * NAME, with its V8 code cache (asset NAME.cache) where the build made one: the agent's first
 * decision after it starts then runs bytecode made in training rather than compiling it (issue 15).
 * Compiled from the same text either way (a vm.Script of the wrapped bundle), so that the cache
 * build/sea.mjs's trainer makes from the file is the one the executable's asset takes. A cache V8
 * rejects only costs the compile time.
 */
export async function loadBundle<T>(asset: string): Promise<T> {
  // (not import(): the single executable's main script is compiled by a bootstrap, build/sea.mjs, without a dynamic import hook)
  const sea = process.getBuiltinModule('node:sea');
  const inSea = sea.isSea();
  const code = inSea ? sea.getAsset(asset, 'utf8') : readFileSync(join(__dirname, asset), 'utf8');
  let cachedData: Buffer | undefined;
  if (inSea) {
    try {
      cachedData = Buffer.from(sea.getRawAsset(cacheAssetOf(asset)));
    } catch {
      cachedData = undefined; // none made (the other architecture's executable, a bundle not trained)
    }
  }
  // CommonJS evaluated as Node would a file (its requires are node: built-ins)
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, {
    filename: asset,
    ...(cachedData ? { cachedData } : {}),
  });
  mark(`${asset} compiled${cachedData ? (script.cachedDataRejected ? ' (code cache rejected)' : ' (code cache accepted)') : ''}`);
  const wrapper = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} };
  const file = inSea ? join('/', asset) : join(__dirname, asset);
  wrapper(module.exports, createRequire(inSea ? process.execPath : file), module, file, inSea ? '/' : __dirname);
  return module.exports as T;
}
