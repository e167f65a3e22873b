/** `sigguard policy validate FILE`: parse, check scopes, read every key, CA and trusted root. */
import { ReasonCode, SigguardError } from '../errors.js';
import { formatPath } from '../document/path.js';
import { loadPolicy } from '../policy/load.js';
import { checkTrustRules } from '../verify/authority.js';
import { parse } from '../args.js';
import { loadConfig } from '../config/load.js';
import { setPublicGoodKept } from '../policy/kept-root.js';
import type { TrustRule } from '../policy/types.js';

/** A warning for each trusted root a requirement relies on that is not current (src/trust/status.ts). */
async function staleRootWarnings(rules: Array<{ where: string; rule: TrustRule }>, maxAgeDays: number): Promise<string[]> {
  const roots = rules.flatMap(({ where, rule }) => {
    const root =
      rule.kind === 'keyless' ? rule.root : rule.kind !== 'pki' && rule.rekor?.kind === 'trustedRoot' ? rule.rekor.root : undefined;
    return root?.origin && root.origin.problem === undefined ? [{ where, root, origin: root.origin }] : [];
  });
  if (roots.length === 0) return [];
  const { staleness } = await import('../trust/status.js');
  const now = new Date();
  return roots.flatMap(({ where, root, origin }) => {
    const problems = staleness(Buffer.from(JSON.stringify(root.json)), origin, maxAgeDays, now);
    return problems.length > 0 ? [`${where}: trusted root ${root.label} is stale: ${problems.join('; ')} (sigguard trust update)`] : [];
  });
}

export async function runPolicyValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' } }, 'policy validate');
  if (positionals.length !== 1) throw new SigguardError(ReasonCode.USAGE, 'policy validate takes exactly one FILE');
  // the configuration only when named: it says where the updated public-good root is kept and how old it may be
  const config = values.config !== undefined ? await loadConfig(values.config) : undefined;
  if (config) setPublicGoodKept(config.trust.publicGood);
  const policy = await loadPolicy(positionals[0]!);
  let keys = 0;
  let certificates = 0;
  const rules = [];
  for (const [scope, reqs] of policy.scopes) {
    for (const [i, r] of reqs.entries()) {
      if (r.type !== 'sigstoreSigned' && r.type !== 'sigstoreAttested') continue;
      keys += r.keys.length;
      if (r.trust.kind !== 'keys') certificates++;
      rules.push({ where: formatPath(['scopes', scope, i]), rule: r.trust });
    }
  }
  // what the loader only read and fingerprinted (trusted roots, CA chains), built as a verification would
  const { errors, warnings } = checkTrustRules(rules);
  if (errors.length > 0) throw new SigguardError(ReasonCode.POLICY_INVALID, `invalid policy ${policy.source}: ${errors[0]}`);
  const stale = await staleRootWarnings(rules, config?.trust.maxAgeDays ?? 30);
  for (const w of [...policy.warnings, ...warnings, ...stale]) process.stderr.write(`sigguard: warning: ${w}\n`);
  const certs = certificates > 0 ? `, ${certificates} certificate requirements` : '';
  process.stdout.write(
    `policy ${policy.source} is valid: ${policy.scopes.size} scopes, ${keys} keys${certs}, default ${policy.default}, mode ${policy.mode}\n`,
  );
  return 0;
}
