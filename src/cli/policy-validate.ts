/** `sigguard policy validate FILE`: parse, check scopes, read every key, CA and trusted root. */
import { ReasonCode, SigguardError } from '../errors.js';
import { formatPath } from '../document/path.js';
import { loadPolicy } from '../policy/load.js';
import { checkTrustRules } from '../verify/authority.js';
import { parse } from '../args.js';

export async function runPolicyValidate(argv: string[]): Promise<number> {
  const { positionals } = parse(argv, {}, 'policy validate');
  if (positionals.length !== 1) throw new SigguardError(ReasonCode.USAGE, 'policy validate takes exactly one FILE');
  const policy = await loadPolicy(positionals[0]!);
  let keys = 0;
  let certificates = 0;
  const rules = [];
  for (const [scope, reqs] of policy.scopes) {
    for (const [i, r] of reqs.entries()) {
      if (r.type !== 'sigstoreSigned') continue;
      keys += r.keys.length;
      if (r.trust.kind !== 'keys') certificates++;
      rules.push({ where: formatPath(['scopes', scope, i]), rule: r.trust });
    }
  }
  // what the loader only read and fingerprinted (trusted roots, CA chains), built as a verification would
  const { errors, warnings } = checkTrustRules(rules);
  if (errors.length > 0) throw new SigguardError(ReasonCode.POLICY_INVALID, `invalid policy ${policy.source}: ${errors[0]}`);
  for (const w of [...policy.warnings, ...warnings]) process.stderr.write(`sigguard: warning: ${w}\n`);
  const certs = certificates > 0 ? `, ${certificates} certificate requirements` : '';
  process.stdout.write(
    `policy ${policy.source} is valid: ${policy.scopes.size} scopes, ${keys} keys${certs}, default ${policy.default}, mode ${policy.mode}\n`,
  );
  return 0;
}
