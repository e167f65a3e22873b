/**
 * `sigguard hook`: the OCI hook. OCI state in on stdin, exit 0 to allow, exit
 * 1 with ONE line on stderr to refuse (runc puts it into its error, kubelet
 * into the pod's events). Every path ends in a decision-log line; every error,
 * timeout or crash is a refusal.
 */
import { statSync } from 'node:fs';
import { cacheKey } from '../cache/key.js';
import { singleFlight } from '../cache/single-flight.js';
import { DocCache } from '../cache/doc-cache.js';
import { type CacheEntry, VerdictStore } from '../cache/store.js';
import { CACHE_DEFAULTS, isFresh, staleAllowFor } from '../cache/verdict-cache.js';
import { type Config, loadConfig } from '../config/load.js';
import { verdictSubject } from '../engine/subject.js';
import type { Verdict } from '../engine/types.js';
import { type ScopeDecision, scopeVerdict } from '../engine/scope-verdict.js';
import { ExitCode, ReasonCode, SigguardError, oneLine, toSigguardError } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { deniedDigest, denialReason } from '../policy/deny-digests.js';
import { type ImageReference, formatReference, parseReference, withDefaultTag, withDigest } from '../reference/reference.js';
import { parse, parseSeconds } from '../args.js';
import { type ContainerContext, readContext } from './annotations.js';
import { bindToNode, cachedFor, selectionFor } from './binding.js';
import type { Selection } from '../engine/select-manifest.js';
import { triage } from './decide.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { mark } from '../trace.js';
import { type DecisionRecord, writeDecision } from './decision-log.js';
import { type OciState, parseState, readAnnotations, readStdin } from './state.js';

export { HOOK_DEFAULTS };

interface Outcome {
  decision: 'allow' | 'deny';
  code: ReasonCode | string;
  reason: string;
  /** UNTRUSTED_SIGNER, MALFORMED_SIGNATURE: which check refused (src/verify/detail.ts). */
  detailCode?: string;
  image?: string;
  digest?: string;
  scope?: string;
  signer?: string;
  cache?: 'hit' | 'miss' | 'stale';
  /** The config of the verified manifest, bound to the node's image id. */
  configDigest?: string;
}

function fromVerdict(v: Verdict, cache?: Outcome['cache']): Outcome {
  return {
    decision: v.decision,
    code: v.code,
    reason: v.reason,
    ...(v.detailCode ? { detailCode: v.detailCode } : {}),
    image: v.image,
    ...(v.digest ? { digest: v.digest } : {}),
    scope: v.scope,
    ...(v.signer ? { signer: v.signer } : {}),
    ...(cache ? { cache } : {}),
    ...(v.configDigest ? { configDigest: v.configDigest } : {}),
  };
}

function fromEntry(e: CacheEntry, cache: Outcome['cache']): Outcome {
  return { decision: e.decision, code: e.code, reason: e.reason, ...(e.detailCode ? { detailCode: e.detailCode } : {}), image: e.image, digest: e.digest, scope: e.scope, ...(e.signer ? { signer: e.signer } : {}), ...(cache ? { cache } : {}), ...(e.configDigest ? { configDigest: e.configDigest } : {}) };
}

/** A cached verdict, unless a digest it involves (the platform manifest of an index) has been revoked since. */
function fromCached(e: CacheEntry, cache: Outcome['cache'], policy: Policy): Outcome {
  const revoked = deniedDigest(policy.denyDigests, [e.digest, e.platformDigest]);
  if (revoked === undefined) return fromEntry(e, cache);
  return { ...fromEntry(e, cache), decision: 'deny', code: ReasonCode.DIGEST_DENIED, reason: denialReason(revoked) };
}

function toEntry(key: string, v: Verdict, digest: string): CacheEntry {
  return {
    key,
    decision: v.decision,
    code: v.code,
    reason: v.reason,
    ...(v.detailCode ? { detailCode: v.detailCode } : {}),
    image: v.image,
    digest,
    ...(v.platformDigest ? { platformDigest: v.platformDigest } : {}),
    ...(v.configDigest ? { configDigest: v.configDigest } : {}),
    scope: v.scope,
    ...(v.signer ? { signer: v.signer } : {}),
    verifiedAt: Date.now(),
  };
}

/** The registry verification: loaded only on a cache miss, so a warm start never evaluates the registry or sigstore code. */
async function verify(ref: ImageReference, intended: ImageReference, config: Config, policy: Policy, deadlineMs: number, selection: Selection, scoped: ScopeDecision): Promise<Verdict> {
  const { verifyWithConfig } = await import('../engine/session.js');
  return verifyWithConfig(ref, { config, policy, deadlineMs, allowTagResolution: policy.tagResolution === 'registry', intended, selection, scoped });
}

function socketProblem(socket: string): string | undefined {
  try {
    return statSync(socket).isSocket() ? undefined : 'not a socket';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such socket' : (err as Error).message;
  }
}

/**
 * What the container really runs, asked of the runtime over CRI: the image as the pod named
 * it and the digest of the content on the node (a tag names no content, and resolving it at
 * the registry now is a time-of-check/time-of-use hole). Where the runtime cannot be asked,
 * an annotation that names a digest is used as it is; a bare tag is refused unless the policy
 * explicitly says `tagResolution: registry`. The runtime's image id (the config digest of what
 * runs) comes along where the runtime tells it; without it only a single manifest is verified.
 */
async function resolveOnNode(
  ctx: ContainerContext,
  containerId: string,
  annotated: ImageReference,
  config: Config,
  policy: Policy,
  timeoutMs: number,
): Promise<{ named: ImageReference; pinned: ImageReference; imageId?: string }> {
  if (ctx.runtime === 'none') return { named: annotated, pinned: annotated };
  const socket = ctx.runtime === 'containerd' ? config.node.containerdSocket : config.node.crioSocket;
  const fallback = (err: unknown): { named: ImageReference; pinned: ImageReference } => {
    const unreachable = err instanceof SigguardError && err.code === ReasonCode.NODE_LOOKUP_FAILED;
    if (unreachable && annotated.digest !== undefined) return { named: annotated, pinned: annotated };
    if (unreachable && policy.tagResolution === 'registry') return { named: annotated, pinned: annotated };
    throw err;
  };
  // no socket, no runtime to ask: say so without loading the HTTP/2 stack (~15 ms)
  const missing = socketProblem(socket);
  if (missing) return fallback(new SigguardError(ReasonCode.NODE_LOOKUP_FAILED, `cannot ask the runtime at ${socket}: ${missing}`));
  const { criNodeImages } = await import('./cri-images.js');
  const { imageForContainer, digestForImage, imageIdForImage } = await import('./node-digest.js');
  const node = criNodeImages(socket, timeoutMs);
  try {
    if (ctx.runtime === 'containerd') {
      const found = await imageForContainer(node, containerId, annotated);
      return { named: found.named, pinned: withDigest(found.named, found.digest), ...(found.imageId ? { imageId: found.imageId } : {}) };
    }
    if (annotated.digest !== undefined) {
      // CRI-O, a digest named: only which image (which entry of an index) runs is asked
      const imageId = await imageIdForImage(node, ctx.imageId ?? formatReference(annotated));
      return { named: annotated, pinned: annotated, ...(imageId ? { imageId } : {}) };
    }
    const found = await digestForImage(node, ctx.imageId ?? formatReference(annotated), annotated);
    return { named: annotated, pinned: withDigest(annotated, found.digest), ...(found.imageId ? { imageId: found.imageId } : {}) };
  } catch (err) {
    return fallback(err);
  } finally {
    node.close();
  }
}

async function decide(ctx: ContainerContext, containerId: string, policy: Policy, config: Config, deadlineAt: number): Promise<Outcome> {
  const t = triage(ctx, policy);
  if (t.action !== 'verify') return { decision: t.action, code: t.code, reason: t.reason };
  const annotated = parseReference(t.image);
  const remaining = () => Math.max(1, deadlineAt - Date.now());
  const { named, pinned: ref, imageId } = await resolveOnNode(ctx, containerId, annotated, config, policy, remaining());
  mark('node');
  // what is verified is bound to what runs: the node's image id picks or checks the manifest
  const selection = selectionFor(ctx.runtime, imageId, config.platform);
  const bound = (o: Outcome): Outcome => bindToNode(o, imageId);
  // revoked content first: no scope (insecureAcceptAnything included), cached or stale allow outlives a revocation
  const revoked = deniedDigest(policy.denyDigests, [ref.digest, named.digest, annotated.digest]);
  if (revoked !== undefined) {
    return { decision: 'deny', code: ReasonCode.DIGEST_DENIED, reason: denialReason(revoked), image: formatReference(withDefaultTag(named)), ...(ref.digest ? { digest: ref.digest } : {}) };
  }
  const scoped = scopeVerdict(ref, named, policy);
  const { scope, requirements, verdict: byScope } = scoped;
  // accept or reject by scope alone: no registry, no sigstore code, nothing to cache
  if (byScope) return fromVerdict(byScope);
  const digest = ref.digest;
  const settings = config.cache;
  const store = settings ? new VerdictStore(settings.dir) : undefined;
  if (digest === undefined || settings === undefined || store === undefined || !store.ensureDir()) {
    return bound(fromVerdict(await verify(ref, named, config, policy, remaining(), selection, scoped)));
  }
  const key = cacheKey(named, digest, scope, requirements, config.platform);
  const waitingSince = Date.now();
  const cached = cachedFor(store.read(key), imageId);
  if (cached && isFresh(cached, Date.now(), settings)) return bound(fromCached(cached, 'hit', policy));

  // The leader stores its verdict before it releases the lock, so a follower never finds the
  // lock gone and the cache still empty.
  const verifyAndStore = async (): Promise<Outcome> => {
    const verdict = await verify(ref, named, config, policy, remaining(), selection, scoped);
    if (verdict.decision === 'deny') {
      const stale = staleAllowFor(cached, verdict.code, Date.now(), settings);
      if (stale) {
        const served = fromCached(stale, 'stale', policy);
        if (served.decision === 'deny') return served;
        return {
          ...served,
          reason: `${verdict.reason}; allowed by the verdict of ${new Date(stale.verifiedAt).toISOString()} (stale-if-error)`,
        };
      }
    }
    try {
      store.write(toEntry(key, verdict, digest));
    } catch {
      /* a cache that cannot be written costs speed, never the decision */
    }
    return bound(fromVerdict(verdict, 'miss'));
  };
  const flight = await singleFlight(
    settings.dir,
    key,
    // wait for another hook's verdict for at most half of what is left, then verify ourselves
    waitingSince + remaining() / 2,
    () => {
      const e = cachedFor(store.read(key), imageId);
      return e && e.verifiedAt >= waitingSince && isFresh(e, Date.now(), settings) ? e : undefined;
    },
    verifyAndStore,
  );
  return flight.kind === 'followed' ? bound(fromCached(flight.verdict, 'hit', policy)) : flight.result;
}

export async function runHook(argv: string[], stdin: () => NodeJS.ReadableStream): Promise<number> {
  // The deadline counts from the process's own start, not from here: the runtime's hook
  // timeout (10 s) runs from the exec, and on a loaded node starting the process alone can
  // take seconds. Counting from here would let the runtime kill the hook before it decides.
  const started = Math.min(Date.now(), Math.round(performance.timeOrigin));
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
  const overall = new AbortController();
  const timer = setTimeout(() => overall.abort(), Math.max(1, started + deadlineMs - Date.now()));
  try {
    const work = (async (): Promise<Outcome> => {
      state = parseState(await readStdin(stdin));
      mark('state');
      ctx = readContext(readAnnotations(state));
      // the configuration first: it says where validated documents are cached
      const config = await loadConfig(values.config, HOOK_DEFAULTS.config, new DocCache(CACHE_DEFAULTS.dir));
      mark('config');
      policy = await loadPolicy(values.policy ?? HOOK_DEFAULTS.policy, config.cache ? new DocCache(config.cache.dir) : undefined);
      mark('policy');
      return decide(ctx, state.id, policy, config, started + deadlineMs);
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
  // the annotation and the state are the pod's and the runtime's words: one line, no control characters
  const subject = oneLine(imageName ? verdictSubject({ image: imageName, digest: outcome.digest }) : `container ${state?.id ?? '(unknown)'}`);
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
    cache: outcome.cache,
    durationMs: Math.round(performance.now()), // since the process started
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
