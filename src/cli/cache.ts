/**
 * `sigguard cache list | clear [--digest D] [--config FILE]`: the hook's node-local verdict cache.
 * `sigguard cache prime [--policy FILE] [--config FILE]`: the hook's documents validated into its
 * document cache, as the hook given these flags would load them (install.sh runs it after an install,
 * as the agent does on its own: the first hook start then finds them validated).
 */
import { VerdictStore } from '../cache/store.js';
import { loadConfig } from '../config/load.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { parse } from '../args.js';
import { primeHookDocuments } from '../agent/prime-documents.js';
import { CACHE_DEFAULTS } from '../cache/verdict-cache.js';

export async function runCache(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { config: { type: 'string' }, digest: { type: 'string' }, json: { type: 'boolean' }, policy: { type: 'string' } },
    'cache',
  );
  const [action, ...extra] = positionals;
  if (extra.length > 0 || (action !== 'list' && action !== 'clear' && action !== 'prime')) {
    throw new SigguardError(
      ReasonCode.USAGE,
      'usage: sigguard cache list | clear [--digest D] [--config FILE] | prime [--policy FILE] [--config FILE]',
    );
  }
  if (action === 'prime') {
    const r = await primeHookDocuments({
      policyFile: values.policy ?? HOOK_DEFAULTS.policy,
      configFile: values.config ?? HOOK_DEFAULTS.config,
      defaultCacheDir: CACHE_DEFAULTS.dir,
    });
    // the documents as the hook would load them: one that does not load is the hook's to refuse (its error, its code)
    if (r !== true) throw r;
    process.stdout.write('the policy and config are validated for the hook\n');
    return 0;
  }
  if (values.policy !== undefined) throw new SigguardError(ReasonCode.USAGE, `--policy is for cache prime, not cache ${action}`);
  const config = await loadConfig(values.config, HOOK_DEFAULTS.config);
  if (config.cache === undefined) {
    process.stdout.write('the verdict cache is disabled in the configuration\n');
    return 0;
  }
  const store = new VerdictStore(config.cache.dir);
  if (action === 'clear') {
    const n = store.clear(values.digest);
    process.stdout.write(`removed ${n} cached verdict${n === 1 ? '' : 's'} from ${config.cache.dir}\n`);
    return 0;
  }
  const entries = store.list().filter((e) => values.digest === undefined || e.digest === values.digest);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(entries)}\n`);
    return 0;
  }
  const now = Date.now();
  for (const e of entries) {
    const age = Math.round((now - e.verifiedAt) / 1000);
    process.stdout.write(`${e.decision}\t${age}s ago\t${e.image}@${e.digest}\t${e.code}\t${e.signer ?? '-'}\n`);
  }
  if (entries.length === 0) process.stdout.write(`no cached verdicts in ${config.cache.dir}\n`);
  return 0;
}
