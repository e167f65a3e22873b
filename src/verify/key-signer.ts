/**
 * Key-signed bundles: the expected public key is the only trusted one; its
 * Rekor entries must name that key (tlog.ts) and, unless the caller says
 * otherwise, at least one must verify.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { type TrustMaterial, Verifier } from '@sigstore/verify';
import { VerifyDetail } from './detail.js';
import { keyId } from './spki.js';
import { refuse } from './refusal.js';
import { signedEntity } from './signed-content.js';
import { checkTlogBodies } from './tlog.js';
import type { VerifyBundleInput, VerifyBundleResult } from './verifier-types.js';

function toKey(k: string | Buffer | KeyObject): KeyObject {
  if (typeof k === 'string' || Buffer.isBuffer(k)) {
    try {
      return createPublicKey({ key: k, format: 'pem' });
    } catch {
      return refuse(VerifyDetail.KEY, 'the expected public key is not a PEM public key');
    }
  }
  return k;
}

export function verifyWithKey(
  input: VerifyBundleInput,
  expected: string | Buffer | KeyObject,
  bundle: Bundle,
  mediaType: string,
): VerifyBundleResult {
  const key = toKey(expected);
  checkTlogBodies(bundle, { key });
  const requireTlog = input.requireTlogForKey ?? true;
  const trust: TrustMaterial = { ...input.trust, publicKey: () => ({ publicKey: key, validFor: () => true }) };
  const entity = signedEntity(bundle, input.artifact, key);
  new Verifier(trust, { tlogThreshold: requireTlog ? 1 : 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
  return { ok: true, signer: { type: 'key', keyId: keyId(key) }, mediaType, content: bundle.content.$case };
}
