/**
 * Caps on what one signature may carry, checked before any expensive work
 * (the library's duplicate checks over tlog entries and timestamps are
 * quadratic; every entry costs a signature check). More is a malformed
 * signature: cosign writes one tlog entry, one timestamp, a chain of a few.
 */
export const SIGNATURE_LIMITS = {
  /** Transparency log entries in one bundle. */
  tlogEntries: 8,
  /** Signatures in one tlog entry's body (a DSSE entry lists the envelope's). */
  tlogBodySignatures: 8,
  /** RFC 3161 timestamps in one bundle. */
  rfc3161Timestamps: 8,
  /** Certificates in a bundle's x509CertificateChain or cosign's chain annotation (leaf excluded). */
  chainCertificates: 32,
} as const;

const arrayLength = (v: unknown): number => (Array.isArray(v) ? v.length : 0);

/** Why a parsed bundle's JSON carries more than the caps allow; undefined when it does not. */
export function bundleOverLimits(json: unknown): string | undefined {
  const vm = (json as { verificationMaterial?: Record<string, unknown> } | null)?.verificationMaterial;
  if (vm === null || typeof vm !== 'object') return undefined;
  const tlog = arrayLength(vm.tlogEntries);
  if (tlog > SIGNATURE_LIMITS.tlogEntries) return `bundle has ${tlog} tlog entries, more than ${SIGNATURE_LIMITS.tlogEntries}`;
  const tsd = vm.timestampVerificationData as { rfc3161Timestamps?: unknown } | null | undefined;
  const ts = arrayLength(tsd?.rfc3161Timestamps);
  if (ts > SIGNATURE_LIMITS.rfc3161Timestamps)
    return `bundle has ${ts} RFC 3161 timestamps, more than ${SIGNATURE_LIMITS.rfc3161Timestamps}`;
  const chain = vm.x509CertificateChain as { certificates?: unknown } | null | undefined;
  const certs = arrayLength(chain?.certificates);
  if (certs > SIGNATURE_LIMITS.chainCertificates + 1)
    return `bundle certificate chain has ${certs} certificates, more than ${SIGNATURE_LIMITS.chainCertificates + 1}`;
  return undefined;
}
