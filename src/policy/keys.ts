/**
 * Trusted public keys as a policy names them (keyPath, keyData…) and cosign writes them
 * (PEM SubjectPublicKeyInfo): ECDSA, RSA, Ed25519. Read when the policy is loaded; the
 * signature checks with them are src/verify/'s.
 */
import type { KeyObject } from 'node:crypto';
import { sha256Hex } from '../hash.js';

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

// node:crypto is loaded when a key is first parsed, not when this module is: a hook start whose
// keys are known (knownPublicKey) and whose verdict is cached never loads it (issue 15)
const crypto = () => process.getBuiltinModule('node:crypto');

/** Parses one PEM public key; throws an Error whose message says what is wrong. */
export function parsePublicKey(pem: string | Buffer, label: string): TrustedKey {
  let key: KeyObject;
  try {
    key = crypto().createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${label}: not a PEM public key (${(err as Error).message})`);
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  if (!SUPPORTED.has(type)) throw new Error(`${label}: unsupported key type ${type}`);
  const der = key.export({ format: 'der', type: 'spki' });
  const fingerprint = sha256Hex(der);
  return { label, id: `SHA256:${fingerprint.slice(0, 16)}`, fingerprint, key };
}

/** What parsePublicKey found out about a key, kept with the validated documents (src/cache/doc-cache.ts). */
export interface KeyFacts {
  fingerprint: string;
  type: string;
}

export function keyFactsOf(k: TrustedKey): KeyFacts {
  return { fingerprint: k.fingerprint, type: k.key.asymmetricKeyType ?? 'unknown' };
}

/** Facts read back from the cache, or undefined if they are not what keyFactsOf writes. */
export function asKeyFacts(v: unknown): KeyFacts | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { fingerprint, type } = v as Record<string, unknown>;
  if (typeof fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(fingerprint)) return undefined;
  if (typeof type !== 'string' || !SUPPORTED.has(type)) return undefined;
  return { fingerprint, type };
}

/**
 * A key parsed before (same bytes, its facts from the cache): named and fingerprinted at once,
 * parsed by node:crypto only when a verification uses `key`. That parse must give the same
 * fingerprint and type, or using the key throws (a refusal), never a check with another key.
 */
export function knownPublicKey(pem: string | Buffer, label: string, facts: KeyFacts): TrustedKey {
  let parsed: KeyObject | undefined;
  const trusted = { label, id: `SHA256:${facts.fingerprint.slice(0, 16)}`, fingerprint: facts.fingerprint } as TrustedKey;
  Object.defineProperty(trusted, 'key', {
    enumerable: true,
    get(): KeyObject {
      parsed ??= ecKeyOfSpki(pem, facts);
      if (parsed === undefined) {
        const again = parsePublicKey(pem, label);
        const got = keyFactsOf(again);
        if (got.fingerprint !== facts.fingerprint || got.type !== facts.type) {
          throw new Error(`${label}: the key differs from the one its cached facts describe`);
        }
        parsed = again.key;
      }
      return parsed;
    },
  });
  return trusted;
}

/**
 * The SubjectPublicKeyInfo of an EC key on a named NIST curve with an uncompressed point, as
 * cosign and OpenSSL write it: this prefix, then 0x04, x and y. From a DER of exactly that form the
 * key is imported as a JWK of its x and y: OpenSSL 3 builds its decoders on the first PEM or DER
 * key it parses (~1 ms of every new image's start, issue 15), not for a JWK.
 */
const EC_SPKI: ReadonlyArray<{ crv: string; prefix: Buffer; size: number }> = [
  { crv: 'P-256', prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), size: 32 },
  { crv: 'P-384', prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'), size: 48 },
  { crv: 'P-521', prefix: Buffer.from('30819b301006072a8648ce3d020106052b8104002303818600', 'hex'), size: 66 },
];

const PEM_SPKI = /^-----BEGIN PUBLIC KEY-----\r?\n((?:[A-Za-z0-9+/]{1,76}\r?\n)*[A-Za-z0-9+/]*={0,2}\r?\n)-----END PUBLIC KEY-----\r?\n?$/;

/**
 * A known key (its facts from the cache) imported without OpenSSL's decoders, when its PEM is one
 * SPKI block of an EC key in the form above and the SHA-256 of that very DER is the fingerprint
 * the full parse found when the document was validated (OpenSSL's own DER of the key: so these
 * bytes are that key's, and x and y are its point). Undefined for anything else: the full parse
 * then decides, as before.
 */
export function ecKeyOfSpki(pem: string | Buffer, facts: KeyFacts): KeyObject | undefined {
  if (facts.type !== 'ec') return undefined;
  const m = PEM_SPKI.exec(typeof pem === 'string' ? pem : pem.toString('latin1'));
  if (!m) return undefined;
  const der = Buffer.from(m[1]!.replace(/\r?\n/g, ''), 'base64');
  const curve = EC_SPKI.find((c) => der.length === c.prefix.length + 1 + 2 * c.size && der.subarray(0, c.prefix.length).equals(c.prefix));
  if (curve === undefined || der[curve.prefix.length] !== 0x04) return undefined;
  if (sha256Hex(der) !== facts.fingerprint) return undefined;
  const at = curve.prefix.length + 1;
  try {
    const key = crypto().createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: curve.crv,
        x: der.subarray(at, at + curve.size).toString('base64url'),
        y: der.subarray(at + curve.size).toString('base64url'),
      },
    });
    return key.asymmetricKeyType === 'ec' ? key : undefined;
  } catch {
    return undefined; // not a point on the curve: the full parse says so
  }
}
