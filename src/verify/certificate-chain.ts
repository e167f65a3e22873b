/**
 * The signing certificate's path to a trusted root: x509-path.ts builds and
 * validates it as RFC 5280 and Go's crypto/x509 do (name constraints, EKU
 * nesting, basic constraints, path length, validity at every proven time)
 * within bounds; the trust material is then narrowed to that one path, which
 * the library re-checks, never building paths of its own through certificates
 * a signature brought along (its builder has no bounds).
 */
import type { Bundle } from '@sigstore/bundle';
import { X509Certificate as CoreX509 } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import { bundleIntermediates } from './bundle-json.js';
import { VerifyDetail } from './detail.js';
import { refuse } from './refusal.js';
import { type EntityTimestamp, timestampDate } from './timestamp.js';
import type { VerifyBundleInput } from './verifier-types.js';
import type { ValidPath } from './x509-path.js';

/** Which check a path refusal (x509-path.ts's message) is about. */
export function pathRefusalDetail(message: string): VerifyDetail {
  if (/gave up after|certificates, more than|among the first \d+ tried|too many comparisons|no trusted root within/.test(message))
    return VerifyDetail.LIMITS;
  if (/not valid or expired/.test(message)) return VerifyDetail.CERT_EXPIRED;
  if (
    /name constraint|IP address SAN|extended key usage|basic constraints|keyCertSign|path length constraint|not a CA certificate|unhandled critical extension/.test(
      message,
    )
  ) {
    return VerifyDetail.CERT_CONSTRAINTS;
  }
  return VerifyDetail.CERT_CHAIN;
}

/**
 * The trust material narrowed to one certificate authority whose chain is the path
 * x509-path.ts chose and validated at every timestamp.
 */
export async function pinnedPath(
  input: VerifyBundleInput,
  bundle: Bundle,
  leafDer: Buffer,
  timestamps: EntityTimestamp[],
  withIntermediates: boolean,
): Promise<TrustMaterial> {
  const bundleChain = withIntermediates ? bundleIntermediates(bundle) : [];
  // loaded on first use: pkijs costs start-up time that key-only verification need not pay
  const { PathRefusal, validatePath } = await import('./x509-path.js');
  let path: ValidPath;
  try {
    path = await validatePath({
      leaf: leafDer,
      untrusted: bundleChain,
      authorities: input.trust.certificateAuthorities,
      times: timestamps.map(timestampDate),
      checkpoint: input.checkpoint,
    });
  } catch (err) {
    if (err instanceof PathRefusal) refuse(pathRefusalDetail(err.message), `certificate chain not trusted: ${err.message}`);
    throw err;
  }
  const certChain = path.certificates.slice(1).map((der) => CoreX509.parse(Buffer.from(der)));
  return { ...input.trust, certificateAuthorities: [{ certChain, validFor: path.authority.validFor }] };
}
