/**
 * @sigstore/verify checks a messageSignature with a digest algorithm always named, which
 * Node refuses for Ed25519 (cosign signs Ed25519 payloads directly), and it can only
 * check a signature over the artifact's bytes. Where sigguard knows better, it swaps the
 * entity's signature check and keeps everything else the library checks.
 */
import type { SignedEntity } from '@sigstore/verify';
import type { KeyObject } from 'node:crypto';

export function withSignatureCheck(entity: SignedEntity, verify: (key: KeyObject, signature: Buffer) => boolean): SignedEntity {
  const content = entity.signature;
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (s) => content.compareSignature(s),
      compareDigest: (d) => content.compareDigest(d),
      compareSignedDigest: (d) => content.compareSignedDigest(d),
      verifySignature: (key) => {
        try {
          return verify(key, content.signature);
        } catch {
          return false;
        }
      },
    },
  };
}
