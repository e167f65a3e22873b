/** Running @sigstore/verify's Verifier for one trusted public key. */
import { VerificationError, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { TrustedKey } from './keys.js';

function keyOnlyTrust(key: TrustedKey): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey: key.key, validFor: () => true }),
  };
}

/**
 * True when `entity` is signed by `key`. Transparency-log entries and
 * timestamps are set aside, as `cosign verify --key --insecure-ignore-tlog`
 * does: a key-based requirement trusts the key, not a log.
 */
export function signedByKey(entity: SignedEntity, key: TrustedKey): boolean {
  const verifier = new Verifier(keyOnlyTrust(key), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  try {
    verifier.verify({ ...entity, tlogEntries: [], timestamps: [] });
    return true;
  } catch (err) {
    if (err instanceof VerificationError) return false;
    throw err;
  }
}
