/**
 * Verifying one Sigstore bundle (v0.1, v0.2, v0.3) over an artifact, given as
 * bytes or as its sha256 digest, against a public key or a certificate
 * identity (exact SAN, exact OIDC issuer), with a TrustMaterial from
 * trusted-root.ts. @sigstore/verify checks the cryptography (timestamps,
 * certificate chain, SCTs, tlog inclusion, signature); this module checks
 * what the library leaves out:
 *
 * - the media type is one of the four known, and the version's rules hold
 *   (v0.1 needs inclusion promises, v0.2+ inclusion proofs, v0.3 a single
 *   certificate); base64 fields are strict; log indexes are not negative;
 * - messageSignature: the artifact's digest equals the bundle's messageDigest
 *   (the library compares it with nothing); over a digest alone the signature
 *   is checked on the digest (prehashed.ts);
 * - DSSE: an in-toto statement with one signature, one of whose subjects
 *   has the artifact's sha256;
 * - each tlog body names the same key or certificate as the bundle (the
 *   library's verifyTLogBody compares signature and digest only), is of a
 *   kind that fits the content, and never the old `rekord` kind;
 * - SAN and issuer compare exactly (the library takes the SAN as a regexp);
 * - the signing certificate is not a CA.
 *
 * Every error (the library throws TypeErrors on some inputs) becomes
 * `{ ok: false, reason }` with a one-line reason.
 */
import { type KeyObject, X509Certificate as NodeX509, createHash, createPublicKey } from 'node:crypto';
import { BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, type Bundle, type TransparencyLogEntry, assertBundleLatest, assertBundleV01, assertBundleV02, bundleFromJSON } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { type SignedEntity, type TrustMaterial, Verifier, toSignedEntity } from '@sigstore/verify';
import { z } from 'zod';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES, inTotoStatementSchema } from './payload.js';
import { prehashUnsupported, verifyPrehashed } from './prehashed.js';

export type BundleArtifact = { bytes: Buffer } | { digest: string };
export type BundleExpectation = { publicKey: string | Buffer | KeyObject } | { identity: string; issuer: string };

export interface VerifyBundleInput {
  /** The bundle: its JSON text, or already parsed. */
  bundleJson: string | Buffer | unknown;
  /** The signed bytes, or `sha256:<hex>` of them (for DSSE: an in-toto subject's digest). */
  artifact: BundleArtifact;
  trust: TrustMaterial;
  expect: BundleExpectation;
  /** Key-signed bundles must carry a verified tlog entry (default true; certificates always need one). */
  requireTlogForKey?: boolean;
}

export type BundleSigner = { type: 'key'; keyId: string } | { type: 'certificate'; identity: string; issuer: string };

export type VerifyBundleResult =
  | { ok: true; signer: BundleSigner; mediaType: string; content: 'messageSignature' | 'dsseEnvelope' }
  | { ok: false; reason: string };

class Refusal extends Error {}
function refuse(reason: string): never {
  throw new Refusal(reason);
}

const MEDIA_TYPES = [BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE];
const HASHES: Partial<Record<HashAlgorithm, 'sha256' | 'sha384' | 'sha512'>> = {
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};
const SHA256_DIGEST = /^sha256:([0-9a-fA-F]{64})$/;

/**
 * Standard or URL-safe base64, padded or not, that decodes to exactly what it
 * says; line breaks are skipped, as Go's and Python's decoders skip them.
 */
function strictBase64(text: string): boolean {
  const s = text.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s) || s.replace(/=+$/, '').length % 4 === 1) return false;
  const norm = (t: string) => t.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  return norm(Buffer.from(norm(s), 'base64').toString('base64')) === norm(s);
}
const b64 = z.string().refine(strictBase64, 'not base64');
const rawBytes = z.looseObject({ rawBytes: b64 });
const int64 = z.union([z.string().regex(/^-?\d+$/), z.number().int()]);
const tlogEntrySchema = z.looseObject({
  logIndex: int64.refine((v) => BigInt(v) >= 0n, 'negative log index'),
  logId: z.looseObject({ keyId: b64 }),
  kindVersion: z.looseObject({ kind: z.string(), version: z.string() }),
  integratedTime: int64.nullish(),
  inclusionPromise: z.looseObject({ signedEntryTimestamp: b64 }).nullish(),
  inclusionProof: z.looseObject({ rootHash: b64, hashes: z.array(b64).nullish() }).nullish(),
  canonicalizedBody: b64,
});
/** The outer shape, with the checks protobuf-specs' lenient fromJSON does not make. */
const bundleShape = z.looseObject({
  mediaType: z.string(),
  verificationMaterial: z.looseObject({
    certificate: rawBytes.nullish(),
    x509CertificateChain: z.looseObject({ certificates: z.array(rawBytes) }).nullish(),
    publicKey: z.looseObject({ hint: z.string().nullish() }).nullish(),
    tlogEntries: z.array(tlogEntrySchema).nullish(),
    timestampVerificationData: z.looseObject({ rfc3161Timestamps: z.array(z.looseObject({ signedTimestamp: b64 })).nullish() }).nullish(),
  }),
  messageSignature: z.looseObject({ messageDigest: z.looseObject({ algorithm: z.string().nullish(), digest: b64 }).nullish(), signature: b64 }).nullish(),
  dsseEnvelope: z.looseObject({ payload: b64, payloadType: z.string(), signatures: z.array(z.looseObject({ sig: b64, keyid: z.string().nullish() })) }).nullish(),
});

function parseBundleJson(input: unknown): { bundle: Bundle; mediaType: string } {
  let json = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString());
    } catch {
      refuse('bundle is not JSON');
    }
  }
  const shape = bundleShape.safeParse(json);
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    refuse(`not a valid Sigstore bundle (${issue.path.join('.') || '(root)'}: ${issue.message})`);
  }
  const mediaType = shape.data!.mediaType;
  if (!MEDIA_TYPES.includes(mediaType)) refuse(`unsupported bundle media type ${JSON.stringify(mediaType)}`);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
    if (mediaType === BUNDLE_V01_MEDIA_TYPE) assertBundleV01(bundle);
    else if (mediaType === BUNDLE_V02_MEDIA_TYPE) assertBundleV02(bundle);
    else assertBundleLatest(bundle);
  } catch (err) {
    const fields = (err as { fields?: string[] }).fields;
    return refuse(`not a valid ${mediaType} bundle${fields?.length ? ` (${fields.join(', ')})` : ` (${(err as Error).message})`}`);
  }
  if (mediaType === BUNDLE_V01_MEDIA_TYPE) {
    // v0.1 rests on the inclusion promise (checked); an inclusion proof there may
    // predate checkpoints, and one without a checkpoint proves nothing: set aside.
    for (const entry of bundle.verificationMaterial.tlogEntries) {
      if (entry.inclusionProof !== undefined && entry.inclusionProof.checkpoint?.envelope === undefined) delete entry.inclusionProof;
    }
  }
  const vm = bundle.verificationMaterial.content;
  if (vm.$case === 'x509CertificateChain') {
    for (const c of vm.x509CertificateChain.certificates) {
      let selfSigned = false;
      try {
        const cert = new NodeX509(Buffer.from(c.rawBytes));
        selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
      } catch {
        refuse('bundle certificate chain holds an unreadable certificate');
      }
      if (selfSigned) refuse('bundle certificate chain includes a root certificate (roots come from the trusted root only)');
    }
  }
  return { bundle, mediaType };
}

/** The leaf certificate's DER, or undefined for a key-signed bundle. */
function leafCertificate(bundle: Bundle): Buffer | undefined {
  const vm = bundle.verificationMaterial.content;
  switch (vm.$case) {
    case 'certificate':
      return Buffer.from(vm.certificate.rawBytes);
    case 'x509CertificateChain':
      return Buffer.from(vm.x509CertificateChain.certificates[0]!.rawBytes);
    default:
      return undefined;
  }
}

function spki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/** A tlog body's verifier: base64 of a PEM (Rekor v1 kinds) or a typed DER (Rekor v2). */
type BodyVerifier = { cert: Buffer } | { key: Buffer };

function fromPem(b64text: unknown): BodyVerifier {
  if (typeof b64text !== 'string') return refuse('tlog entry names no key or certificate');
  const pem = Buffer.from(b64text, 'base64').toString('utf8');
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return { cert: new NodeX509(pem).raw };
    return { key: spki(createPublicKey({ key: pem, format: 'pem' })) };
  } catch {
    return refuse('tlog entry key or certificate is unreadable');
  }
}

function fromV2Verifier(v: unknown): BodyVerifier {
  const parsed = z.looseObject({ publicKey: rawBytes.optional(), x509Certificate: rawBytes.optional() }).safeParse(v);
  if (parsed.success && parsed.data.x509Certificate) return { cert: Buffer.from(parsed.data.x509Certificate.rawBytes, 'base64') };
  if (parsed.success && parsed.data.publicKey) {
    try {
      return { key: spki(createPublicKey({ key: Buffer.from(parsed.data.publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' })) };
    } catch {
      return refuse('tlog entry key is unreadable');
    }
  }
  return refuse('tlog entry names no key or certificate');
}

/**
 * Checks kind against content and pulls the verifiers out of a tlog body;
 * signature and digest are compared by @sigstore/verify's verifyTLogBody.
 */
function bodyVerifiers(entry: TransparencyLogEntry, content: Bundle['content']['$case']): BodyVerifier[] {
  const { kind, version } = entry.kindVersion!;
  const kv = `${kind}/${version}`;
  if (kind === 'rekord') refuse(`tlog entry is of the old "rekord" kind (${kv}), which is not supported: re-sign to get a hashedrekord or dsse entry`);
  const fits =
    content === 'messageSignature' ? ['hashedrekord/0.0.1', 'hashedrekord/0.0.2'] : ['dsse/0.0.1', 'dsse/0.0.2', 'intoto/0.0.2', 'hashedrekord/0.0.2'];
  if (!fits.includes(kv)) refuse(`tlog entry kind ${kv} does not fit a ${content} bundle`);
  let body: any;
  try {
    body = JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8'));
  } catch {
    return refuse('tlog entry body is not JSON');
  }
  if (body?.kind !== kind || body?.apiVersion !== version) refuse(`tlog entry body is ${body?.kind}/${body?.apiVersion}, not ${kv}`);
  const sigs = (list: unknown): any[] => (Array.isArray(list) && list.length > 0 ? list : refuse('tlog entry has no signatures'));
  switch (kv) {
    case 'hashedrekord/0.0.1':
      return [fromPem(body.spec?.signature?.publicKey?.content)];
    case 'hashedrekord/0.0.2':
      return [fromV2Verifier(body.spec?.hashedRekordV002?.signature?.verifier)];
    case 'dsse/0.0.1':
      return sigs(body.spec?.signatures).map((s) => fromPem(s?.verifier));
    case 'dsse/0.0.2':
      return sigs(body.spec?.dsseV002?.signatures).map((s) => fromV2Verifier(s?.verifier));
    case 'intoto/0.0.2':
      return sigs(body.spec?.content?.envelope?.signatures).map((s) => fromPem(s?.publicKey));
    default:
      return refuse(`unsupported tlog entry kind ${kv}`);
  }
}

function checkTlogBodies(bundle: Bundle, signer: { cert: Buffer } | { key: KeyObject }): void {
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    for (const v of bodyVerifiers(entry, bundle.content.$case)) {
      const same = 'cert' in signer ? 'cert' in v && v.cert.equals(signer.cert) : 'key' in v && v.key.equals(spki(signer.key));
      if (!same) refuse(`tlog entry is for another ${'cert' in signer ? 'certificate' : 'key'} than the bundle's`);
    }
  }
}

function artifactSha256(artifact: BundleArtifact): Buffer {
  if ('bytes' in artifact) return createHash('sha256').update(artifact.bytes).digest();
  const m = SHA256_DIGEST.exec(artifact.digest);
  return m ? Buffer.from(m[1]!, 'hex') : refuse(`artifact digest must be sha256:<64 hex digits>, not ${JSON.stringify(artifact.digest)}`);
}

function checkStatementSubject(bundle: Bundle, artifact: BundleArtifact): void {
  if (bundle.content.$case !== 'dsseEnvelope') return;
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) refuse(`DSSE payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  if (env.signatures.length !== 1) refuse(`DSSE envelope has ${env.signatures.length} signatures, not 1`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(env.payload).toString('utf8'));
  } catch {
    refuse('DSSE payload is not JSON');
  }
  const st = inTotoStatementSchema.safeParse(json);
  if (!st.success || !IN_TOTO_STATEMENT_TYPES.includes(st.data._type)) return refuse('DSSE payload is not an in-toto statement');
  const want = artifactSha256(artifact).toString('hex');
  if (!st.data.subject.some((s) => s.digest.sha256?.toLowerCase() === want)) refuse(`no in-toto subject has the artifact's digest sha256:${want}`);
}

/** The entity to verify; for a messageSignature, the artifact's digest checked against the bundle's. */
function signedEntity(bundle: Bundle, artifact: BundleArtifact, signerKey: KeyObject): SignedEntity {
  if (bundle.content.$case === 'dsseEnvelope') return toSignedEntity(bundle);
  const ms = bundle.content.messageSignature;
  const digest = ms.messageDigest;
  if (digest === undefined) return refuse('bundle has no message digest');
  const hash = HASHES[digest.algorithm === HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED ? HashAlgorithm.SHA2_256 : digest.algorithm];
  if (hash === undefined) return refuse(`unsupported message digest algorithm ${HashAlgorithm[digest.algorithm] ?? digest.algorithm}`);
  if ('bytes' in artifact) {
    const actual = createHash(hash).update(artifact.bytes).digest();
    if (!actual.equals(Buffer.from(digest.digest))) refuse(`artifact ${hash} digest does not match the bundle's message digest`);
    return toSignedEntity(bundle, artifact.bytes);
  }
  if (hash !== 'sha256') refuse(`bundle digests the artifact with ${hash}, the artifact is given as sha256`);
  const given = artifactSha256(artifact);
  if (!given.equals(Buffer.from(digest.digest))) refuse("artifact digest does not match the bundle's message digest");
  const unsupported = prehashUnsupported(signerKey);
  if (unsupported !== undefined) refuse(unsupported);
  const entity = toSignedEntity(bundle);
  const content = entity.signature;
  return {
    ...entity,
    signature: {
      signature: content.signature,
      compareSignature: (s) => content.compareSignature(s),
      compareDigest: (d) => content.compareDigest(d),
      compareSignedDigest: (d) => content.compareSignedDigest(d),
      verifySignature: (key) => verifyPrehashed(key, given, content.signature, 'sha256'),
    },
  };
}

/** `SHA256:` and 16 hex digits of the SPKI's hash (as keys.ts names keys). */
export function keyId(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(spki(key)).digest('hex').slice(0, 16)}`;
}

function toKey(k: string | Buffer | KeyObject): KeyObject {
  if (typeof k === 'string' || Buffer.isBuffer(k)) {
    try {
      return createPublicKey({ key: k, format: 'pem' });
    } catch {
      return refuse('the expected public key is not a PEM public key');
    }
  }
  return k;
}

/** An error's message with its causes, on one line. */
function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    e = e instanceof Error ? e.cause : undefined;
  }
  const text = parts.join(': ').replace(/\s+/g, ' ').trim() || 'verification failed';
  return err instanceof TypeError || err instanceof RangeError ? `malformed bundle (${text})` : text;
}

function verifyOrThrow(input: VerifyBundleInput): VerifyBundleResult {
  const { bundle, mediaType } = parseBundleJson(input.bundleJson);
  const leafDer = leafCertificate(bundle);
  const expect = input.expect;
  const wantsKey = 'publicKey' in expect;
  if (wantsKey && leafDer !== undefined) refuse('bundle is signed with a certificate, a public key was expected');
  if (!wantsKey && leafDer === undefined) refuse('bundle is signed with a public key, a certificate identity was expected (use a key)');

  checkStatementSubject(bundle, input.artifact);

  if (wantsKey) {
    const key = toKey(expect.publicKey);
    checkTlogBodies(bundle, { key });
    const requireTlog = input.requireTlogForKey ?? true;
    const trust: TrustMaterial = { ...input.trust, publicKey: () => ({ publicKey: key, validFor: () => true }) };
    const entity = signedEntity(bundle, input.artifact, key);
    new Verifier(trust, { tlogThreshold: requireTlog ? 1 : 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
    return { ok: true, signer: { type: 'key', keyId: keyId(key) }, mediaType, content: bundle.content.$case };
  }

  const { identity, issuer } = expect;
  let leafKey: KeyObject;
  let leaf: NodeX509;
  try {
    leaf = new NodeX509(leafDer!);
    leafKey = leaf.publicKey;
  } catch {
    return refuse('signing certificate is unreadable');
  }
  if (leaf.ca) refuse('signing certificate is a CA certificate');
  checkTlogBodies(bundle, { cert: leafDer! });
  const entity = signedEntity(bundle, input.artifact, leafKey);
  const signer = new Verifier(input.trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity);
  const san = signer.identity?.subjectAlternativeName;
  const gotIssuer = signer.identity?.extensions?.issuer;
  if (san !== identity) refuse(`certificate identity is ${san ?? '(none)'}, expected ${identity}`);
  if (gotIssuer !== issuer) refuse(`certificate OIDC issuer is ${gotIssuer ?? '(none)'}, expected ${issuer}`);
  return { ok: true, signer: { type: 'certificate', identity: san, issuer: gotIssuer }, mediaType, content: bundle.content.$case };
}

/** Verifies a bundle; never throws. */
export function verifyBundle(input: VerifyBundleInput): VerifyBundleResult {
  try {
    return verifyOrThrow(input);
  } catch (err) {
    return { ok: false, reason: describe(err) };
  }
}
