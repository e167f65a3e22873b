/**
 * Judging one sigstoreSigned requirement against the signatures found: the
 * crypto by a trusted key first, then the digest the signature names, then
 * the identity (containers/image's order), and the most telling failure as the
 * reason when none holds.
 */
import type { Bundle } from '@sigstore/bundle';
import type { SignedEntity } from '@sigstore/verify';
import type { FoundSignature, UnreadableSignature } from '../discovery/types.js';
import { ReasonCode } from '../errors.js';
import type { Requirement } from '../policy/load.js';
import { describeIdentity, identityMatches } from '../policy/identity.js';
import type { ImageReference } from '../reference/reference.js';
import { bundleEntity, parseBundle, readBundleClaim } from '../verify/bundle.js';
import { MalformedSignature, legacyEntity, legacyToBundle, readLegacyClaim } from '../verify/legacy.js';
import type { SignedClaim } from '../verify/payload.js';
import { signedByKey } from '../verify/trust.js';
import type { RequirementReport, SignatureReport, SignatureStatus } from './types.js';

type SigstoreRequirement = Extract<Requirement, { type: 'sigstoreSigned' }>;

/** A found signature, parsed once and shared by every requirement. */
export type PreparedSignature =
  | { found: FoundSignature; ok: true; claim: SignedClaim; entity: SignedEntity }
  | { found: FoundSignature; ok: false; problem: string };

export function prepareSignature(found: FoundSignature): PreparedSignature {
  try {
    if (found.format === 'legacy') {
      const claim = readLegacyClaim(found);
      const bundle = legacyToBundle(found);
      return { found, ok: true, claim, entity: legacyEntity(found, bundle) };
    }
    const bundle: Bundle = parseBundle(found);
    const claim = readBundleClaim(bundle);
    return { found, ok: true, claim, entity: bundleEntity(bundle) };
  } catch (err) {
    if (err instanceof MalformedSignature) return { found, ok: false, problem: err.message };
    return { found, ok: false, problem: `cannot read signature: ${(err as Error).message}` };
  }
}

const RANK: Record<SignatureStatus, number> = {
  verified: 5,
  'identity-mismatch': 4,
  'digest-mismatch': 3,
  untrusted: 2,
  malformed: 1,
  'ignored-format': 0,
};

function judge(sig: PreparedSignature, req: SigstoreRequirement, intended: ImageReference): SignatureReport {
  const base = { format: sig.found.format, subject: sig.found.subject, source: sig.found.source };
  if (!req.signatureFormats.includes(sig.found.format)) {
    return { ...base, status: 'ignored-format', detail: `format ${sig.found.format} not accepted by this requirement` };
  }
  if (!sig.ok) return { ...base, status: 'malformed', detail: sig.problem };
  const claimFields = {
    signedDigest: sig.claim.digest,
    ...(sig.claim.dockerReference !== undefined ? { dockerReference: sig.claim.dockerReference } : {}),
  };
  const key = req.keys.find((k) => signedByKey(sig.entity, k));
  if (key === undefined) return { ...base, ...claimFields, status: 'untrusted', detail: 'not signed by any trusted key' };
  const signer = `${key.label} (${key.id})`;
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
export function evaluateSigstoreRequirement(
  req: SigstoreRequirement,
  signatures: PreparedSignature[],
  unreadable: UnreadableSignature[],
  intended: ImageReference,
): { report: RequirementReport; judged: SignatureReport[] } {
  const judged = signatures.map((s) => judge(s, req, intended));
  const reportBase = {
    type: 'sigstoreSigned',
    keys: req.keys.map((k) => `${k.label} (${k.id})`),
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
  const fail = (code: ReasonCode, reason: string): { report: RequirementReport; judged: SignatureReport[] } => ({
    judged,
    report: { ...reportBase, satisfied: false, code, reason },
  });
  const formats = req.signatureFormats.join(' or ');
  if (best === undefined || best.status === 'ignored-format') {
    if (unreadableHere.length > 0) return fail(ReasonCode.MALFORMED_SIGNATURE, `no readable signature: ${unreadableHere[0]!.problem}`);
    const others = judged.length > 0 ? ` (${judged.length} of another format: ${judged.map((j) => j.format).join(', ')})` : '';
    return fail(ReasonCode.NO_SIGNATURE, `no ${formats} signature found${others}`);
  }
  switch (best.status) {
    case 'identity-mismatch':
      return fail(ReasonCode.IDENTITY_MISMATCH, `${best.detail} (signed by ${best.signer})`);
    case 'digest-mismatch':
      return fail(ReasonCode.DIGEST_MISMATCH, `signature by ${best.signer} is for ${best.signedDigest}, not ${best.subject}`);
    case 'untrusted':
      return fail(ReasonCode.UNTRUSTED_SIGNER, `no signature by a trusted key (${considered.length} found, keys: ${keyList(req)})`);
    default:
      return fail(ReasonCode.MALFORMED_SIGNATURE, `no valid signature (${considered.length} found): ${best.detail}`);
  }
}
