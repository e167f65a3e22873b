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
import type { UnreadableSignature } from '../../discovery/types.js';
import { ReasonCode } from '../../errors.js';
import { describeHolder } from '../../policy/certificate-rules.js';
import { describeIdentity, identityMatches } from '../../policy/identity.js';
import type { SigstoreSignedRequirement } from '../../policy/types.js';
import type { TrustedKey } from '../../verify/keys.js';
import type { ImageReference } from '../../reference/reference.js';
import { VerifyDetail, unreadableDetail } from '../../verify/detail.js';
import type { CertificateOptions } from '../../verify/verifier.js';
import type { SignatureReport, SignatureStatus } from '../types.js';
import type { PreparedSignature } from './prepare.js';
import type { FastPreparedSignature } from './prepare-fast.js';
import { sigstoreReportHeader } from './report.js';
import type { Evaluation, RequirementContext } from './types.js';

const RANK: Record<SignatureStatus, number> = {
  verified: 6,
  'identity-mismatch': 5,
  'digest-mismatch': 4,
  'signer-mismatch': 3,
  untrusted: 2,
  malformed: 1,
  'ignored-format': 0,
};

type SignerCheck =
  | { ok: true; signer: string }
  | { ok: false; status: 'untrusted' | 'signer-mismatch'; detail: string; detailCode: VerifyDetail };

const untrusted = (detail: string, detailCode: VerifyDetail): SignerCheck => ({ ok: false, status: 'untrusted', detail, detailCode });

/** How verifier.ts checks a certificate for each kind of certificate trust. */
function certificateOptions(rule: Exclude<SigstoreSignedRequirement['trust'], { kind: 'keys' }>): CertificateOptions {
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

type FullySigned = Pick<Extract<PreparedSignature, { ok: true; entity: unknown }>, 'entity' | 'material'>;

/** Who made the signature (or attestation: attested.ts), if the requirement trusts them. */
export async function checkSigner(
  sig: FullySigned | Pick<FastPreparedSignature, 'fast'>,
  req: Pick<SigstoreSignedRequirement, 'trust' | 'keys'>,
  checkpoint: () => void,
): Promise<SignerCheck> {
  const rule = req.trust;
  if (rule.kind === 'keys' && rule.rekor === undefined) {
    // the fast path's check (verify/fast-key.ts) or @sigstore/verify's, loaded only here
    let signedBy: (k: TrustedKey) => boolean;
    if ('fast' in sig) signedBy = sig.fast.signedBy;
    else {
      const { signedByKey } = await import('../../verify/trust.js');
      signedBy = (k) => signedByKey(sig.entity, k);
    }
    const key = req.keys.find((k) => {
      checkpoint();
      return signedBy(k);
    });
    return key ? { ok: true, signer: `${key.label} (${key.id})` } : untrusted('not signed by any trusted key', VerifyDetail.SIGNATURE);
  }
  // prepare-fast.ts gives the fast path only requirements of plain keys: anything else is a bug, never an allow
  if ('fast' in sig) throw new Error('a signature read by the fast path reached a requirement it cannot judge');
  const m = sig.material;
  const [{ trustMaterial }, { verifyBundle }, { signedByKey }] = await Promise.all([
    import('../../verify/authority.js'),
    import('../../verify/verifier.js'),
    import('../../verify/trust.js'),
  ]);
  if (rule.kind === 'keys') {
    const trust = trustMaterial(rule);
    let failure: { detail: string; detailCode: VerifyDetail } | undefined;
    for (const key of req.keys) {
      const r = await verifyBundle({
        bundleJson: m.keyBundle,
        artifact: m.artifact,
        trust,
        expect: { publicKey: key.key },
        requireTlogForKey: true,
        checkpoint,
      });
      if (r.ok) return { ok: true, signer: `${key.label} (${key.id})` };
      if (failure === undefined && signedByKey(sig.entity, key)) {
        failure = {
          detail: `signed by ${key.label} (${key.id}), but its Rekor entry does not verify: ${m.problem ?? r.reason}`,
          detailCode: r.detail,
        };
      }
    }
    return failure ? untrusted(failure.detail, failure.detailCode) : untrusted('not signed by any trusted key', VerifyDetail.SIGNATURE);
  }
  if (m.certificateBundle === undefined)
    return m.problem !== undefined
      ? untrusted(m.problem, m.problemDetail ?? VerifyDetail.BUNDLE)
      : untrusted('signed with a key, not a certificate', VerifyDetail.KEY);
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

async function judge(
  sig: PreparedSignature,
  req: SigstoreSignedRequirement,
  intended: ImageReference,
  checkpoint: () => void,
): Promise<SignatureReport> {
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
    return {
      ...base,
      ...claimFields,
      signer,
      status: 'identity-mismatch',
      detail: identityMismatchDetail(req, intended, sig.claim.dockerReference ?? ''),
    };
  }
  return { ...base, ...claimFields, signer, status: 'verified' };
}

function identityMismatchDetail(req: SigstoreSignedRequirement, intended: ImageReference, signed: string): string {
  const rule = req.signedIdentity?.type ?? 'matchRepoDigestOrExact';
  const nameOnly = !/[@]/.test(signed) && !/:[^/]*$/.test(signed);
  if (nameOnly && (rule === 'matchRepoDigestOrExact' || rule === 'matchExact')) {
    return `signature names ${signed} with no tag or digest, which ${rule} never matches (cosign signs repositories: use signedIdentity {type: matchRepository})`;
  }
  return `signature names ${signed}, policy requires ${describeIdentity(req.signedIdentity, intended)}`;
}

function keyList(req: SigstoreSignedRequirement): string {
  return req.keys.map((k) => `${k.label} ${k.id}`).join(', ');
}

/** Evaluates one requirement; returns its report and the per-signature judgements. */
export async function evaluateSigstoreRequirement(
  req: SigstoreSignedRequirement,
  /** Iterated once (verify-image.ts parses them one at a time). */
  signatures: Iterable<PreparedSignature>,
  unreadable: UnreadableSignature[],
  intended: ImageReference,
  /** Called between signatures: throws once the verification's deadline has passed. */
  checkpoint: () => void = () => {},
): Promise<Evaluation> {
  const judged: SignatureReport[] = [];
  for (const s of signatures) {
    checkpoint();
    judged.push(await judge(s, req, intended, checkpoint));
  }
  const reportBase = sigstoreReportHeader(req);
  const best = judged.reduce<SignatureReport | undefined>(
    (acc, j) => (acc === undefined || RANK[j.status] > RANK[acc.status] ? j : acc),
    undefined,
  );
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
  const fail = (code: ReasonCode, reason: string, detailCode?: VerifyDetail): Evaluation => ({
    judged,
    report: { ...reportBase, satisfied: false, code, reason, ...(detailCode ? { detailCode } : {}) },
  });
  const formats = req.signatureFormats.join(' or ');
  if (best === undefined || best.status === 'ignored-format') {
    if (unreadableHere.length > 0)
      return fail(
        ReasonCode.MALFORMED_SIGNATURE,
        `no readable signature: ${unreadableHere[0]!.problem}`,
        unreadableDetail(unreadableHere[0]!.problem),
      );
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
        return fail(
          ReasonCode.UNTRUSTED_SIGNER,
          `no signature by a trusted key (${considered.length} found, keys: ${keyList(req)})`,
          best.detailCode,
        );
      }
      if (req.trust.kind === 'keys') {
        return fail(
          ReasonCode.UNTRUSTED_SIGNER,
          `no signature by a trusted key with a verified Rekor entry (${considered.length} found, keys: ${keyList(req)}): ${best.detail}`,
          best.detailCode,
        );
      }
      return fail(
        ReasonCode.UNTRUSTED_SIGNER,
        `no signature verifies against ${req.trust.label} (${considered.length} found): ${best.detail}`,
        best.detailCode,
      );
    default:
      return fail(ReasonCode.MALFORMED_SIGNATURE, `no valid signature (${considered.length} found): ${best.detail}`, best.detailCode);
  }
}

/** sigstoreSigned (containers/image's prSigstoreSigned): a signature by a trusted signer, for this digest, naming this image. */
export async function evaluate(req: SigstoreSignedRequirement, ctx: RequirementContext): Promise<Evaluation> {
  return evaluateSigstoreRequirement(req, ctx.signatures(), ctx.unreadable, ctx.intended, ctx.checkpoint);
}
