/**
 * Trusted public keys as a policy names them (keyPath, keyData…) and cosign writes them
 * (PEM SubjectPublicKeyInfo): ECDSA, RSA, Ed25519. Read when the policy is loaded; the
 * signature checks with them are src/verify/'s.
 */
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';

export interface TrustedKey {
  /** Where the key came from: a file path or `keyData[i]`. */
  label: string;
  /** `SHA256:` and the first 16 hex digits of the SPKI's hash; stable across formats of the same key. */
  id: string;
  /** The full sha256 of the SPKI (hex): what caches key on. */
  fingerprint: string;
  key: KeyObject;
}

const SUPPORTED = new Set(['ec', 'rsa', 'rsa-pss', 'ed25519']);

/** Parses one PEM public key; throws an Error whose message says what is wrong. */
export function parsePublicKey(pem: string | Buffer, label: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${label}: not a PEM public key (${(err as Error).message})`);
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  if (!SUPPORTED.has(type)) throw new Error(`${label}: unsupported key type ${type}`);
  const der = key.export({ format: 'der', type: 'spki' });
  const fingerprint = createHash('sha256').update(der).digest('hex');
  return { label, id: `SHA256:${fingerprint.slice(0, 16)}`, fingerprint, key };
}
