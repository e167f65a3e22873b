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
 * - SAN and issuer compare exactly (the library takes the SAN as a regexp),
 *   or a policy's certificate rule judges them (src/policy/certificate-rules.ts);
 * - the signing certificate is not a CA, and its path to a trusted root is
 *   validated as RFC 5280 and Go's crypto/x509 do (x509-path.ts: name
 *   constraints, EKU nesting, basic constraints, path length, validity at
 *   every proven time) within bounds; the library then re-checks only that
 *   path (pinnedPath), never building paths of its own through certificates
 *   a signature brought along;
 * - what a bundle may carry is capped (limits.ts) before any work.
 *
 * For policies other than the Sigstore defaults (`certificate` options):
 * Rekor, SCTs and timestamps may be optional, in which case a certificate
 * without a verified timestamp is checked at the current time; Rekor entries
 * may be set aside altogether (containers-policy.json's `pki`); intermediates
 * the bundle carries may link the leaf to a trusted root (containers/image's
 * `fulcio` and `pki` do so with cosign's chain annotation); a leaf with an
 * extended key usage must allow code signing.
 *
 * Every error (the library throws TypeErrors on some inputs) becomes
 * `{ ok: false, reason }` with a one-line reason.
 */
import { type KeyObject, X509Certificate as NodeX509, createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, type Bundle, type TransparencyLogEntry, assertBundleLatest, assertBundleV01, assertBundleV02, bundleFromJSON } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { X509Certificate as CoreX509 } from '@sigstore/core';
import { type SignedEntity, type TrustMaterial, Verifier, toSignedEntity } from '@sigstore/verify';
import { z } from '../zod.js';
import { type CertificateFacts, type CertificateRule, certificateMismatch, describeHolder } from '../policy/certificate-rules.js';
import { CertificateProblem, certificateFacts } from './certificate.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES, inTotoStatementSchema } from './payload.js';
import { withSignatureCheck } from './signature-check.js';
import { prehashUnsupported, verifyPrehashed } from './prehashed.js';
import { mustPropagate } from './control.js';
import { SIGNATURE_LIMITS, bundleOverLimits } from './limits.js';

export type BundleArtifact = { bytes: Buffer } | { digest: string };
export type BundleExpectation =
  | { publicKey: string | Buffer | KeyObject }
  | { identity: string; issuer: string }
  /** A policy's rule for the certificate holder. */
  | { certificate: CertificateRule };

/** How a certificate is verified, where a policy departs from the Sigstore defaults (every field defaults to true/false as named). */
export interface CertificateOptions {
  /** At least one verified Rekor entry (default true). */
  requireTlog?: boolean;
  /** At least one verified embedded SCT (default true); false: SCTs are not checked at all. */
  requireSCT?: boolean;
  /**
   * At least one verified timestamp: a Rekor entry's integrated time or an RFC 3161
   * timestamp (default true). Without one, the certificate is checked at the current time.
   */
  requireTimestamp?: boolean;
  /** Set Rekor entries and timestamps aside: the certificate is checked at the current time (default false). */
  ignoreTlog?: boolean;
  /** Intermediates in the bundle's chain may link the leaf to a trusted root (default false). */
  bundleIntermediates?: boolean;
  /** The current time (tests). */
  now?: Date;
}

export interface VerifyBundleInput {
  /** The bundle: its JSON text, or already parsed. */
  bundleJson: string | Buffer | unknown;
  /** The signed bytes, or `sha256:<hex>` of them (for DSSE: an in-toto subject's digest). */
  artifact: BundleArtifact;
  trust: TrustMaterial;
  expect: BundleExpectation;
  /** Key-signed bundles must carry a verified tlog entry (default true; for certificates see `certificate`). */
  requireTlogForKey?: boolean;
  /** Certificate verification departing from the Sigstore defaults. */
  certificate?: CertificateOptions;
  /** Called between units of work; throws to stop (DEADLINE_EXCEEDED), which verifyBundle lets through. */
  checkpoint?: () => void;
}

export type BundleSigner =
  | { type: 'key'; keyId: string }
  | { type: 'certificate'; identity: string; issuer: string; facts?: CertificateFacts };

export type VerifyBundleResult =
  | { ok: true; signer: BundleSigner; mediaType: string; content: 'messageSignature' | 'dsseEnvelope' }
  /** `holder`: everything verified but who holds the certificate, which the rule refuses. */
  | { ok: false; reason: string; holder?: CertificateFacts };

class Refusal extends Error {
  constructor(
    message: string,
    readonly holder?: CertificateFacts,
  ) {
    super(message);
  }
}
function refuse(reason: string, holder?: CertificateFacts): never {
  throw new Refusal(reason, holder);
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
  // caps before any work whose cost grows with the counts
  const over = bundleOverLimits(json);
  if (over !== undefined) refuse(over);
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
  const sigs = (list: unknown): any[] => {
    if (!Array.isArray(list) || list.length === 0) return refuse('tlog entry has no signatures');
    if (list.length > SIGNATURE_LIMITS.tlogBodySignatures) refuse(`tlog entry has ${list.length} signatures, more than ${SIGNATURE_LIMITS.tlogBodySignatures}`);
    return list;
  };
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
    const entity = toSignedEntity(bundle, artifact.bytes);
    if (signerKey.asymmetricKeyType !== 'ed25519') return entity;
    // Ed25519 signs the message itself (cosign's legacy signatures by Ed25519 keys):
    // the library always names a digest algorithm, which node refuses for Ed25519.
    const bytes = artifact.bytes;
    return withSignatureCheck(entity, (key, signature) => cryptoVerify(null, bytes, key, signature));
  }
  if (hash !== 'sha256') refuse(`bundle digests the artifact with ${hash}, the artifact is given as sha256`);
  const given = artifactSha256(artifact);
  if (!given.equals(Buffer.from(digest.digest))) refuse("artifact digest does not match the bundle's message digest");
  const unsupported = prehashUnsupported(signerKey);
  if (unsupported !== undefined) refuse(unsupported);
  return withSignatureCheck(toSignedEntity(bundle), (key, signature) => verifyPrehashed(key, given, signature, 'sha256'));
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

async function verifyOrThrow(input: VerifyBundleInput): Promise<VerifyBundleResult> {
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

  let leafKey: KeyObject;
  let leaf: NodeX509;
  try {
    leaf = new NodeX509(leafDer!);
    leafKey = leaf.publicKey;
  } catch {
    return refuse('signing certificate is unreadable');
  }
  if (leaf.ca) refuse('signing certificate is a CA certificate');
  if ('certificate' in expect) return await verifyForPolicy(input, expect.certificate, bundle, mediaType, leafDer!, leafKey);

  const { identity, issuer } = expect;
  checkTlogBodies(bundle, { cert: leafDer! });
  const entity = signedEntity(bundle, input.artifact, leafKey);
  const timed = entity.timestamps.filter(usable);
  // without a timestamp the library refuses (threshold 1) before it looks at the chain
  const trust = timed.length === 0 ? input.trust : await pinnedPath(input, bundle, leafDer!, timed, false);
  input.checkpoint?.();
  const signer = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity);
  const san = signer.identity?.subjectAlternativeName;
  const gotIssuer = signer.identity?.extensions?.issuer;
  if (san !== identity) refuse(`certificate identity is ${san ?? '(none)'}, expected ${identity}`);
  if (gotIssuer !== issuer) refuse(`certificate OIDC issuer is ${gotIssuer ?? '(none)'}, expected ${issuer}`);
  return { ok: true, signer: { type: 'certificate', identity: san, issuer: gotIssuer }, mediaType, content: bundle.content.$case };
}

type EntityTimestamp = SignedEntity['timestamps'][number];

/** The current time, as a timestamp the verifier checks the certificate chain at (it checks at timestamps only). */
export function currentTime(now: Date): EntityTimestamp {
  const tlogEntry = {
    logIndex: '0',
    logId: { keyId: Buffer.from('sigguard: the current time') },
    integratedTime: String(Math.floor(now.getTime() / 1000)),
    inclusionPromise: { signedEntryTimestamp: Buffer.alloc(0) },
    canonicalizedBody: Buffer.alloc(0),
  } as unknown as TransparencyLogEntry;
  return { $case: 'transparency-log', tlogEntry };
}

/** Timestamps the verifier can use: RFC 3161 ones, and Rekor entries with an inclusion promise (integrated time). */
const usable = (t: EntityTimestamp): boolean => t.$case === 'timestamp-authority' || t.tlogEntry.inclusionPromise !== undefined;

/** When a timestamp says the signature was made: the time the library checks the chain at. */
function timestampDate(t: EntityTimestamp): Date {
  return t.$case === 'timestamp-authority' ? t.timestamp.signingTime : new Date(Number(t.tlogEntry.integratedTime) * 1000);
}

/** The intermediates a bundle's chain carries (legacy: cosign's chain annotation), DER. */
function bundleIntermediates(bundle: Bundle): Buffer[] {
  const vm = bundle.verificationMaterial.content;
  if (vm.$case !== 'x509CertificateChain') return [];
  return vm.x509CertificateChain.certificates.slice(1).map((c) => Buffer.from(c.rawBytes));
}

/**
 * The trust material narrowed to one certificate authority whose chain is the path
 * x509-path.ts chose and validated (RFC 5280, name constraints, EKU nesting) at every
 * timestamp: the library then re-checks exactly that path, and never builds paths
 * through certificates a signature brought along (its builder has no bounds).
 */
async function pinnedPath(input: VerifyBundleInput, bundle: Bundle, leafDer: Buffer, timestamps: EntityTimestamp[], withIntermediates: boolean): Promise<TrustMaterial> {
  const bundleChain = withIntermediates ? bundleIntermediates(bundle) : [];
  // loaded on first use: pkijs costs start-up time that key-only verification need not pay
  const { PathRefusal, validatePath } = await import('./x509-path.js');
  let path;
  try {
    path = await validatePath({ leaf: leafDer, untrusted: bundleChain, authorities: input.trust.certificateAuthorities, times: timestamps.map(timestampDate), checkpoint: input.checkpoint });
  } catch (err) {
    if (err instanceof PathRefusal) refuse(`certificate chain not trusted: ${err.message}`);
    throw err;
  }
  const certChain = path.certificates.slice(1).map((der) => CoreX509.parse(Buffer.from(der)));
  return { ...input.trust, certificateAuthorities: [{ certChain, validFor: path.authority.validFor }] };
}

/**
 * A view of the leaf whose copy has no SCT extension: the library verifies every SCT a
 * certificate embeds (against the trusted CT logs) and offers no way to skip that, and it
 * makes that copy only to verify SCTs. Used when SCTs are not required.
 */
export function withoutSCTs(cert: CoreX509): CoreX509 {
  const view = Object.assign(Object.create(Object.getPrototypeOf(cert) as object) as CoreX509, cert);
  view.clone = () => {
    const copy = cert.clone();
    const i = copy.extensions.findIndex((ext) => ext.subs[0]?.toOID() === '1.3.6.1.4.1.11129.2.4.2');
    if (i >= 0) copy.extensions.splice(i, 1);
    return copy;
  };
  return view;
}

async function verifyForPolicy(input: VerifyBundleInput, rule: CertificateRule, bundle: Bundle, mediaType: string, leafDer: Buffer, leafKey: KeyObject): Promise<VerifyBundleResult> {
  const opts = input.certificate ?? {};
  const ignoreTlog = opts.ignoreTlog ?? false;
  const requireTlog = !ignoreTlog && (opts.requireTlog ?? true);
  const requireSCT = opts.requireSCT ?? true;
  const requireTimestamp = !ignoreTlog && (opts.requireTimestamp ?? true);
  let facts: CertificateFacts;
  try {
    facts = certificateFacts(leafDer);
  } catch (err) {
    if (err instanceof CertificateProblem) return refuse(err.message);
    throw err;
  }
  if (!facts.codeSigning) refuse('signing certificate is not for code signing (extended key usage)');
  if (!ignoreTlog) checkTlogBodies(bundle, { cert: leafDer });
  let entity = signedEntity(bundle, input.artifact, leafKey);
  if (ignoreTlog) entity = { ...entity, tlogEntries: [], timestamps: [] };
  // RFC 3161 timestamps with no timestamp authority to check them against prove nothing: set aside
  const noTSA = input.trust.timestampAuthorities.length === 0;
  const timed = entity.timestamps.filter((t) => usable(t) && !(noTSA && t.$case === 'timestamp-authority'));
  if (timed.length === 0) {
    if (requireTimestamp) {
      refuse(
        requireTlog && entity.tlogEntries.length === 0
          ? 'no Rekor entry: the signature was not logged, and the policy requires Rekor'
          : 'no Rekor entry or RFC 3161 timestamp proves when the certificate signed, and the policy requires one',
      );
    }
    entity = { ...entity, timestamps: [currentTime(opts.now ?? new Date())] };
  } else {
    entity = { ...entity, timestamps: timed };
  }
  if (!requireSCT && entity.key.$case === 'certificate') entity = { ...entity, key: { ...entity.key, certificate: withoutSCTs(entity.key.certificate) } };
  let trust: TrustMaterial;
  try {
    trust = await pinnedPath(input, bundle, leafDer, entity.timestamps, opts.bundleIntermediates ?? false);
  } catch (err) {
    if (err instanceof Refusal && timed.length === 0 && /not valid or expired/.test(err.message)) {
      refuse(`${err.message} (checked at the current time${ignoreTlog ? '' : ': no Rekor entry or timestamp proves the signing time'})`);
    }
    throw err;
  }
  input.checkpoint?.();
  try {
    new Verifier(trust, { tlogThreshold: requireTlog ? 1 : 0, ctlogThreshold: requireSCT ? 1 : 0, timestampThreshold: requireTimestamp ? 1 : 0 }).verify(entity);
  } catch (err) {
    const detail = describe(err);
    if (timed.length === 0 && /not valid or expired/.test(detail)) {
      refuse(`${detail} (checked at the current time${ignoreTlog ? '' : ': no Rekor entry or timestamp proves the signing time'})`);
    }
    throw err;
  }
  const wanted = certificateMismatch(rule, facts);
  if (wanted !== undefined) refuse(`signed by ${describeHolder(facts)}, policy requires ${wanted}`, facts);
  const identity = facts.sans[0]?.value ?? '(no subject alternative name)';
  return { ok: true, signer: { type: 'certificate', identity, issuer: facts.issuer ?? '', facts }, mediaType, content: bundle.content.$case };
}

/** Verifies a bundle; never throws, but for the checkpoint's DEADLINE_EXCEEDED. */
export async function verifyBundle(input: VerifyBundleInput): Promise<VerifyBundleResult> {
  try {
    input.checkpoint?.();
    return await verifyOrThrow(input);
  } catch (err) {
    if (mustPropagate(err)) throw err;
    if (err instanceof Refusal && err.holder !== undefined) return { ok: false, reason: describe(err), holder: err.holder };
    return { ok: false, reason: describe(err) };
  }
}
