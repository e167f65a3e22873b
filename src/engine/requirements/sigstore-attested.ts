/**
 * Judging one sigstoreAttested requirement against the attestations found: for each, in order,
 * its format, that its envelope is readable (a DSSE envelope of an in-toto payload, one
 * signature), its signer (sigstore-signed.ts's checks, the same for every kind of trust), and
 * only then its statement — parsed once its signer is trusted, so that what an attacker without
 * the key can make sigguard parse stays the envelope: an in-toto Statement of exactly the
 * requirement's predicate type, naming the digest it is attached to (the image, a nested index or
 * the platform manifest: never another image's attestation copied here) — and the CEL condition
 * over the verified predicate. The requirement holds when one attestation passes all of it.
 * A predicate-type annotation (unverified) only ever spares the work on one that cannot pass.
 *
 * Attestations and signatures never stand in for each other: this module reads only what
 * discovery/attestations.ts found (never a `.sig` layer or a cosign signature bundle), and
 * sigstore-signed.ts refuses a bundle whose predicate is not cosign's signature.
 */
import { ReasonCode } from '../../errors.js';
import type { SigstoreAttestedRequirement } from '../../policy/types.js';
import { formatReference } from '../../reference/reference.js';
import { type PreparedAttestation, prepareAttestation, readAttestationStatement, statementNames } from '../../verify/attestation.js';
import { VerifyDetail } from '../../verify/detail.js';
import type { AttestationReport } from '../types.js';
import { attestedReportHeader } from './report.js';
import { checkSigner } from './sigstore-signed.js';
import type { Evaluation, RequirementContext } from './types.js';

type Status = AttestationReport['status'];
const RANK: Record<Status, number> = {
  verified: 7,
  'condition-false': 6,
  'subject-mismatch': 5,
  'signer-mismatch': 4,
  untrusted: 3,
  'other-type': 2,
  malformed: 1,
  'ignored-format': 0,
};

/** The longest piece of a condition quoted in a reason. */
const QUOTE = 120;
const quote = (s: string): string => JSON.stringify(s.length > QUOTE ? `${s.slice(0, QUOTE)}…` : s);

async function judge(
  att: PreparedAttestation,
  req: SigstoreAttestedRequirement,
  ctx: RequirementContext,
  condition: typeof import('../../policy/condition.js') | undefined,
): Promise<AttestationReport> {
  const base = { format: att.found.format, subject: att.found.subject, source: att.found.source };
  if (!req.signatureFormats.includes(att.found.format))
    return { ...base, status: 'ignored-format', detail: `format ${att.found.format} not accepted by this requirement` };
  // discovery read up to the largest cap of all requirements: this one's cap still holds for it
  const size = att.found.format === 'legacy' ? att.found.envelope.length : att.found.bundle.length;
  if (size > req.maxBytes)
    return {
      ...base,
      status: 'malformed',
      detail: `attestation of ${size} bytes is larger than ${req.maxBytes}`,
      detailCode: VerifyDetail.LIMITS,
    };
  if (!att.ok) return { ...base, status: 'malformed', detail: att.problem, detailCode: att.detailCode };
  const annotated = att.found.annotatedType;
  const unverified = annotated !== undefined ? { ...base, predicateType: annotated } : base;
  // an annotation may spare the crypto of an attestation no requirement of this type would take; only the statement can allow
  if (annotated !== undefined && annotated !== req.predicateType)
    return { ...unverified, status: 'other-type', detail: `annotated predicate type ${annotated}` };
  ctx.checkpoint();
  // reading a large envelope leaves its texts behind: collected before the signature check adds its own
  ctx.keepHeapDown?.();
  const check = await checkSigner(att, req, ctx.checkpoint);
  if (!check.ok) return { ...unverified, status: check.status, detail: check.detail, detailCode: check.detailCode };
  const signer = check.signer;
  // the statement is parsed only now, its signer trusted
  ctx.checkpoint();
  ctx.keepHeapDown?.();
  const read = readAttestationStatement(att.bundle);
  if (!read.ok) return { ...unverified, signer, status: 'malformed', detail: read.problem, detailCode: read.detailCode };
  const st = read.statement;
  const typed = { ...base, predicateType: st.predicateType, signer };
  if (annotated !== undefined && annotated !== st.predicateType)
    return { ...typed, status: 'malformed', detail: `annotation says ${annotated}, the statement ${st.predicateType}` };
  if (st.predicateType !== req.predicateType) return { ...typed, status: 'other-type', detail: `predicate type ${st.predicateType}` };
  if (!statementNames(st, att.found.subject)) {
    const named = st.subject.map((s) => (s.digest.sha256 ? `sha256:${s.digest.sha256}` : Object.keys(s.digest).join('/'))).slice(0, 3);
    return { ...typed, status: 'subject-mismatch', detail: `statement names ${named.join(', ')}, not ${att.found.subject}` };
  }
  if (req.condition === undefined || condition === undefined) return { ...typed, status: 'verified' };
  ctx.checkpoint();
  const result = condition.evaluateCondition(
    req.condition,
    {
      predicate: st.predicate ?? null,
      predicateType: st.predicateType,
      subject: st.subject,
      image: { name: formatReference(ctx.intended), digest: att.found.subject },
    },
    ctx.timeLeft?.() ?? condition.CONDITION_MAX_MS,
  );
  ctx.checkpoint();
  if (!result.ok) return { ...typed, status: 'condition-false', detail: result.problem };
  return { ...typed, status: 'verified', detail: 'condition true' };
}

function* oneByOne(ctx: RequirementContext): Generator<PreparedAttestation> {
  for (const f of ctx.attestations?.attestations ?? []) {
    ctx.checkpoint();
    ctx.keepHeapDown?.();
    yield prepareAttestation(f);
  }
}

export async function evaluate(req: SigstoreAttestedRequirement, ctx: RequirementContext): Promise<Evaluation> {
  // the CEL library loads only for a requirement with a condition
  const condition = req.condition !== undefined ? await import('../../policy/condition.js') : undefined;
  const judged: AttestationReport[] = [];
  for (const att of oneByOne(ctx)) judged.push(await judge(att, req, ctx, condition));
  const header = attestedReportHeader(req);
  const best = judged.reduce<AttestationReport | undefined>(
    (acc, j) => (acc === undefined || RANK[j.status] > RANK[acc.status] ? j : acc),
    undefined,
  );
  if (best?.status === 'verified') {
    return {
      judged: [],
      attestations: judged,
      report: {
        ...header,
        satisfied: true,
        satisfiedBy: best.format,
        ...(best.signer ? { signer: best.signer } : {}),
        code: ReasonCode.ALLOWED,
        reason: `${best.format} attestation ${req.predicateType} by ${best.signer} verified${req.condition !== undefined ? ', condition true' : ''}`,
      },
    };
  }
  const fail = (code: ReasonCode, reason: string, detailCode?: VerifyDetail): Evaluation => ({
    judged: [],
    attestations: judged,
    report: { ...header, satisfied: false, code, reason, ...(detailCode ? { detailCode } : {}) },
  });
  const type = req.predicateType;
  const ofType = judged.filter((j) => j.predicateType === type).length;
  if (best?.status === 'condition-false') {
    const passing = judged.filter((j) => j.status === 'condition-false').length;
    return fail(
      ReasonCode.ATTESTATION_REJECTED,
      `${passing === 1 ? 'the' : `${passing}`} trusted ${type} attestation${passing === 1 ? '' : 's'} (by ${best.signer}) fail${passing === 1 ? 's' : ''} the condition ${quote(req.condition ?? '')}: ${best.detail}`,
    );
  }
  const formats = req.signatureFormats.join(' or ');
  switch (best?.status) {
    case 'subject-mismatch':
      return fail(ReasonCode.NO_ATTESTATION, `no ${type} attestation for this image: ${best.detail}`);
    case 'signer-mismatch':
    case 'untrusted':
      return fail(
        ReasonCode.NO_ATTESTATION,
        `no ${type} attestation by a trusted signer (${ofType} of that type found; ${req.trust.label}): ${best.detail}`,
        best.detailCode,
      );
    case 'other-type': {
      const types = [...new Set(judged.map((j) => j.predicateType).filter((t) => t !== undefined))].slice(0, 4);
      return fail(ReasonCode.NO_ATTESTATION, `no ${type} attestation (found ${judged.length} of other types: ${types.join(', ')})`);
    }
    case 'malformed':
      return fail(ReasonCode.NO_ATTESTATION, `no readable ${type} attestation: ${best.detail}`, best.detailCode);
    default: {
      const unreadable = (ctx.attestations?.unreadable ?? []).filter((u) => req.signatureFormats.includes(u.format));
      if (unreadable.length > 0) return fail(ReasonCode.NO_ATTESTATION, `no readable ${type} attestation: ${unreadable[0]!.problem}`);
      return fail(ReasonCode.NO_ATTESTATION, `no ${formats} attestation of ${type} found`);
    }
  }
}
