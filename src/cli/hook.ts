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
import { startDeadline, whenAborted } from '../deadline.js';
import type { Outcome } from '../engine/cached-verify.js';
import { verdictSubject } from '../engine/subject.js';
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { scopeTrustRoots } from '../policy/trust-roots.js';
import type { Policy } from '../policy/types.js';
import { formatReference, parseReference, withDefaultTag } from '../reference/reference.js';
import { parse, parseSeconds } from '../args.js';
import { type ContainerContext, readContext } from '../hook/annotations.js';
import { askAgent } from '../hook/ask-agent.js';
import { type StartDocuments, decideStart } from '../hook/decide-start.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { mark } from '../trace.js';
import { type DecisionRecord, writeDecision } from '../hook/decision-log.js';
import { type OciState, parseState, readAnnotations, readStdin } from '../hook/state.js';

/** Thrown to end the hook's own decision where the agent is to be asked (never leaves runHook). */
class AgentWork {}

/**
 * How long the hook waits for the agent's answer before it decides what it has at hand itself
 * (see runHook). Far above the agent's answer to a start it decided before (~1-2 ms), so a warm
 * start is the agent's; short enough that a stuck agent costs a warm start no more than this.
 */
export const AGENT_GRACE_MS = 50;

/** Resolves to undefined after `ms` (its timer never keeps the process alive). */
function graceOver(ms: number): Promise<undefined> {
  return new Promise((resolve) => {
    setTimeout(() => resolve(undefined), ms).unref();
  });
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
    {
      config: { type: 'string' },
      policy: { type: 'string' },
      log: { type: 'string' },
      deadline: { type: 'string' },
      agent: { type: 'string' },
    },
    'hook',
  );
  if (positionals.length > 0) throw new SigguardError(ReasonCode.USAGE, `hook takes no arguments (got "${positionals[0]}")`);
  const deadlineMs = parseSeconds(values.deadline, '--deadline', HOOK_DEFAULTS.deadlineSeconds) * 1000;
  const logFile = values.log ?? HOOK_DEFAULTS.log;

  let state: OciState | undefined;
  let ctx: ContainerContext | undefined;
  let policy: Policy | undefined;
  let outcome: Outcome;
  /** Decided by the agent (`--agent`): its trust root for the log; else why it was not asked or not used. */
  let byAgent: { trustRoot?: string } | undefined;
  let agentNotUsed: string | undefined;
  // the one deadline: its timer aborts the signal that CRI, the registry and verification
  // run under, and the race below refuses even if some promise never settles
  const deadline = startDeadline(started + deadlineMs, `hook deadline of ${deadlineMs / 1000} s exceeded`);
  try {
    const work = (async (): Promise<Outcome> => {
      const stateText = await readStdin(stdin);
      const docs: StartDocuments = { config: values.config, policy: values.policy ?? HOOK_DEFAULTS.policy, endsAt: started + deadlineMs };
      // with an agent: it is asked first, as soon as the state is read (it parses the state itself;
      // the hook's own parsing, for its log, runs while the agent decides). It has the documents,
      // the runtime's connection and the verdicts at hand, and answers a start it has decided
      // before in ~2 ms, where the hook's own way to the same verdict (documents, the runtime asked
      // over a new connection, the cache) takes ~5 ms of its process.
      const socket = values.agent;
      const abandon = new AbortController();
      const asking =
        socket === undefined
          ? undefined
          : askAgent(
              socket,
              { state: stateText, ...(docs.config ? { config: docs.config } : {}), policy: docs.policy },
              docs.endsAt,
              abandon.signal,
            );
      // one turn of the event loop: the connect completes there and the request goes out with it
      // (h2/unix-socket.ts sends what was written before); parsing first would hold it back
      if (asking !== undefined) await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        state = parseState(stateText);
        mark('state');
        ctx = readContext(readAnnotations(state));
      } catch (err) {
        // asked already: the log says its answer was not used (as for every start of a hook with --agent)
        if (asking !== undefined) agentNotUsed = 'the hook refused the state itself';
        abandon.abort();
        throw err;
      }
      const containerId = state.id;
      const onPolicy = (p: Policy) => {
        policy = p;
      };
      const local = (beforeWork?: () => void) =>
        decideStart(ctx!, containerId, docs, deadline.signal, { exitsAfter: true, onPolicy, ...(beforeWork ? { beforeWork } : {}) });
      if (asking === undefined) return local();
      // An agent that has not answered within AGENT_GRACE_MS (busy verifying, stuck) leaves the hook
      // to decide what it has at hand (validated documents, a fresh verdict); work not done before
      // (a validation, a verification) is left to the agent, and done here only if the agent does
      // not answer it with an allow
      let asked = await Promise.race([asking, graceOver(AGENT_GRACE_MS)]);
      if (asked === undefined) {
        const needsWork = new AgentWork();
        try {
          const decided = await local(() => {
            throw needsWork;
          });
          agentNotUsed = `the agent had not answered within ${AGENT_GRACE_MS} ms`;
          abandon.abort();
          return decided;
        } catch (err) {
          if (err !== needsWork) {
            agentNotUsed = `the agent had not answered within ${AGENT_GRACE_MS} ms`;
            abandon.abort();
            throw err;
          }
        }
        asked = await asking;
      }
      if ('allow' in asked) {
        byAgent = asked.trustRoot ? { trustRoot: asked.trustRoot } : {};
        return asked.allow;
      }
      agentNotUsed = asked.notUsed;
      // decided again from the start: nothing of the first attempt (its policy's mode) carries over
      policy = undefined;
      return local();
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
    trustRoot: byAgent ? byAgent.trustRoot : scopeTrustRoots(policy, outcome.scope),
    agent: byAgent ? 'decided' : agentNotUsed !== undefined ? oneLine(`not used: ${agentNotUsed}`) : undefined,
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
