/** Public keys as cosign writes them (PEM SubjectPublicKeyInfo): ECDSA, RSA, Ed25519. */
import type { KeyObject } from 'node:crypto';

/** Keys are read with the policy (src/policy/keys.ts); checking signatures with them is here. */
export { type TrustedKey, parsePublicKey } from '../policy/keys.js';

/**
 * The hash a cosign signature by this key uses over the signed bytes
 * (undefined: the algorithm hashes by itself, as Ed25519 does).
 */
export function signatureHashFor(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType === 'ed25519') return undefined;
  return 'sha256';
}
