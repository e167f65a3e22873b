/**
 * The fast path of a key-only requirement (trust: keys, no Rekor): a legacy cosign signature, or
 * a cosign 3 bundle signed by a key, checked with node:crypto alone, without loading
 * @sigstore/verify, @sigstore/bundle or zod.
 *
 * It is a second verifier, so it decides only what it is sure of and hands every other case to
 * the full path (engine/requirements/prepare.ts and src/verify), which then decides alone:
 *  - the payload must be JSON that is a cosign simple-signing document of the expected type
 *    (the same shape verify/payload.ts's schema accepts), and the signature annotation strict
 *    base64 (verify/legacy.ts's check);
 *  - any certificate, chain, Rekor bundle or timestamp annotation hands over (the full path
 *    reads them, and a broken one changes what it reports);
 *  - a bundle is decided only in the one shape cosign 3 writes for a key without a log: a v0.3
 *    media type, a public key hint, no log entries or timestamps, one DSSE signature over an
 *    in-toto statement, canonical base64, no other field anywhere. Anything else hands over.
 * What it decides equals the full path's: the claim (digest, docker-reference) and whether a key
 * made the signature (the full path's check is the same crypto.verify over the payload bytes,
 * hashed by the key's type; see verify/trust.ts and verify/legacy.ts's legacyEntity).
 * test/unit/fast-key.test.ts compares the two on the adversarial and mutated inputs.
 */
import type { KeyObject } from 'node:crypto';
import type { FoundSignature } from '../discovery/types.js';
import { type TrustedKey, signatureHashFor } from './keys.js';
import type { SignedClaim } from './payload.js';

type LegacySignature = Extract<FoundSignature, { format: 'legacy' }>;
type BundleSignature = Extract<FoundSignature, { format: 'bundle' }>;

/** What the fast path decided for one signature. */
export interface FastKeySignature {
  claim: SignedClaim;
  /** Whether `key` made the signature (the full path's key-only check). */
  signedBy(key: TrustedKey): boolean;
}

/** cosign's simple-signing `critical.type`. */
const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
/** The annotations only the full path reads (verify/legacy.ts's annotationMaterial). */
const FULL_PATH_ANNOTATIONS = [
  'dev.sigstore.cosign/certificate',
  'dev.sigstore.cosign/chain',
  'dev.sigstore.cosign/bundle',
  'dev.sigstore.cosign/rfc3161timestamp',
];

// node:crypto (~4 ms to load) when a signature is checked, not when this module loads: by then the
// verification loaded it while its first registry requests were in flight (engine/warm-up.ts)
const cryptoVerify = (algorithm: string | null | undefined, data: Buffer, key: KeyObject, signature: Buffer): boolean =>
  process.getBuiltinModule('node:crypto').verify(algorithm, data, key, signature);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The claim of a simple-signing payload as verify/payload.ts's simpleSigningSchema reads it; undefined where it would refuse. */
export function simpleSigningClaim(json: unknown): SignedClaim | undefined {
  if (!isObject(json)) return undefined;
  const { critical, optional } = json;
  if (optional !== undefined && optional !== null && !isObject(optional)) return undefined;
  if (!isObject(critical)) return undefined;
  const { identity, image, type } = critical;
  if (!isObject(identity) || !isObject(image) || typeof type !== 'string') return undefined;
  const reference = identity['docker-reference'];
  const digest = image['docker-manifest-digest'];
  if (typeof reference !== 'string' || typeof digest !== 'string' || type !== SIMPLE_SIGNING_TYPE) return undefined;
  return { digest, dockerReference: reference };
}

/** The signature annotation's bytes, where verify/legacy.ts's signatureText accepts it. */
function signatureBytes(annotation: string | undefined): Buffer | undefined {
  if (annotation === undefined || annotation === '') return undefined;
  const text = annotation.replace(/[\r\n]/g, '');
  const raw = Buffer.from(text, 'base64');
  if (raw.length === 0 || raw.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) return undefined;
  return raw;
}

/** The fast path's verdict on a legacy signature; undefined: the full path decides. */
export function fastLegacy(sig: LegacySignature): FastKeySignature | undefined {
  if (FULL_PATH_ANNOTATIONS.some((a) => Object.hasOwn(sig.annotations, a))) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(sig.payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const claim = simpleSigningClaim(json);
  if (claim === undefined) return undefined;
  const signature = signatureBytes(sig.signature);
  if (signature === undefined) return undefined;
  const payload = sig.payload;
  return {
    claim,
    signedBy: (key) => {
      // a key that cannot be had (its cached facts contradicted) throws, as on the full path: a refusal, not "another signer"
      const k = key.key;
      try {
        return cryptoVerify(signatureHashFor(k) ?? null, payload, k, signature);
      } catch {
        return false;
      }
    },
  };
}

/** Canonical, padded standard base64 of at least one byte, decoded; undefined otherwise. */
function canonicalBase64(v: unknown): Buffer | undefined {
  if (typeof v !== 'string') return undefined;
  const raw = Buffer.from(v, 'base64');
  return raw.length > 0 && raw.toString('base64') === v ? raw : undefined;
}

/** Only these keys (each optional here; the caller asks for the ones it needs). */
const onlyKeys = (o: Record<string, unknown>, keys: string[]): boolean => Object.keys(o).every((k) => keys.includes(k));

const BUNDLE_V03 = ['application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle+json;version=0.3'];
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];
const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/**
 * The claim of a cosign signing statement, as verify/bundle.ts's readBundleClaim reads it (its
 * zod schema, the statement type, the predicate, one sha256 subject); undefined where it refuses.
 */
export function statementClaim(json: unknown): SignedClaim | undefined {
  if (!isObject(json)) return undefined;
  const { _type, subject, predicateType } = json;
  if (typeof _type !== 'string' || typeof predicateType !== 'string' || !Array.isArray(subject)) return undefined;
  if (subject.length < 1 || subject.length > 1024) return undefined;
  for (const s of Array.from(subject)) {
    if (!isObject(s) || (s.name !== undefined && typeof s.name !== 'string') || !isObject(s.digest)) return undefined;
    if (!Object.values(s.digest).every((d) => typeof d === 'string')) return undefined;
  }
  if (!IN_TOTO_STATEMENT_TYPES.includes(_type) || predicateType !== COSIGN_SIGN_PREDICATE || subject.length !== 1) return undefined;
  const hex = Object.hasOwn(subject[0].digest, 'sha256') ? (subject[0].digest as Record<string, string>).sha256 : undefined;
  return hex === undefined ? undefined : { digest: `sha256:${hex}`, dockerReference: undefined };
}

/** The DSSE pre-authentication encoding (the bytes a DSSE signature is over). */
function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, 'ascii'), type, Buffer.from(` ${payload.length} `, 'ascii'), payload]);
}

/** The fast path's verdict on a key-signed cosign 3 bundle; undefined: the full path decides. */
export function fastBundle(sig: BundleSignature): FastKeySignature | undefined {
  let json: unknown;
  try {
    json = JSON.parse(sig.bundle.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(json) || !onlyKeys(json, ['mediaType', 'verificationMaterial', 'dsseEnvelope'])) return undefined;
  const { mediaType, verificationMaterial: vm, dsseEnvelope: env } = json;
  if (typeof mediaType !== 'string' || !BUNDLE_V03.includes(mediaType)) return undefined;
  if (!isObject(vm) || !onlyKeys(vm, ['publicKey', 'tlogEntries', 'timestampVerificationData'])) return undefined;
  if (!isObject(vm.publicKey) || !onlyKeys(vm.publicKey, ['hint']) || typeof vm.publicKey.hint !== 'string') return undefined;
  if (vm.tlogEntries !== undefined && !(Array.isArray(vm.tlogEntries) && vm.tlogEntries.length === 0)) return undefined;
  const tsd = vm.timestampVerificationData;
  if (tsd !== undefined) {
    if (!isObject(tsd) || !onlyKeys(tsd, ['rfc3161Timestamps'])) return undefined;
    if (tsd.rfc3161Timestamps !== undefined && !(Array.isArray(tsd.rfc3161Timestamps) && tsd.rfc3161Timestamps.length === 0))
      return undefined;
  }
  if (!isObject(env) || !onlyKeys(env, ['payload', 'payloadType', 'signatures'])) return undefined;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE || !Array.isArray(env.signatures) || env.signatures.length !== 1) return undefined;
  const only = env.signatures[0] as unknown;
  if (!isObject(only) || !onlyKeys(only, ['sig', 'keyid']) || (only.keyid !== undefined && typeof only.keyid !== 'string'))
    return undefined;
  const payload = canonicalBase64(env.payload);
  const signature = canonicalBase64(only.sig);
  if (payload === undefined || signature === undefined) return undefined;
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const claim = statementClaim(statement);
  if (claim === undefined) return undefined;
  const signed = preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload);
  return {
    claim,
    signedBy: (key) => {
      const k = key.key; // throws where the key cannot be had, as above
      try {
        return cryptoVerify(undefined, signed, k, signature);
      } catch {
        return false;
      }
    },
  };
}
