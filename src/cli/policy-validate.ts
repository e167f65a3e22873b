/** `sigguard policy validate FILE`: parse, check scopes, read every key. */
import { ReasonCode, SigguardError } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import { parse } from './args.js';

export function runPolicyValidate(argv: string[]): number {
  const { positionals } = parse(argv, {}, 'policy validate');
  if (positionals.length !== 1) throw new SigguardError(ReasonCode.USAGE, 'policy validate takes exactly one FILE');
  const policy = loadPolicy(positionals[0]!);
  let keys = 0;
  for (const reqs of policy.scopes.values()) for (const r of reqs) if (r.type === 'sigstoreSigned') keys += r.keys.length;
  process.stdout.write(`policy ${policy.source} is valid: ${policy.scopes.size} scopes, ${keys} keys, default ${policy.default}, mode ${policy.mode}\n`);
  return 0;
}
