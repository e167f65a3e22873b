/**
 * Verifying a signature over a digest alone (the artifact itself is not at
 * hand): node:crypto always hashes the message itself, so ECDSA is checked
 * with @noble/curves (audited) on the digest as given, and RSA PKCS#1 v1.5
 * through publicDecrypt. Ed25519 (and RSA-PSS) signatures cannot be checked
 * against a digest: false.
 *
 * noble v2's defaults are for Bitcoin-style use and must be overridden here:
 * it hashes the message (prehash), refuses high-S signatures (Go's ecdsa
 * makes them about half the time) and reads compact r||s (cosign writes
 * ASN.1 DER).
 */
import { type KeyObject, constants, publicDecrypt } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 } as const;
type CurveName = keyof typeof CURVES;

/** What a signature over a digest is verified with: the digest as is, high S allowed, DER. */
export const NOBLE_PREHASHED_OPTIONS = { prehash: false, lowS: false, format: 'der' } as const;

/** The uncompressed SEC1 point of an EC public key, with its curve; undefined for other curves. */
function ecPoint(key: KeyObject): { curve: CurveName; point: Uint8Array } | undefined {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv === undefined || !(jwk.crv in CURVES) || jwk.x === undefined || jwk.y === undefined) return undefined;
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return { curve: jwk.crv as CurveName, point: new Uint8Array(point) };
}

function verifyEcdsaPrehashed(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const ec = ecPoint(key);
  if (ec === undefined) return false;
  return CURVES[ec.curve].verify(new Uint8Array(signature), new Uint8Array(digest), ec.point, NOBLE_PREHASHED_OPTIONS);
}

/** DER DigestInfo prefixes (RFC 8017 §9.2). */
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function verifyRsaPkcs1Prehashed(key: KeyObject, digest: Buffer, signature: Buffer, hash: string): boolean {
  const prefix = DIGEST_INFO[hash];
  if (prefix === undefined) return false;
  try {
    const decoded = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return decoded.equals(Buffer.concat([Buffer.from(prefix, 'hex'), digest]));
  } catch {
    return false;
  }
}

/** Does `signature` by `key` sign the message whose `hash` digest is `digest`? */
export function verifyPrehashed(key: KeyObject, digest: Buffer, signature: Buffer, hash: 'sha256' | 'sha384' | 'sha512'): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return verifyEcdsaPrehashed(key, digest, signature);
      case 'rsa':
        return verifyRsaPkcs1Prehashed(key, digest, signature, hash);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Why verifyPrehashed cannot work for this key, if it cannot. */
export function prehashUnsupported(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') {
    const crv = key.export({ format: 'jwk' }).crv;
    return crv !== undefined && crv in CURVES ? undefined : `curve ${crv ?? 'unknown'} is not supported over a digest`;
  }
  if (type === 'rsa') return undefined;
  return `a ${type} signature cannot be verified over a digest alone (give the artifact file)`;
}
