/**
 * A found signature read once for every requirement that judges it: its claim (the digest and,
 * legacy, the docker-reference it names), the entity the verifier checks, and the material a
 * key or certificate check reads. A signature that cannot be read is kept with why.
 */
import type { Bundle } from '@sigstore/bundle';
import type { SignedEntity } from '@sigstore/verify';
import type { FoundSignature } from '../../discovery/types.js';
import { bundleEntity, parseBundle, readBundleClaim } from '../../verify/bundle.js';
import { VerifyDetail } from '../../verify/detail.js';
import { MalformedSignature, legacyBundles, legacyEntity, legacyToBundle, readLegacyClaim } from '../../verify/legacy.js';
import type { SignedClaim } from '../../verify/payload.js';
import type { SignatureMaterial } from '../../verify/verifier-types.js';
import type { FastPreparedSignature } from './prepare-fast.js';

export type { SignatureMaterial } from '../../verify/verifier-types.js';

/** A found signature, parsed once and shared by every requirement. */
export type PreparedSignature =
  | { found: FoundSignature; ok: true; claim: SignedClaim; entity: SignedEntity; material: SignatureMaterial }
  | FastPreparedSignature
  | { found: FoundSignature; ok: false; problem: string; detailCode: VerifyDetail };

export function prepareSignature(found: FoundSignature): PreparedSignature {
  try {
    if (found.format === 'legacy') {
      const claim = readLegacyClaim(found);
      const bundle = legacyToBundle(found);
      const { keyBundle, certificateBundle, problem, problemDetail } = legacyBundles(found);
      const material = { keyBundle, certificateBundle, artifact: { bytes: found.payload }, problem, problemDetail };
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
