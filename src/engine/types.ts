/** The verdict: what `sigguard check --json` prints and the hook logs. */
import type { ReasonCode } from '../errors.js';
import type { VerifyDetail } from '../verify/detail.js';

export type Decision = 'allow' | 'deny';

/**
 * `signer-mismatch`: the signature verifies against the trusted CA (and logs), but the
 * certificate's holder (SAN, issuer, extensions) is not one the policy names.
 */
export type SignatureStatus =
  | 'verified'
  | 'identity-mismatch'
  | 'digest-mismatch'
  | 'signer-mismatch'
  | 'untrusted'
  | 'malformed'
  | 'ignored-format';

export interface SignatureReport {
  format: 'legacy' | 'bundle';
  /** The digest the signature is attached to (the image's, or its platform manifest's). */
  subject: string;
  source: string;
  status: SignatureStatus;
  /** The trusted key that made it, or the certificate's holder (SANs and issuer), where one did. */
  signer?: string;
  /** What the signature names (legacy: docker-reference). */
  dockerReference?: string;
  signedDigest?: string;
  detail?: string;
  /** Untrusted, signer-mismatch and malformed signatures: which check refused (src/verify/detail.ts). */
  detailCode?: VerifyDetail;
}

/** An attestation as one sigstoreAttested requirement judged it (`check --explain`). */
export interface AttestationReport {
  format: 'legacy' | 'bundle';
  /** The digest it is attached to. */
  subject: string;
  source: string;
  /** The statement's predicate type (as read, before its signer was checked). */
  predicateType?: string;
  status:
    | 'verified'
    | 'condition-false'
    | 'subject-mismatch'
    | 'signer-mismatch'
    | 'untrusted'
    | 'other-type'
    | 'malformed'
    | 'ignored-format';
  signer?: string;
  detail?: string;
  detailCode?: VerifyDetail;
}

export interface RequirementReport {
  type: string;
  /** sigstoreAttested: the predicate type required, and the condition if any. */
  predicateType?: string;
  condition?: string;
  /** Key labels (sigstoreSigned with keys). */
  keys?: string[];
  /** Where trust comes from, beyond plain keys: `Fulcio CA …, Rekor …`, `CA …`, `trusted root …`, `keys … with Rekor …`. */
  trust?: string;
  signedIdentity?: string;
  signatureFormats?: string[];
  satisfied: boolean;
  /** The format of the signature that satisfied it. */
  satisfiedBy?: 'legacy' | 'bundle';
  signer?: string;
  code: ReasonCode;
  reason: string;
  /** UNTRUSTED_SIGNER and MALFORMED_SIGNATURE: which check refused (src/verify/detail.ts). */
  detailCode?: VerifyDetail;
}

export interface Verdict {
  image: string;
  digest: string | undefined;
  decision: Decision;
  code: ReasonCode;
  reason: string;
  /** The failed requirement's detail code (UNTRUSTED_SIGNER, MALFORMED_SIGNATURE). */
  detailCode?: VerifyDetail;
  /** The scope that matched; "" for the policy's default. */
  scope: string;
  requirements: RequirementReport[];
  signatures: SignatureReport[];
  /** The key that satisfied the policy (first satisfied signature requirement). */
  signer?: string;
  /** The platform manifest also looked at, for a multi-arch index. */
  platformDigest?: string;
  /** Nested indexes walked between the index and the platform manifest (denyDigests applies to them). */
  nestedDigests?: string[];
  /** The config digest of the manifest that runs (the image id a runtime reports); the hook binds it to the node's. */
  configDigest?: string;
  registryRequests: number;
  /** Each attestation examined, as the sigstoreAttested requirements judged it (one entry per requirement and attestation). */
  attestations?: AttestationReport[];
  /** What the verification left out: signatures beyond the per-listing cap, what the budget did not reach (registry/budget.ts). */
  notes?: string[];
}
