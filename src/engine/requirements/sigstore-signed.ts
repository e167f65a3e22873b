/**
 * Judging one sigstoreSigned requirement against the signatures found: the
 * signer first (the crypto by a trusted key, or a certificate chained to the
 * trusted CA with its logs and timestamps, then its holder), then the digest
 * the signature names, then the identity (containers/image's order), and the
 * most telling failure as the reason when none holds.
 *
 * Each kind of trust (keys, keys with Rekor, fulcio, pki, keyless) is a signer
 * check; all but plain keys run src/verify/verifier.ts, the same checks
 * `sigguard verify-bundle` passes the Sigstore conformance suite with.
 */
import type { Bundle } from '@sigstore/bundle';
import type { SignedEntity } from '@sigstore/verify';
import type { FoundSignature, UnreadableSignature } from '../discovery/types.js';
import { ReasonCode } from '../errors.js';
import type { Requirement } from '../policy/types.js';
import { describeIdentity, identityMatches } from '../policy/identity.js';
import type { ImageReference } from '../reference/reference.js';
import { describeHolder } from '../policy/certificate-rules.js';
import { trustMaterial } from '../verify/authority.js';
import { bundleEntity, parseBundle, readBundleClaim } from '../verify/bundle.js';
import { MalformedSignature, legacyBundles, legacyEntity, legacyToBundle, readLegacyClaim } from '../verify/legacy.js';
import type { SignedClaim } from '../verify/payload.js';
import { signedByKey } from '../verify/trust.js';
import { type BundleArtifact, type CertificateOptions, verifyBundle } from '../verify/verifier.js';
import { VerifyDetail, unreadableDetail } from '../verify/detail.js';
import type { RequirementReport, SignatureReport, SignatureStatus } from './types.js';

type SigstoreRequirement = Extract<Requirement, { type: 'sigstoreSigned' }>;

/** What verifier.ts checks a signature as. */
export interface SignatureMaterial {
  /** Bundle JSON with public-key material (legacy) or the bundle itself. */
  keyBundle: unknown;
  /** Bundle JSON with the certificate chain (legacy: from the annotations), or the bundle itself; undefined when there is none. */
  certificateBundle: unknown;
  /** The signed bytes (legacy payload) or the statement's digest (bundles). */
  artifact: BundleArtifact;
  /** Why the certificate, Rekor or timestamp annotations of a legacy signature cannot be used. */
  problem: string | undefined;
}

/** A found signature, parsed once and shared by every requirement. */
export type PreparedSignature =
  | { found: FoundSignature; ok: true; claim: SignedClaim; entity: SignedEntity; material: SignatureMaterial }
  | { found: FoundSignature; ok: false; problem: string; detailCode: VerifyDetail };

export function prepareSignature(found: FoundSignature): PreparedSignature {
  try {
    if (found.format === 'legacy') {
      const claim = readLegacyClaim(found);
      const bundle = legacyToBundle(found);
      const { keyBundle, certificateBundle, problem } = legacyBundles(found);
      const material = { keyBundle, certificateBundle, artifact: { bytes: found.payload }, problem };
      return { found, ok: true, claim, entity: legacyEntity(found, bundle), material };
    }
    const bundle: Bundle = parseBundle(found);
    const claim = readBundleClaim(bundle);
    const json: unknown = JSON.parse(found.bundle.toString('utf8'));
    const material = { keyBundle: json, certificateBundle: json, artifact: { digest: claim.digest }, problem: undefined };
    return { found, ok: true, claim, entity: bundleEntity(bundle), material };
  } catch (err) {
    if (err instanceof MalformedSignature) return { found, ok: false, problem: err.message, detailCode: err.detail };
    return { found, ok: false, problem: `cannot read signature: ${(err as Error).message}`, detailCode: VerifyDetail.BUNDLE };
  }
}

const RANK: Record<SignatureStatus, number> = {
  verified: 6,
  'identity-mismatch': 5,
  'digest-mismatch': 4,
  'signer-mismatch': 3,
  untrusted: 2,
  malformed: 1,
  'ignored-format': 0,
};

type SignerCheck = { ok: true; signer: string } | { ok: false; status: 'untrusted' | 'signer-mismatch'; detail: string; detailCode: VerifyDetail };

const untrusted = (detail: string, detailCode: VerifyDetail): SignerCheck => ({ ok: false, status: 'untrusted', detail, detailCode });

/** How verifier.ts checks a certificate for each kind of certificate trust. */
function certificateOptions(rule: Exclude<SigstoreRequirement['trust'], { kind: 'keys' }>): CertificateOptions {
  switch (rule.kind) {
    // containers/image: the Rekor SET is required and dates the certificate; no SCT check
    case 'fulcio':
      return { requireTlog: true, requireTimestamp: true, requireSCT: false, bundleIntermediates: true };
    // containers/image: no Rekor, checked at the current time
    case 'pki':
      return { ignoreTlog: true, requireSCT: false, bundleIntermediates: true };
    case 'keyless':
      return { requireTlog: rule.requireRekor, requireTimestamp: rule.requireRekor, requireSCT: rule.requireSCT };
  }
}

/** Who made the signature, if the requirement trusts them. */
async function checkSigner(sig: Extract<PreparedSignature, { ok: true }>, req: SigstoreRequirement, checkpoint: () => void): Promise<SignerCheck> {
  const rule = req.trust;
  const m = sig.material;
  if (rule.kind === 'keys') {
    if (rule.rekor === undefined) {
      const key = req.keys.find((k) => (checkpoint(), signedByKey(sig.entity, k)));
      return key ? { ok: true, signer: `${key.label} (${key.id})` } : untrusted('not signed by any trusted key', VerifyDetail.SIGNATURE);
    }
    const trust = trustMaterial(rule);
    let failure: { detail: string; detailCode: VerifyDetail } | undefined;
    for (const key of req.keys) {
      const r = await verifyBundle({ bundleJson: m.keyBundle, artifact: m.artifact, trust, expect: { publicKey: key.key }, requireTlogForKey: true, checkpoint });
      if (r.ok) return { ok: true, signer: `${key.label} (${key.id})` };
      if (failure === undefined && signedByKey(sig.entity, key)) {
        failure = { detail: `signed by ${key.label} (${key.id}), but its Rekor entry does not verify: ${m.problem ?? r.reason}`, detailCode: r.detail };
      }
    }
    return failure ? untrusted(failure.detail, failure.detailCode) : untrusted('not signed by any trusted key', VerifyDetail.SIGNATURE);
  }
  if (m.certificateBundle === undefined) return m.problem !== undefined ? untrusted(m.problem, VerifyDetail.BUNDLE) : untrusted('signed with a key, not a certificate', VerifyDetail.KEY);
  const r = await verifyBundle({
    checkpoint,
    bundleJson: m.certificateBundle,
    artifact: m.artifact,
    trust: trustMaterial(rule),
    expect: { certificate: rule.certificate },
    certificate: certificateOptions(rule),
  });
  if (r.ok) return { ok: true, signer: r.signer.type === 'certificate' && r.signer.facts ? describeHolder(r.signer.facts) : 'certificate' };
  if (r.holder !== undefined) return { ok: false, status: 'signer-mismatch', detail: r.reason, detailCode: r.detail };
  return untrusted(m.problem !== undefined && rule.kind !== 'pki' ? `${r.reason} (${m.problem})` : r.reason, r.detail);
}

async function judge(sig: PreparedSignature, req: SigstoreRequirement, intended: ImageReference, checkpoint: () => void): Promise<SignatureReport> {
  const base = { format: sig.found.format, subject: sig.found.subject, source: sig.found.source };
  if (!req.signatureFormats.includes(sig.found.format)) {
    return { ...base, status: 'ignored-format', detail: `format ${sig.found.format} not accepted by this requirement` };
  }
  if (!sig.ok) return { ...base, status: 'malformed', detail: sig.problem, detailCode: sig.detailCode };
  const claimFields = {
    signedDigest: sig.claim.digest,
    ...(sig.claim.dockerReference !== undefined ? { dockerReference: sig.claim.dockerReference } : {}),
  };
  const check = await checkSigner(sig, req, checkpoint);
  if (!check.ok) return { ...base, ...claimFields, status: check.status, detail: check.detail, detailCode: check.detailCode };
  const signer = check.signer;
  if (sig.claim.digest !== sig.found.subject) {
    return { ...base, ...claimFields, signer, status: 'digest-mismatch', detail: `signature is for ${sig.claim.digest}` };
  }
  if (sig.found.format === 'legacy' && !identityMatches(req.signedIdentity, intended, sig.claim.dockerReference ?? '')) {
    return { ...base, ...claimFields, signer, status: 'identity-mismatch', detail: identityMismatchDetail(req, intended, sig.claim.dockerReference ?? '') };
  }
  return { ...base, ...claimFields, signer, status: 'verified' };
}

function identityMismatchDetail(req: SigstoreRequirement, intended: ImageReference, signed: string): string {
  const rule = req.signedIdentity?.type ?? 'matchRepoDigestOrExact';
  const nameOnly = !/[@]/.test(signed) && !/:[^/]*$/.test(signed);
  if (nameOnly && (rule === 'matchRepoDigestOrExact' || rule === 'matchExact')) {
    return `signature names ${signed} with no tag or digest, which ${rule} never matches (cosign signs repositories: use signedIdentity {type: matchRepository})`;
  }
  return `signature names ${signed}, policy requires ${describeIdentity(req.signedIdentity, intended)}`;
}

function keyList(req: SigstoreRequirement): string {
  return req.keys.map((k) => `${k.label} ${k.id}`).join(', ');
}

/** Evaluates one requirement; returns its report and the per-signature judgements. */
export async function evaluateSigstoreRequirement(
  req: SigstoreRequirement,
  /** Iterated once (verify-image.ts parses them one at a time). */
  signatures: Iterable<PreparedSignature>,
  unreadable: UnreadableSignature[],
  intended: ImageReference,
  /** Called between signatures: throws once the verification's deadline has passed. */
  checkpoint: () => void = () => {},
): Promise<{ report: RequirementReport; judged: SignatureReport[] }> {
  const judged: SignatureReport[] = [];
  for (const s of signatures) {
    checkpoint();
    judged.push(await judge(s, req, intended, checkpoint));
  }
  const reportBase = {
    type: 'sigstoreSigned',
    ...(req.trust.kind === 'keys' ? { keys: req.keys.map((k) => `${k.label} (${k.id})`) } : {}),
    ...(req.trust.kind !== 'keys' || req.trust.rekor !== undefined ? { trust: req.trust.label } : {}),
    signedIdentity: req.signedIdentity?.type ?? 'matchRepoDigestOrExact',
    signatureFormats: req.signatureFormats,
  };
  const best = judged.reduce<SignatureReport | undefined>((acc, j) => (acc === undefined || RANK[j.status] > RANK[acc.status] ? j : acc), undefined);
  const considered = judged.filter((j) => j.status !== 'ignored-format');
  const unreadableHere = unreadable.filter((u) => req.signatureFormats.includes(u.format));
  if (best?.status === 'verified') {
    return {
      judged,
      report: {
        ...reportBase,
        satisfied: true,
        satisfiedBy: best.format,
        ...(best.signer ? { signer: best.signer } : {}),
        code: ReasonCode.ALLOWED,
        reason: `${best.format} signature by ${best.signer} verified`,
      },
    };
  }
  const fail = (code: ReasonCode, reason: string, detailCode?: VerifyDetail): { report: RequirementReport; judged: SignatureReport[] } => ({
    judged,
    report: { ...reportBase, satisfied: false, code, reason, ...(detailCode ? { detailCode } : {}) },
  });
  const formats = req.signatureFormats.join(' or ');
  if (best === undefined || best.status === 'ignored-format') {
    if (unreadableHere.length > 0) return fail(ReasonCode.MALFORMED_SIGNATURE, `no readable signature: ${unreadableHere[0]!.problem}`, unreadableDetail(unreadableHere[0]!.problem));
    const others = judged.length > 0 ? ` (${judged.length} of another format: ${judged.map((j) => j.format).join(', ')})` : '';
    return fail(ReasonCode.NO_SIGNATURE, `no ${formats} signature found${others}`);
  }
  switch (best.status) {
    case 'identity-mismatch':
      return fail(ReasonCode.IDENTITY_MISMATCH, `${best.detail} (signed by ${best.signer})`);
    case 'digest-mismatch':
      return fail(ReasonCode.DIGEST_MISMATCH, `signature by ${best.signer} is for ${best.signedDigest}, not ${best.subject}`);
    case 'signer-mismatch':
      return fail(ReasonCode.UNTRUSTED_SIGNER, best.detail ?? 'certificate holder not accepted', best.detailCode);
    case 'untrusted':
      if (req.trust.kind === 'keys' && req.trust.rekor === undefined) {
        return fail(ReasonCode.UNTRUSTED_SIGNER, `no signature by a trusted key (${considered.length} found, keys: ${keyList(req)})`, best.detailCode);
      }
      if (req.trust.kind === 'keys') {
        return fail(ReasonCode.UNTRUSTED_SIGNER, `no signature by a trusted key with a verified Rekor entry (${considered.length} found, keys: ${keyList(req)}): ${best.detail}`, best.detailCode);
      }
      return fail(ReasonCode.UNTRUSTED_SIGNER, `no signature verifies against ${req.trust.label} (${considered.length} found): ${best.detail}`, best.detailCode);
    default:
      return fail(ReasonCode.MALFORMED_SIGNATURE, `no valid signature (${considered.length} found): ${best.detail}`, best.detailCode);
  }
}
