/**
 * The fast path of a key-only requirement (trust: keys, no Rekor): a legacy cosign signature
 * checked with node:crypto alone, without loading @sigstore/verify, @sigstore/bundle or zod.
 *
 * It is a second verifier, so it decides only what it is sure of and hands every other case to
 * the full path (engine/requirements/prepare.ts and src/verify), which then decides alone:
 *  - the payload must be JSON that is a cosign simple-signing document of the expected type
 *    (the same shape verify/payload.ts's schema accepts), and the signature annotation strict
 *    base64 (verify/legacy.ts's check);
 *  - any certificate, chain, Rekor bundle or timestamp annotation hands over (the full path
 *    reads them, and a broken one changes what it reports).
 * What it decides equals the full path's: the claim (digest, docker-reference) and whether a key
 * made the signature (the full path's check is the same crypto.verify over the payload bytes,
 * hashed by the key's type; see verify/trust.ts and verify/legacy.ts's legacyEntity).
 * test/unit/fast-key.test.ts compares the two on the adversarial and mutated inputs.
 */
import { verify as cryptoVerify } from 'node:crypto';
import type { FoundSignature } from '../discovery/types.js';
import { type TrustedKey, signatureHashFor } from './keys.js';
import type { SignedClaim } from './payload.js';

type LegacySignature = Extract<FoundSignature, { format: 'legacy' }>;

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
      try {
        return cryptoVerify(signatureHashFor(key.key) ?? null, payload, key.key, signature);
      } catch {
        return false;
      }
    },
  };
}
