/** `sigguard check IMAGE`: the verdict the hook would give, with the reason. */
import { loadConfig } from '../config/load.js';
import { verifyWithConfig } from '../engine/session.js';
import type { Verdict } from '../engine/types.js';
import { verdictSubject } from '../engine/verify-image.js';
import { ExitCode, ReasonCode, SigguardError } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import { parseReference } from '../reference/reference.js';
import type { RequestRecord } from '../registry/client.js';
import { parse, parseSeconds } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';

export function explainText(v: Verdict, requests: RequestRecord[]): string {
  const lines: string[] = [];
  lines.push(`image:    ${v.image}`);
  lines.push(`digest:   ${v.digest ?? '(not resolved)'}${v.platformDigest ? ` (platform manifest ${v.platformDigest})` : ''}`);
  if (v.configDigest) lines.push(`config:   ${v.configDigest} (the image id a runtime reports for what runs)`);
  lines.push(`scope:    ${v.scope === '' ? '(policy default)' : v.scope}`);
  lines.push('requirements:');
  for (const r of v.requirements) {
    lines.push(`  - ${r.type}${r.keys ? ` keys=[${r.keys.join(', ')}]` : ''}${r.trust ? ` trust=${r.trust}` : ''}${r.signedIdentity ? ` signedIdentity=${r.signedIdentity}` : ''}${r.signatureFormats ? ` formats=${r.signatureFormats.join(',')}` : ''}`);
    lines.push(`    ${r.satisfied ? 'satisfied' : 'NOT satisfied'}${r.detailCode ? ` [${r.code} ${r.detailCode}]` : ''}: ${r.reason}`);
  }
  lines.push(`signatures: ${v.signatures.length === 0 ? 'none examined' : ''}`);
  for (const s of v.signatures) {
    lines.push(`  - ${s.format} on ${s.subject} (${s.source})`);
    lines.push(`    ${s.status}${s.detailCode ? ` [${s.detailCode}]` : ''}${s.signer ? ` signer=${s.signer}` : ''}${s.dockerReference ? ` docker-reference=${s.dockerReference}` : ''}${s.detail ? `: ${s.detail}` : ''}`);
  }
  for (const n of v.notes ?? []) lines.push(`note: ${n}`);
  lines.push(`registry requests: ${requests.length}`);
  return lines.join('\n');
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      policy: { type: 'string' },
      config: { type: 'string' },
      deadline: { type: 'string' },
      explain: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'check',
  );
  if (positionals.length !== 1) throw new SigguardError(ReasonCode.USAGE, 'check takes exactly one IMAGE (see sigguard help)');
  const deadlineMs = parseSeconds(values.deadline, '--deadline', 30) * 1000;
  const policy = await loadPolicy(values.policy ?? DEFAULT_PATHS.policy);
  const config = await loadConfig(values.config, DEFAULT_PATHS.config);
  let verdict: Verdict;
  const requests: RequestRecord[] = [];
  try {
    const ref = parseReference(positionals[0]!);
    verdict = await verifyWithConfig(ref, { config, policy, deadlineMs, allowTagResolution: true, onRequest: (r) => requests.push(r) });
  } catch (err) {
    if (err instanceof SigguardError && err.code === ReasonCode.INVALID_REFERENCE) throw new SigguardError(ReasonCode.USAGE, err.message);
    throw err;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(values.explain ? { ...verdict, requests } : verdict)}\n`);
  } else {
    const word = verdict.decision === 'allow' ? 'allowed' : 'denied';
    process.stdout.write(`${word} ${verdictSubject(verdict)}: ${verdict.reason} [${verdict.code}]\n`);
    if (values.explain) process.stdout.write(`${explainText(verdict, requests)}\n`);
  }
  if (verdict.decision === 'allow') return ExitCode.ALLOW;
  // A configuration problem found on the way (a broken hosts.toml, an unreadable CA file) is the
  // operator's to fix, like a bad --config: exit 2. The hook refuses the container either way.
  if (verdict.code === ReasonCode.CONFIG_INVALID) return ExitCode.USAGE_OR_CONFIG;
  return ExitCode.DENY;
}
