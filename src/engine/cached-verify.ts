/**
 * One image decided through the node-local verdict cache: revoked digests first, then the
 * policy's scope, then a fresh cached verdict, else one verification for all concurrent
 * callers (single flight across processes), stored before the lock is let go, with an allow
 * that is stale but younger than maxStale standing in while the registry cannot be reached
 * (stale-if-error). Every verdict, cached or fresh, is bound to the image id the runtime
 * reports (engine/binding.ts). The hook decides every start this way, and `check --cache`.
 *
 * Loaded on every hook start: a cache hit needs no registry, sigstore, zod or YAML code, so
 * the verification itself (engine/session.ts) is imported only when one runs.
 */
import { cacheKey } from '../cache/key.js';
import { singleFlight } from '../cache/single-flight.js';
import { type CacheEntry, VerdictStore } from '../cache/store.js';
import { type CacheSettings, isFresh, staleAllowFor } from '../cache/verdict-cache.js';
import type { Config } from '../config/load.js';
import { type Deadline, deadlineOf, startInnerDeadline } from '../deadline.js';
import { ReasonCode } from '../errors.js';
import { deniedDigest, denialReason } from '../policy/deny-digests.js';
import type { Policy } from '../policy/types.js';
import { type ImageReference, formatReference, withDefaultTag } from '../reference/reference.js';
import type { RequestRecord } from '../registry/client.js';
import { mark } from '../trace.js';
import { bindToNode, cachedFor } from './binding.js';
import { type ScopeDecision, scopeVerdict } from './scope-verdict.js';
import type { Selection } from './select-manifest.js';
import type { Verdict } from './types.js';

/** A decision as the hook logs it and `check --cache` prints it: a verdict's summary, or a cached one's. */
export interface Outcome {
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

export interface ImageToDecide {
  /** What is verified: pinned to the digest that runs, where known. */
  ref: ImageReference;
  /** The reference as the pod (or the user) named it: signedIdentity and the cache key are about it. */
  named: ImageReference;
  /** Other digests that name the same start (the pod's annotation): refused too if revoked. */
  alsoNamed?: Array<string | undefined>;
  /** The runtime's image id (the config digest of what runs), where it told one. */
  imageId?: string;
  /** Which entry of an index runs (see VerifyOptions.selection). */
  selection?: Selection;
}

export interface CachedVerifyOptions {
  config: Config;
  policy: Policy;
  /** The command's deadline (src/deadline.ts): the verification and the single-flight wait end by it. */
  signal: AbortSignal;
  /** The verdict cache; undefined: every decision is a fresh verification. */
  cache: CacheSettings | undefined;
  allowTagResolution: boolean;
  onRequest?: (r: RequestRecord) => void;
  /** See SessionOptions.exitsAfter (engine/session.ts). */
  exitsAfter?: boolean;
  /**
   * Called when a verification is needed (no fresh verdict, nor a decision by scope), before any
   * lock is taken; what it throws ends the decision (the hook asking the node's agent instead).
   */
  beforeVerify?: () => void;
  /**
   * false: a deny is not kept in the verdict cache (the agent's verifications for hooks: the hook
   * verifies a deny again itself, src/agent/verify-server.ts, and keeps what it finds).
   */
  keepDenials?: boolean;
}

export interface Decided {
  outcome: Outcome;
  /** The verification made for this decision, when one was (not on a cache hit, nor by scope alone). */
  verdict?: Verdict;
}

/** How long a follower waits for another process's verdict when the signal has no deadline. */
const FOLLOW_WITHOUT_DEADLINE_MS = 30_000;

export function fromVerdict(v: Verdict, cache?: Outcome['cache']): Outcome {
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
  return {
    decision: e.decision,
    code: e.code,
    reason: e.reason,
    ...(e.detailCode ? { detailCode: e.detailCode } : {}),
    image: e.image,
    digest: e.digest,
    scope: e.scope,
    ...(e.signer ? { signer: e.signer } : {}),
    ...(cache ? { cache } : {}),
    ...(e.configDigest ? { configDigest: e.configDigest } : {}),
  };
}

/** A cached verdict, unless a digest it involves (the platform manifest of an index) has been revoked since. */
function fromCached(e: CacheEntry, cache: Outcome['cache'], policy: Policy): Outcome {
  const revoked = deniedDigest(policy.denyDigests, [e.digest, ...(e.nestedDigests?.split(',') ?? []), e.platformDigest]);
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
    ...(v.nestedDigests?.length ? { nestedDigests: v.nestedDigests.join(',') } : {}),
    ...(v.configDigest ? { configDigest: v.configDigest } : {}),
    scope: v.scope,
    ...(v.signer ? { signer: v.signer } : {}),
    verifiedAt: Date.now(),
  };
}

/**
 * A deadline STALE_RESERVE_SHARE earlier than the command's (at least STALE_RESERVE_MIN_MS), aborted
 * with it; undefined when the command has no deadline or too little time left to split.
 */
const STALE_RESERVE_SHARE = 0.15;
const STALE_RESERVE_MIN_MS = 300;
function earlierDeadline(parent: AbortSignal): Deadline | undefined {
  const at = deadlineOf(parent);
  if (at === undefined || parent.aborted) return undefined;
  const left = at - Date.now();
  const reserve = Math.max(STALE_RESERVE_MIN_MS, left * STALE_RESERVE_SHARE);
  if (left <= reserve * 2) return undefined;
  return startInnerDeadline(
    parent,
    at - reserve,
    `verification took longer than ${Math.round(left - reserve)} ms (the rest kept for stale-if-error)`,
  );
}

/** The registry verification: loaded only when one runs, so a cache hit never evaluates the registry or sigstore code. */
async function verify(image: ImageToDecide, opts: CachedVerifyOptions, scoped: ScopeDecision): Promise<Verdict> {
  const { verifyWithConfig } = await import('./session.js');
  return verifyWithConfig(image.ref, {
    config: opts.config,
    policy: opts.policy,
    signal: opts.signal,
    allowTagResolution: opts.allowTagResolution,
    intended: image.named,
    ...(image.selection ? { selection: image.selection } : {}),
    scoped,
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    ...(opts.exitsAfter ? { exitsAfter: true } : {}),
  });
}

export async function cachedVerify(image: ImageToDecide, opts: CachedVerifyOptions): Promise<Decided> {
  const { ref, named, imageId } = image;
  const { policy } = opts;
  const bound = (o: Outcome): Outcome => bindToNode(o, imageId);
  // revoked content first: no scope (insecureAcceptAnything included), cached or stale allow outlives a revocation
  const revoked = deniedDigest(policy.denyDigests, [ref.digest, named.digest, ...(image.alsoNamed ?? [])]);
  if (revoked !== undefined) {
    return {
      outcome: {
        decision: 'deny',
        code: ReasonCode.DIGEST_DENIED,
        reason: denialReason(revoked),
        image: formatReference(withDefaultTag(named)),
        ...(ref.digest ? { digest: ref.digest } : {}),
      },
    };
  }
  const scoped = scopeVerdict(ref, named, policy);
  const { scope, requirements, verdict: byScope } = scoped;
  // accept or reject by scope alone: no registry, no sigstore code, nothing to cache
  if (byScope) return { outcome: fromVerdict(byScope) };
  const digest = ref.digest;
  const settings = opts.cache;
  const store = settings ? new VerdictStore(settings.dir) : undefined;
  if (digest === undefined || settings === undefined || store === undefined || !store.ensureDir()) {
    opts.beforeVerify?.();
    const verdict = await verify(image, opts, scoped);
    return { outcome: bound(fromVerdict(verdict)), verdict };
  }
  const key = cacheKey(named, digest, scope, requirements, opts.config.platform);
  const waitingSince = Date.now();
  const cached = cachedFor(store.read(key), imageId);
  if (cached && isFresh(cached, Date.now(), settings)) return { outcome: bound(fromCached(cached, 'hit', policy)) };
  opts.beforeVerify?.();

  // The leader stores its verdict before it releases the lock, so a follower never finds the
  // lock gone and the cache still empty.
  const verifyAndStore = async (): Promise<Decided> => {
    // With an allow on file that stale-if-error could serve, the verification ends a little
    // before the command does: a registry that times out then still leaves time to serve it.
    const early = staleAllowFor(cached, ReasonCode.DEADLINE_EXCEEDED, Date.now(), settings) ? earlierDeadline(opts.signal) : undefined;
    let verdict: Verdict;
    try {
      verdict = await verify(image, early ? { ...opts, signal: early.signal } : opts, scoped);
    } finally {
      early?.clear();
    }
    if (verdict.decision === 'deny') {
      const stale = staleAllowFor(cached, verdict.code, Date.now(), settings);
      if (stale) {
        const served = fromCached(stale, 'stale', policy);
        if (served.decision === 'deny') return { outcome: served, verdict };
        return {
          outcome: {
            ...served,
            reason: `${verdict.reason}; allowed by the verdict of ${new Date(stale.verifiedAt).toISOString()} (stale-if-error)`,
          },
          verdict,
        };
      }
    }
    // A verification that ran out of time says nothing about the image and, in a node-boot storm,
    // mostly tells of the node's own load: not kept, or it would refuse every start of the image
    // (and the followers waiting for this one) for denyBackoffSeconds.
    if (verdict.code !== ReasonCode.DEADLINE_EXCEEDED && (verdict.decision === 'allow' || opts.keepDenials !== false)) {
      try {
        store.write(toEntry(key, verdict, digest));
      } catch {
        /* a cache that cannot be written costs speed, never the decision */
      }
    }
    return { outcome: bound(fromVerdict(verdict, 'miss')), verdict };
  };
  // wait for another process's verdict (to its end when it ends before us, else for half of what
  // is left), then verify ourselves
  const endsAt = deadlineOf(opts.signal) ?? waitingSince + FOLLOW_WITHOUT_DEADLINE_MS;
  const flight = await singleFlight(
    settings.dir,
    key,
    endsAt,
    () => {
      // Any fresh entry is the leader's: the one read above was not fresh, and an entry only ages.
      // (Not "verified since we started waiting": the leader dates its verdict before it writes it,
      // so a start in between would miss it on the first read and again here, and verify twice.)
      const e = cachedFor(store.read(key), imageId);
      return e && isFresh(e, Date.now(), settings) ? e : undefined;
    },
    verifyAndStore,
  );
  mark(`flight ${flight.kind}`);
  return flight.kind === 'followed' ? { outcome: bound(fromCached(flight.verdict, 'hit', policy)) } : flight.result;
}
