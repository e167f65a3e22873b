/**
 * The hook's documents validated once by the agent, as the hook itself loads them (src/cli/hook.ts:
 * the configuration through the document cache in the default folder, then the policy through the
 * configuration's cache folder), right after the agent has put a policy in force (issue 15).
 *
 * Without it, the first hook start after an install, an upgrade (the cache is keyed by version) or a
 * policy change parsed YAML and ran the zod schemas itself, ~20 ms more than a start that finds them
 * validated; in a node-boot storm, every hook started before the first one had stored them did so.
 * The agent is the same executable the hook is (it copies itself onto the node), so what it stores is
 * what the hook would have stored: same code, same version in the cache key, root's 0600 files.
 *
 * Best effort: a document that does not load here is not cached (the hook loads it, and refuses if
 * it must, as without the agent).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DocCache } from '../cache/doc-cache.js';
import { loadConfig } from '../config/load.js';
import { DEFAULT_PATHS, HOOK_DEFAULTS } from '../defaults.js';
import { loadPolicy } from '../policy/load.js';
import { readHostsText } from '../registry/hosts-config.js';
// statically: this module is in the cold bundle (`cache prime`), where an import() of the docs
// bundle's module would be a dynamic import, which a bundle compiled by vm.Script cannot make
import { validateHostsFile } from '../registry/hosts.js';

export interface HookDocuments {
  /** The files the hook entry names (src/agent/node.ts: flags only where they differ from the defaults). */
  policyFile: string;
  configFile: string;
  /** Where the hook keeps the validated configuration (src/cache/verdict-cache.ts's CACHE_DEFAULTS.dir). */
  defaultCacheDir: string;
}

/** True when both documents loaded (and are now cached where the hook looks); the loader's error otherwise. */
export async function primeHookDocuments(d: HookDocuments): Promise<true | Error> {
  try {
    // the hook's `--config` is given only when it is not the default file (agentHookEntry)
    const flag = d.configFile === DEFAULT_PATHS.config ? undefined : d.configFile;
    // what no start reads any more goes first (DocCache.prune): the documents in force are written again just below
    const defaults = new DocCache(d.defaultCacheDir);
    defaults.prune();
    const config = await loadConfig(flag, HOOK_DEFAULTS.config, defaults);
    const docs = config.cache ? new DocCache(config.cache.dir) : undefined;
    if (docs && docs.dir !== defaults.dir) docs.prune();
    await loadPolicy(d.policyFile, docs);
    if (docs) primeHostsFiles(config.certsDir, docs);
    return true;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * Every registry's hosts.toml under the configuration's certs.d (`<certsDir>/<host>/hosts.toml`,
 * `_default` included) validated into the document cache as a verification keeps it
 * (registry/client.ts endpointsOf: kind `hosts`, its text): the prune above removed the old ones,
 * and the first verification after it would otherwise validate them again. Best effort: one that
 * does not validate is not cached (a verification through it refuses with its reason, as before).
 */
function primeHostsFiles(certsDir: string, docs: DocCache): void {
  let names: string[];
  try {
    names = readdirSync(certsDir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = join(certsDir, name, 'hosts.toml');
    const text = readHostsText({ file, dir: join(certsDir, name) });
    if (text === undefined || docs.get('hosts', text) !== undefined) continue;
    try {
      docs.put('hosts', text, validateHostsFile(text, file));
    } catch {
      /* refused where it is used, with its reason */
    }
  }
}
