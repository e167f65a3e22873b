/**
 * `sigguard agent` and `sigguard metrics` live in a bundle of their own (build/bundle.mjs:
 * build/out/sigguard-agent.cjs; inside the single executable, its asset of that name), so that
 * their code — pino, prom-client, the agent — is not even parsed when the hook starts: one
 * bundle with them cost every hook start ~10% more instructions (`sigguard version` under
 * callgrind: 453M -> 497M). Only this loader is in the main bundle.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import type * as AgentCommands from './agent.js';

export const AGENT_ASSET = 'sigguard-agent.cjs';

export async function loadAgent(): Promise<typeof AgentCommands> {
  return loadBundle<typeof AgentCommands>(AGENT_ASSET);
}

/** A command's own bundle: build/out/NAME beside the main bundle, or the single executable's asset NAME. */
export async function loadBundle<T>(asset: string): Promise<T> {
  // (not import(): the single executable's main script is compiled by a bootstrap, build/sea.mjs, without a dynamic import hook)
  const sea = process.getBuiltinModule('node:sea');
  if (!sea.isSea()) return createRequire(__filename)(join(__dirname, asset)) as T;
  // the executable's own asset: CommonJS evaluated as Node would a file (its requires are node: built-ins)
  const code = sea.getAsset(asset, 'utf8');
  const wrapper = runInThisContext(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, {
    filename: asset,
  }) as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
  const module = { exports: {} };
  wrapper(module.exports, createRequire(process.execPath), module, join('/', asset), '/');
  return module.exports as T;
}
