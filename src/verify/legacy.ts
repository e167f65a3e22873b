/**
 * Legacy cosign signatures: the simple-signing payload and its detached
 * signature become a Sigstore bundle (messageSignature over the payload bytes)
 * that @sigstore/verify checks.
 */
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { type SignedEntity, toSignedEntity } from '@sigstore/verify';
import type { FoundSignature } from '../discovery/types.js';
import { type TrustedKey, signatureHashFor } from './keys.js';
import { SIMPLE_SIGNING_TYPE, type SignedClaim, simpleSigningSchema } from './payload.js';

type LegacySignature = Extract<FoundSignature, { format: 'legacy' }>;

export class MalformedSignature extends Error {}

/** The payload's claim; throws MalformedSignature when it is not a cosign simple-signing payload. */
export function readLegacyClaim(sig: LegacySignature): SignedClaim {
  let json: unknown;
  try {
    json = JSON.parse(sig.payload.toString('utf8'));
  } catch {
    throw new MalformedSignature('payload is not JSON');
  }
  const parsed = simpleSigningSchema.safeParse(json);
  if (!parsed.success) throw new MalformedSignature('payload is not a cosign simple-signing document');
  if (parsed.data.critical.type !== SIMPLE_SIGNING_TYPE) {
    throw new MalformedSignature(`payload type is "${parsed.data.critical.type}", not "${SIMPLE_SIGNING_TYPE}"`);
  }
  return {
    digest: parsed.data.critical.image['docker-manifest-digest'],
    dockerReference: parsed.data.critical.identity['docker-reference'],
  };
}

/** The Sigstore bundle equivalent of a legacy signature (v0.1, public key, no log entries). */
export function legacyToBundle(sig: LegacySignature): Bundle {
  if (sig.signature === undefined || sig.signature === '') throw new MalformedSignature('no dev.cosignproject.cosign/signature annotation');
  // Go's base64 decoder (cosign's) skips line breaks; nothing else is tolerated.
  const text = sig.signature.replace(/[\r\n]/g, '');
  const raw = Buffer.from(text, 'base64');
  if (raw.length === 0 || raw.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    throw new MalformedSignature('signature annotation is not base64');
  }
  try {
    return bundleFromJSON({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(sig.payload).digest('base64') },
        signature: text,
      },
    });
  } catch (err) {
    throw new MalformedSignature(`cannot form a bundle: ${(err as Error).message}`);
  }
}

/**
 * The entity @sigstore/verify checks. The signature check picks the hash by
 * key type: cosign signs Ed25519 payloads directly, which the library's
 * messageSignature path (always a digest algorithm) cannot verify.
 */
export function legacyEntity(sig: LegacySignature, bundle: Bundle): SignedEntity {
  const entity = toSignedEntity(bundle, sig.payload);
  const signature = entity.signature;
  return {
    ...entity,
    signature: {
      ...signature,
      signature: signature.signature,
      compareSignature: (s) => signature.compareSignature(s),
      compareDigest: (d) => signature.compareDigest(d),
      compareSignedDigest: (d) => signature.compareSignedDigest(d),
      verifySignature: (key) => {
        try {
          return cryptoVerify(signatureHashFor(key) ?? null, sig.payload, key, signature.signature);
        } catch {
          return false;
        }
      },
    },
  };
}

export type { TrustedKey };
