/**
 * `sigguard hook`: the OCI hook. OCI state in on stdin, exit 0 to allow, exit
 * 1 with ONE line on stderr to refuse (runc puts it into its error, kubelet
 * into the pod's events). Every path ends in a decision-log line; every error,
 * timeout or crash is a refusal.
 *
 * The hook's own concerns are in src/hook/ (the OCI state, the annotations, the
 * runtime asked over CRI, the decision log); the decision for an image is the
 * engine's, through the verdict cache (engine/cached-verify.ts).
 */
import { DocCache } from '../cache/doc-cache.js';
import { CACHE_DEFAULTS } from '../cache/verdict-cache.js';
import { type Config, loadConfig } from '../config/load.js';
import { startDeadline, whenAborted } from '../deadline.js';
import { type Outcome, cachedVerify } from '../engine/cached-verify.js';
import { verdictSubject } from '../engine/subject.js';
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import { setPublicGoodKept } from '../policy/kept-root.js';
import { scopeTrustRoots } from '../policy/trust-roots.js';
import type { Policy } from '../policy/types.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { parse, parseSeconds } from '../args.js';
import { type ContainerContext, readContext } from '../hook/annotations.js';
import { selectionFor } from '../hook/binding.js';
import { triage } from '../hook/decide.js';
import { resolveOnNode } from '../hook/node-lookup.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { mark } from '../trace.js';
import { type DecisionRecord, writeDecision } from '../hook/decision-log.js';
import { type OciState, parseState, readAnnotations, readStdin } from '../hook/state.js';

async function decide(ctx: ContainerContext, containerId: string, policy: Policy, config: Config, signal: AbortSignal): Promise<Outcome> {
  const t = triage(ctx, policy);
  if (t.action !== 'verify') return { decision: t.action, code: t.code, reason: t.reason };
  const annotated = parseReference(t.image);
  const { named, pinned, imageId } = await resolveOnNode(ctx, containerId, annotated, config, policy, signal);
  mark('node');
  // what is verified is bound to what runs: the node's image id picks or checks the manifest
  const { outcome } = await cachedVerify(
    {
      ref: pinned,
      named,
      alsoNamed: [annotated.digest],
      ...(imageId ? { imageId } : {}),
      selection: selectionFor(ctx.runtime, imageId, config.platform),
    },
    // the hook exits once it has decided: its registry connections are left to the exit
    { config, policy, signal, cache: config.cache, allowTagResolution: policy.tagResolution === 'registry', exitsAfter: true },
  );
  return outcome;
}

export async function runHook(argv: string[], stdin: () => NodeJS.ReadableStream): Promise<number> {
  // The deadline counts from the process's own start, not from here: the runtime's hook
  // timeout (10 s) runs from the exec, and on a loaded node starting the process alone can
  // take seconds. Counting from here would let the runtime kill the hook before it decides.
  // (process.uptime(), not performance.timeOrigin: the global `performance` loads perf_hooks, ~1 ms a start)
  const started = Date.now() - Math.round(process.uptime() * 1000);
  mark('hook');
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
  // the one deadline: its timer aborts the signal that CRI, the registry and verification
  // run under, and the race below refuses even if some promise never settles
  const deadline = startDeadline(started + deadlineMs, `hook deadline of ${deadlineMs / 1000} s exceeded`);
  try {
    const work = (async (): Promise<Outcome> => {
      state = parseState(await readStdin(stdin));
      mark('state');
      ctx = readContext(readAnnotations(state));
      // the configuration first: it says where validated documents are cached
      // documents not yet validated: one hook of those starting together validates each (doc-cache.ts)
      const docsUntil = { endsAt: started + deadlineMs };
      const config = await loadConfig(values.config, HOOK_DEFAULTS.config, new DocCache(CACHE_DEFAULTS.dir, docsUntil));
      mark('config');
      setPublicGoodKept(config.trust.publicGood);
      policy = await loadPolicy(
        values.policy ?? HOOK_DEFAULTS.policy,
        config.cache ? new DocCache(config.cache.dir, docsUntil) : undefined,
      );
      mark('policy');
      return decide(ctx, state.id, policy, config, deadline.signal);
    })();
    outcome = await Promise.race([work, whenAborted(deadline.signal)]);
  } catch (err) {
    const e = toSigguardError(err);
    outcome = { decision: 'deny', code: e.code, reason: e.message };
  } finally {
    deadline.clear();
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
  // the annotation and the state are the pod's and the runtime's words: one line, no control characters
  const subject = oneLine(
    imageName ? verdictSubject({ image: imageName, digest: outcome.digest }) : `container ${state?.id ?? '(unknown)'}`,
  );
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
    detailCode: outcome.detailCode,
    scope: outcome.scope,
    signer: outcome.signer,
    trustRoot: scopeTrustRoots(policy, outcome.scope),
    cache: outcome.cache,
    durationMs: Math.round(process.uptime() * 1000), // since the process started
  };
  mark('decided');
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
