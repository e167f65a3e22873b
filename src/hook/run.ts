/**
 * `sigguard hook`: the OCI hook. OCI state in on stdin, exit 0 to allow, exit
 * 1 with ONE line on stderr to refuse (runc puts it into its error, kubelet
 * into the pod's events). Every path ends in a decision-log line; every error,
 * timeout or crash is a refusal.
 */
import { loadConfig } from '../config/load.js';
import { verifyWithConfig } from '../engine/session.js';
import type { Verdict } from '../engine/types.js';
import { verdictSubject } from '../engine/verify-image.js';
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { type Policy, loadPolicy } from '../policy/load.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { parse, parseSeconds } from '../cli/args.js';
import { type ContainerContext, readContext } from './annotations.js';
import { triage } from './decide.js';
import { type DecisionRecord, writeDecision } from './decision-log.js';
import { type OciState, parseState, readAnnotations, readStdin } from './state.js';

export const HOOK_DEFAULTS = {
  config: '/etc/sigguard/config.yaml',
  policy: '/etc/sigguard/policy.yaml',
  log: '/var/log/sigguard/decisions.log',
  deadlineSeconds: 8,
};

interface Outcome {
  decision: 'allow' | 'deny';
  code: ReasonCode;
  reason: string;
  image?: string;
  digest?: string;
  scope?: string;
  signer?: string;
}

function fromVerdict(v: Verdict): Outcome {
  return {
    decision: v.decision,
    code: v.code,
    reason: v.reason,
    image: v.image,
    ...(v.digest ? { digest: v.digest } : {}),
    scope: v.scope,
    ...(v.signer ? { signer: v.signer } : {}),
  };
}

async function decide(
  ctx: ContainerContext,
  policy: Policy,
  configFile: string | undefined,
  deadlineMs: number,
): Promise<Outcome> {
  const t = triage(ctx, policy);
  if (t.action !== 'verify') return { decision: t.action, code: t.code, reason: t.reason };
  const ref = parseReference(t.image);
  const config = loadConfig(configFile, HOOK_DEFAULTS.config);
  const verdict = await verifyWithConfig(ref, {
    config,
    policy,
    deadlineMs,
    allowTagResolution: policy.tagResolution === 'registry',
  });
  return fromVerdict(verdict);
}

export async function runHook(argv: string[], stdin: NodeJS.ReadableStream): Promise<number> {
  const started = performance.now();
  const { values, positionals } = parse(
    argv,
    { config: { type: 'string' }, policy: { type: 'string' }, log: { type: 'string' }, deadline: { type: 'string' } },
    'hook',
  );
  if (positionals.length > 0) throw new SigguardError(ReasonCode.USAGE, `hook takes no arguments (got "${positionals[0]}")`);
  const deadlineMs = parseSeconds(values.deadline, '--deadline', HOOK_DEFAULTS.deadlineSeconds) * 1000;
  const logFile = values.log ?? HOOK_DEFAULTS.log;

  let state: OciState | undefined;
  let ctx: ContainerContext | undefined;
  let policy: Policy | undefined;
  let outcome: Outcome;
  const overall = new AbortController();
  const timer = setTimeout(() => overall.abort(), deadlineMs);
  try {
    const work = (async (): Promise<Outcome> => {
      state = parseState(await readStdin(stdin));
      ctx = readContext(readAnnotations(state));
      policy = loadPolicy(values.policy ?? HOOK_DEFAULTS.policy);
      return decide(ctx, policy, values.config, deadlineMs);
    })();
    const timeout = new Promise<never>((_, reject) =>
      overall.signal.addEventListener('abort', () =>
        reject(new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `hook deadline of ${deadlineMs / 1000} s exceeded`)),
      ),
    );
    outcome = await Promise.race([work, timeout]);
  } catch (err) {
    const e = toSigguardError(err);
    outcome = { decision: 'deny', code: e.code, reason: e.message };
  } finally {
    clearTimeout(timer);
  }

  const warnOnly = outcome.decision === 'deny' && policy?.mode === 'warn';
  let imageName = outcome.image ?? ctx?.image;
  if (outcome.image === undefined && ctx?.image) {
    try {
      imageName = formatReference(withDefaultTag(parseReference(ctx.image)));
    } catch {
      /* keep the raw annotation */
    }
  }
  const subject = imageName ? verdictSubject({ image: imageName, digest: outcome.digest }) : `container ${state?.id ?? '(unknown)'}`;
  const record: DecisionRecord = {
    level: outcome.decision === 'allow' && !warnOnly ? 30 : 40,
    time: new Date().toISOString(),
    msg: `${outcome.decision === 'allow' ? 'allowed' : warnOnly ? 'would deny (mode warn)' : 'denied'} ${subject}`,
    containerId: state?.id,
    runtime: ctx?.runtime,
    namespace: ctx?.namespace,
    pod: ctx?.pod,
    container: ctx?.container,
    image: imageName,
    digest: outcome.digest,
    decision: outcome.decision,
    enforced: !warnOnly,
    code: outcome.code,
    reason: outcome.reason,
    scope: outcome.scope,
    signer: outcome.signer,
    durationMs: Math.round(performance.now() - started),
  };
  const logError = writeDecision(logFile, record);
  if (logError) process.stderr.write(`sigguard: cannot write decision log ${logFile}: ${oneLine(logError)}\n`);
  if (outcome.decision === 'allow') return ExitCode.ALLOW;
  if (warnOnly) {
    process.stderr.write(`sigguard: warning (mode warn), would deny ${subject}: ${oneLine(outcome.reason)}\n`);
    return ExitCode.ALLOW;
  }
  process.stderr.write(`sigguard: denied ${subject}: ${oneLine(outcome.reason)} [${outcome.code}]\n`);
  return ExitCode.DENY;
}
