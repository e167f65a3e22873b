/**
 * What was signed, checked against the artifact (the library compares the
 * bundle's digest with nothing): a messageSignature's digest equals the
 * artifact's, over a digest alone the signature is checked on the digest
 * (prehashed.ts); a DSSE envelope carries an in-toto statement with one
 * signature, one of whose subjects has the artifact's sha256.
 */
import { type KeyObject, createHash, verify as cryptoVerify } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { type SignedEntity, toSignedEntity } from '@sigstore/verify';
import { VerifyDetail } from './detail.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES, inTotoStatementSchema } from './payload.js';
import { prehashUnsupported, verifyPrehashed } from './prehashed.js';
import { refuse } from './refusal.js';
import { withSignatureCheck } from './signature-check.js';
import type { BundleArtifact } from './verifier-types.js';

const HASHES: Partial<Record<HashAlgorithm, 'sha256' | 'sha384' | 'sha512'>> = {
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};
const SHA256_DIGEST = /^sha256:([0-9a-fA-F]{64})$/;

function artifactSha256(artifact: BundleArtifact): Buffer {
  if ('bytes' in artifact) return createHash('sha256').update(artifact.bytes).digest();
  const m = SHA256_DIGEST.exec(artifact.digest);
  return m
    ? Buffer.from(m[1]!, 'hex')
    : refuse(VerifyDetail.PAYLOAD, `artifact digest must be sha256:<64 hex digits>, not ${JSON.stringify(artifact.digest)}`);
}

export function checkStatementSubject(bundle: Bundle, artifact: BundleArtifact): void {
  if (bundle.content.$case !== 'dsseEnvelope') return;
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    refuse(VerifyDetail.PAYLOAD, `DSSE payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  if (env.signatures.length !== 1) refuse(VerifyDetail.PAYLOAD, `DSSE envelope has ${env.signatures.length} signatures, not 1`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(env.payload).toString('utf8'));
  } catch {
    refuse(VerifyDetail.PAYLOAD, 'DSSE payload is not JSON');
  }
  const st = inTotoStatementSchema.safeParse(json);
  if (!st.success || !IN_TOTO_STATEMENT_TYPES.includes(st.data._type))
    refuse(VerifyDetail.PAYLOAD, 'DSSE payload is not an in-toto statement');
  const want = artifactSha256(artifact).toString('hex');
  if (!st.data.subject.some((s) => s.digest.sha256?.toLowerCase() === want))
    refuse(VerifyDetail.PAYLOAD, `no in-toto subject has the artifact's digest sha256:${want}`);
}

/** The entity to verify; for a messageSignature, the artifact's digest checked against the bundle's. */
export function signedEntity(bundle: Bundle, artifact: BundleArtifact, signerKey: KeyObject): SignedEntity {
  if (bundle.content.$case === 'dsseEnvelope') return toSignedEntity(bundle);
  const ms = bundle.content.messageSignature;
  const digest = ms.messageDigest;
  if (digest === undefined) return refuse(VerifyDetail.BUNDLE, 'bundle has no message digest');
  const hash = HASHES[digest.algorithm === HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED ? HashAlgorithm.SHA2_256 : digest.algorithm];
  if (hash === undefined)
    return refuse(VerifyDetail.BUNDLE, `unsupported message digest algorithm ${HashAlgorithm[digest.algorithm] ?? digest.algorithm}`);
  if ('bytes' in artifact) {
    const actual = createHash(hash).update(artifact.bytes).digest();
    if (!actual.equals(Buffer.from(digest.digest)))
      refuse(VerifyDetail.PAYLOAD, `artifact ${hash} digest does not match the bundle's message digest`);
    const entity = toSignedEntity(bundle, artifact.bytes);
    if (signerKey.asymmetricKeyType !== 'ed25519') return entity;
    // Ed25519 signs the message itself (cosign's legacy signatures by Ed25519 keys):
    // the library always names a digest algorithm, which node refuses for Ed25519.
    const bytes = artifact.bytes;
    return withSignatureCheck(entity, (key, signature) => cryptoVerify(null, bytes, key, signature));
  }
  if (hash !== 'sha256') refuse(VerifyDetail.PAYLOAD, `bundle digests the artifact with ${hash}, the artifact is given as sha256`);
  const given = artifactSha256(artifact);
  if (!given.equals(Buffer.from(digest.digest))) refuse(VerifyDetail.PAYLOAD, "artifact digest does not match the bundle's message digest");
  const unsupported = prehashUnsupported(signerKey);
  if (unsupported !== undefined) refuse(VerifyDetail.KEY, unsupported);
  return withSignatureCheck(toSignedEntity(bundle), (key, signature) => verifyPrehashed(key, given, signature, 'sha256'));
}
