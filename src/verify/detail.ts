/**
 * Stable detail codes: which check refused a signature, beside the reason code
 * (UNTRUSTED_SIGNER, MALFORMED_SIGNATURE). They appear in `sigguard check --json`
 * (`detailCode` of a requirement and of each signature), in the hook's decision
 * log and in the README; never rename one, only add. Modelled on @sigstore/verify's
 * VerificationError codes, one level finer where sigguard checks more.
 */
export const VerifyDetail = {
  /** The signature does not verify with the signer's key (or no trusted key made it). */
  SIGNATURE: 'SIGNATURE',
  /** The signing key: unreadable, of a kind that cannot check this signature, or a key where a certificate is expected (and back). */
  KEY: 'KEY',
  /** No path from the signing certificate to a trusted root; a root brought along by the signature. */
  CERT_CHAIN: 'CERT_CHAIN',
  /** The certificate's holder (SAN, OIDC issuer, Fulcio extensions) is not the one the policy names, or cannot be read. */
  CERT_IDENTITY: 'CERT_IDENTITY',
  /** A certificate of the path is not valid at the time the signature was made (or now, where nothing proves that time). */
  CERT_EXPIRED: 'CERT_EXPIRED',
  /** Name constraints, extended key usage, basic constraints, key usage or path length refuse the path; the signing certificate is a CA. */
  CERT_CONSTRAINTS: 'CERT_CONSTRAINTS',
  /** No transparency-log (Rekor) entry, and the policy requires one. */
  TLOG_MISSING: 'TLOG_MISSING',
  /** A Rekor entry's inclusion proof or checkpoint does not verify against a trusted log. */
  TLOG_INCLUSION: 'TLOG_INCLUSION',
  /** A Rekor entry's inclusion promise (signed entry timestamp) does not verify against a trusted log. */
  TLOG_SET: 'TLOG_SET',
  /** A Rekor entry's body is of another kind, or for another key, certificate, signature or digest than the bundle's. */
  TLOG_BODY: 'TLOG_BODY',
  /** No verified timestamp proves when the certificate signed, or an RFC 3161 timestamp does not verify. */
  TIMESTAMP: 'TIMESTAMP',
  /** The certificate's embedded SCTs are missing or do not verify against a trusted CT log. */
  SCT: 'SCT',
  /** What was signed is not what is checked: the artifact's digest, the DSSE/in-toto statement, the simple-signing payload. */
  PAYLOAD: 'PAYLOAD',
  /** The bundle or the signature's annotations cannot be read (JSON, schema, media type, base64, certificates). */
  BUNDLE: 'BUNDLE',
  /** A cap on what a signature may carry (entries, certificates, sizes, path search) was exceeded. */
  LIMITS: 'LIMITS',
} as const;
export type VerifyDetail = (typeof VerifyDetail)[keyof typeof VerifyDetail];

/** A signature discovery could not read (src/discovery's `problem`): over a cap, or unreadable. */
export function unreadableDetail(problem: string): VerifyDetail {
  return /\b(?:larger|more) than\b/.test(problem) ? VerifyDetail.LIMITS : VerifyDetail.BUNDLE;
}
