/** A public key's SubjectPublicKeyInfo and the id sigguard names keys by. */
import { type KeyObject, createHash } from 'node:crypto';

/** The key's SubjectPublicKeyInfo, DER: what two encodings of one key share. */
export function spki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/** `SHA256:` and 16 hex digits of the SPKI's hash (as policy/keys.ts's parsePublicKey names keys). */
export function keyId(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(spki(key)).digest('hex').slice(0, 16)}`;
}
