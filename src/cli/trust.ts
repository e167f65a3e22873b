/**
 * `sigguard trust update [--mirror URL | --from DIR] [--root FILE] [--target NAME] [--out FILE]`
 * and `sigguard trust status [--out FILE]`: keeping Sigstore trust material current over TUF
 * (README "Keeping trust material current"). The TUF client loads here only, never in the hook.
 */
import { resolve } from 'node:path';
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { loadConfig } from '../config/load.js';
import { parse, parseSeconds } from '../args.js';

const USAGE =
  'usage: sigguard trust update [--mirror URL | --from DIR] [--root FILE] [--target NAME] [--out FILE] [--timeout SECONDS] [--config FILE] | trust status [--out FILE] [--config FILE]';

/**
 * Runs in a bundle of its own (src/cli/agent-loader.ts's loadBundle), whose SigguardError is not the
 * main bundle's class: errors are reported here, as main.ts reports them, with the same exit codes.
 */
export async function runTrust(argv: string[]): Promise<number> {
  try {
    return await trust(argv);
  } catch (err) {
    const e = toSigguardError(err);
    process.stderr.write(`sigguard: ${oneLine(e.message)} [${e.code}]\n`);
    const usage: string[] = [ReasonCode.USAGE, ReasonCode.CONFIG_INVALID, ReasonCode.POLICY_INVALID];
    return usage.includes(e.code) ? ExitCode.USAGE_OR_CONFIG : ExitCode.DENY;
  }
}

async function trust(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parse(
    rest,
    {
      mirror: { type: 'string' },
      from: { type: 'string' },
      root: { type: 'string' },
      target: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      config: { type: 'string' },
    },
    `trust ${action ?? ''}`.trim(),
  );
  if (positionals.length > 0 || (action !== 'update' && action !== 'status')) throw new SigguardError(ReasonCode.USAGE, USAGE);
  const config = await loadConfig(values.config, HOOK_DEFAULTS.config);
  const out = values.out ?? config.trust.publicGood;
  if (action === 'status') {
    for (const flag of ['mirror', 'from', 'root', 'target', 'timeout'] as const)
      if (values[flag] !== undefined) throw new SigguardError(ReasonCode.USAGE, `trust status takes no --${flag}`);
    const { trustStatus } = await import('../trust/status.js');
    const report = trustStatus(out, resolve(out) === resolve(config.trust.publicGood), config.trust.maxAgeDays);
    process.stdout.write(`${report.text}\n`);
    if (report.problems.length === 0) {
      process.stdout.write('status: current\n');
      return ExitCode.ALLOW;
    }
    process.stderr.write(`sigguard: trust material is not current: ${report.problems.join('; ')} [${ReasonCode.TRUST_STALE}]\n`);
    return ExitCode.DENY;
  }
  const { trustUpdate } = await import('../trust/update.js');
  const r = await trustUpdate({
    mirror: values.mirror,
    from: values.from,
    root: values.root,
    target: values.target ?? 'trusted_root.json',
    out,
    timeoutMs: parseSeconds(values.timeout, '--timeout', 60) * 1000,
  });
  process.stdout.write(
    `${r.status === 'current' ? 'already current' : 'updated'}: ${r.out} from ${r.source} (TUF root v${r.rootVersion}, timestamp v${r.timestampVersion}, snapshot v${r.snapshotVersion}, targets v${r.targetsVersion})\n`,
  );
  return ExitCode.ALLOW;
}
