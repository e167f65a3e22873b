/**
 * The whole decision for one image: policy scope, digest, signature discovery,
 * verification. Errors on the way (registry down, bad content, deadline) are a
 * denial with their reason code: nothing is let in on an error.
 */
import { discoverAttestations } from '../discovery/attestations.js';
import { mark } from '../trace.js';
import { discoverBundles } from '../discovery/bundle.js';
import { msLeft } from '../deadline.js';
import { discoverLegacy } from '../discovery/legacy.js';
import type { Discovery, FoundSignature } from '../discovery/types.js';
import { ReasonCode, SigguardError, toSigguardError } from '../errors.js';
import type { Policy, Requirement, SigstoreAttestedRequirement } from '../policy/types.js';
import type { SignatureFormat } from '../policy/schema.js';
import { type ScopeDecision, scopeVerdict } from './scope-verdict.js';
import { type Budget, keepHeapDown, withinBudget } from '../registry/budget.js';
import { deniedDigest, denialReason, refuseDenied } from '../policy/deny-digests.js';
import { selectRequirements } from '../policy/select.js';
import { type ImageReference, formatReference, withDefaultTag } from '../reference/reference.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';
import { isIndexMediaType } from '../registry/oci-schema.js';
import type { Platform } from '../registry/platform.js';
import { type Selection, selectManifest } from './select-manifest.js';
import { type RequirementContext, evaluateRequirement } from './requirements/index.js';
import type { PreparedSignature } from './requirements/prepare.js';
import { fastEligible, prepareAllFast } from './requirements/prepare-fast.js';
import { warmWhileWaiting } from './warm-up.js';
import type { AttestationReport, RequirementReport, SignatureReport, Verdict } from './types.js';

export interface VerifyOptions {
  policy: Policy;
  client: RegistryClient;
  platform: Platform;
  /** May a tag be resolved to a digest at the registry? (`check`: yes; the hook: per policy.) */
  allowTagResolution: boolean;
  /**
   * The reference signedIdentity is judged against, where it differs from the one fetched
   * (the hook pins a tag to the digest the node runs, but the pod named the tag).
   */
  intended?: ImageReference;
  /** Counts registry requests, for the verdict. */
  requestCount: () => number;
  /** Which entry of an index runs (default: containerd's choice for `platform`). */
  selection?: Selection;
  /** The scope decision for (ref, intended), where the caller made it already (the hook): made once per verification. */
  scoped?: ScopeDecision;
}

async function fetchImageManifest(client: RegistryClient, ref: ImageReference, allowTag: boolean): Promise<FetchedManifest> {
  const named = withDefaultTag(ref);
  if (named.digest === undefined && !allowTag) {
    throw new SigguardError(
      ReasonCode.TAG_NOT_RESOLVABLE,
      `${formatReference(named)} names a tag, not a digest, and the policy does not allow resolving tags at the registry (tagResolution: never)`,
    );
  }
  const reference = named.digest ?? named.tag!;
  const manifest = await client.getManifest(ref, reference);
  if (manifest === undefined) {
    throw new SigguardError(ReasonCode.IMAGE_NOT_FOUND, `${formatReference(named)} not found in the registry`);
  }
  return manifest;
}

async function discoverSubject(
  client: RegistryClient,
  repo: ImageReference,
  subject: string,
  formats: Set<SignatureFormat>,
): Promise<Discovery> {
  const jobs: Array<Promise<Discovery>> = [];
  if (formats.has('legacy')) jobs.push(discoverLegacy(client, repo, subject));
  if (formats.has('bundle')) jobs.push(discoverBundles(client, repo, subject));
  const all = await Promise.all(jobs);
  return { signatures: all.flatMap((d) => d.signatures), unreadable: all.flatMap((d) => d.unreadable) };
}

/** The signatures of every subject, in subject order; `early`: one subject's discovery already under way. */
async function discover(
  client: RegistryClient,
  repo: ImageReference,
  subjects: string[],
  formats: Set<SignatureFormat>,
  early?: { subject: string; found: Promise<Discovery> },
): Promise<Discovery> {
  const all = await Promise.all(subjects.map((s) => (s === early?.subject ? early.found : discoverSubject(client, repo, s, formats))));
  return { signatures: all.flatMap((d) => d.signatures), unreadable: all.flatMap((d) => d.unreadable) };
}

/**
 * A reference by digest names the first subject before its manifest is read: its signatures are
 * looked up meanwhile, which takes a registry round trip off the cold path. The same requests as
 * after the manifest, in the same budget; where the manifest then fails, they were for nothing
 * (and their errors are the discovery's own: unreadable artifacts, never an allow).
 */
function discoverEarly(client: RegistryClient, ref: ImageReference, formats: Set<SignatureFormat>) {
  if (ref.digest === undefined || formats.size === 0) return undefined;
  const found = discoverSubject(client, ref, ref.digest, formats);
  found.catch(() => {}); // awaited below, unless the manifest fails first
  return { subject: ref.digest, found };
}

/** The attestations every sigstoreAttested requirement may read: their formats, predicate types and the largest cap. */
function discoverAttested(client: RegistryClient, repo: ImageReference, subjects: string[], reqs: SigstoreAttestedRequirement[]) {
  const formats = new Set(reqs.flatMap((r) => r.signatureFormats));
  const wanted = { predicateTypes: new Set(reqs.map((r) => r.predicateType)), maxBytes: Math.max(...reqs.map((r) => r.maxBytes)) };
  return discoverAttestations(client, repo, subjects, formats, wanted);
}

function* oneByOne(
  found: FoundSignature[],
  budget: Budget,
  prepareSignature: (f: FoundSignature) => PreparedSignature,
): Generator<PreparedSignature> {
  for (const f of found) {
    budget.checkpoint();
    keepHeapDown(budget);
    yield prepareSignature(f);
  }
}

/**
 * How the found signatures are read: by the fast path (requirements/prepare-fast.ts) where it
 * decides every one of them, else by the full path, whose code (@sigstore/*) loads only then.
 */
async function signatureReader(requirements: Requirement[], found: FoundSignature[], budget: Budget) {
  const between = () => {
    budget.checkpoint();
    keepHeapDown(budget);
  };
  const fast = fastEligible(requirements) ? prepareAllFast(found, between) : undefined;
  mark(fast !== undefined ? 'signatures: fast path' : 'signatures: full path');
  if (fast !== undefined) return () => fast.values();
  const { prepareSignature } = await import('./requirements/prepare.js');
  return () => oneByOne(found, budget, prepareSignature);
}

/** The image's manifest as named, and the manifest that runs (containerd's choice, or the runtime's image id) with its config. */
async function manifestThatRuns(ref: ImageReference, opts: VerifyOptions) {
  const manifest = await fetchImageManifest(opts.client, ref, opts.allowTagResolution);
  const selection = opts.selection ?? { kind: 'containerd' as const, platform: opts.platform };
  const selected = await selectManifest(opts.client, ref, manifest, isIndexMediaType(manifest.mediaType, manifest.json), selection);
  return { manifest, selected };
}

/** Decides for one image reference (as the user or the pod spec named it). */
export async function verifyImage(ref: ImageReference, opts: VerifyOptions): Promise<Verdict> {
  const decided = opts.scoped ?? scopeVerdict(ref, opts.intended ?? ref, opts.policy);
  const { image, scope, requirements } = decided;
  const reports = [...decided.reports];
  const verdict = (v: Omit<Verdict, 'image' | 'scope' | 'registryRequests'>): Verdict => ({
    image,
    scope,
    ...v,
    ...withinBudget(opts.client.budget, v),
    registryRequests: opts.requestCount(),
  });
  // revoked content is refused whatever the scope says, insecureAcceptAnything included
  const revoked = deniedDigest(opts.policy.denyDigests, [ref.digest, opts.intended?.digest]);
  if (revoked !== undefined)
    return verdict({
      digest: ref.digest,
      decision: 'deny',
      code: ReasonCode.DIGEST_DENIED,
      reason: denialReason(revoked),
      requirements: reports,
      signatures: [],
    });
  if (decided.verdict?.decision === 'allow' && opts.policy.denyDigests.size > 0 && (ref.digest !== undefined || opts.allowTagResolution)) {
    // accepted by scope, but revocations apply whatever the scope: the digests behind the name
    // (the tag's, the platform manifest's) are looked up, and an error refuses as anywhere else
    try {
      const { manifest, selected } = await manifestThatRuns(ref, opts);
      refuseDenied(opts.policy.denyDigests, [manifest.digest, ...selected.nested, selected.platformDigest]);
    } catch (err) {
      const e = toSigguardError(err);
      return verdict({ digest: ref.digest, decision: 'deny', code: e.code, reason: e.message, requirements: reports, signatures: [] });
    }
  }
  if (decided.verdict) return { ...decided.verdict, registryRequests: opts.requestCount() };
  const sigReqs = requirements.filter((r): r is Extract<Requirement, { type: 'sigstoreSigned' }> => r.type === 'sigstoreSigned');
  const attReqs = requirements.filter((r): r is SigstoreAttestedRequirement => r.type === 'sigstoreAttested');

  let digest = ref.digest;
  let platform: string | undefined;
  let configDigest: string | undefined;
  // set once the verdict is made: the warm-up's steps still to come then do nothing (the deadline's
  // signal is not aborted by its clear(), so it alone does not say the verification is over)
  let ended = false;
  try {
    const formats = new Set(sigReqs.flatMap((r) => r.signatureFormats));
    const early = discoverEarly(opts.client, ref, formats);
    const fetched = manifestThatRuns(ref, opts);
    warmWhileWaiting(requirements, () => ended || opts.client.budget.signal.aborted);
    const { manifest, selected } = await fetched;
    mark('manifest');
    digest = manifest.digest;
    platform = selected.platformDigest;
    configDigest = selected.configDigest;
    const nested = selected.nested;
    refuseDenied(opts.policy.denyDigests, [digest, ...nested, platform]);
    const subjects = [digest, ...selected.nested, ...(platform === undefined ? [] : [platform])];
    const [found, attestations] = await Promise.all([
      discover(opts.client, ref, subjects, formats, early),
      attReqs.length > 0 ? discoverAttested(opts.client, ref, subjects, attReqs) : undefined,
    ]);
    mark('discovered');
    // parsed one at a time, per requirement: a verification holds what it fetched (the budget), never all of it parsed
    const ctx: RequirementContext = {
      signatures: await signatureReader(requirements, found.signatures, opts.client.budget),
      unreadable: found.unreadable,
      intended: opts.intended ?? ref,
      checkpoint: opts.client.budget.checkpoint,
      ...(attestations ? { attestations } : {}),
      timeLeft: () => msLeft(opts.client.budget.signal),
      keepHeapDown: () => keepHeapDown(opts.client.budget),
    };
    const attested: AttestationReport[] = [];
    const signatures: SignatureReport[] = [];
    let signer: string | undefined;
    const failures: RequirementReport[] = [];
    let listed = false;
    for (let i = 0; i < requirements.length; i++) {
      const req = requirements[i]!;
      const { report, judged, attestations: judgedAttestations } = await evaluateRequirement(req, ctx);
      reports[i] = report;
      if (judgedAttestations) attested.push(...judgedAttestations);
      // the signatures as the first sigstoreSigned requirement judged them
      if (!listed && req.type === 'sigstoreSigned') {
        signatures.push(...judged);
        listed = true;
      }
      if (report.satisfied) signer ??= report.signer;
      else failures.push(report);
    }
    const extra = {
      ...(platform === undefined ? {} : { platformDigest: platform }),
      ...(nested.length > 0 ? { nestedDigests: nested } : {}),
      configDigest,
      ...(attReqs.length > 0 ? { attestations: attested } : {}),
    };
    if (failures.length > 0) {
      const first = failures[0]!;
      return verdict({
        digest,
        decision: 'deny',
        code: first.code,
        reason: first.reason,
        ...(first.detailCode ? { detailCode: first.detailCode } : {}),
        requirements: reports,
        signatures,
        ...extra,
      });
    }
    const how = reports
      .filter((r) => r.satisfied && r.signer)
      .map((r) =>
        r.type === 'sigstoreAttested'
          ? `${r.satisfiedBy} attestation ${r.predicateType} by ${r.signer}`
          : `${r.satisfiedBy} signature by ${r.signer}`,
      )
      .join('; ');
    return verdict({
      digest,
      decision: 'allow',
      code: ReasonCode.ALLOWED,
      reason: `verified: ${how}`,
      requirements: reports,
      signatures,
      ...(signer ? { signer } : {}),
      ...extra,
    });
  } catch (err) {
    const e = toSigguardError(err);
    return verdict({
      digest,
      decision: 'deny',
      code: e.code,
      reason: e.message,
      requirements: reports,
      signatures: [],
      ...(platform ? { platformDigest: platform } : {}),
      ...(configDigest ? { configDigest } : {}),
    });
  } finally {
    ended = true;
  }
}

export { selectRequirements };
export { verdictSubject } from './subject.js';
