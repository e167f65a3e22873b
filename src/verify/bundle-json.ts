/**
 * Reading a bundle's JSON strictly: the caps (limits.ts) before any work, the
 * outer shape with the checks protobuf-specs' lenient fromJSON does not make
 * (strict base64, non-negative log indexes), one of the four known media types
 * and its version's rules (v0.1 inclusion promises, v0.2+ inclusion proofs,
 * v0.3 a single certificate), and no root certificate in a bundle's chain.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import {
  BUNDLE_V01_MEDIA_TYPE,
  BUNDLE_V02_MEDIA_TYPE,
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  type Bundle,
  assertBundleLatest,
  assertBundleV01,
  assertBundleV02,
  bundleFromJSON,
} from '@sigstore/bundle';
import { z } from '../zod.js';
import { VerifyDetail } from './detail.js';
import { bundleOverLimits } from './limits.js';
import { refuse } from './refusal.js';

const MEDIA_TYPES = [BUNDLE_V01_MEDIA_TYPE, BUNDLE_V02_MEDIA_TYPE, BUNDLE_V03_LEGACY_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE];

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
export const rawBytes = z.looseObject({ rawBytes: b64 });
const int64 = z.union([z.string().regex(/^-?\d+$/), z.number().int()]);
const tlogEntrySchema = z.looseObject({
  // zod runs the refinement on what int64 refused too ('1x'): BigInt's SyntaxError must not escape the shape check
  logIndex: int64.refine((v) => /^\d+$/.test(String(v)), 'negative log index'),
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
  messageSignature: z
    .looseObject({ messageDigest: z.looseObject({ algorithm: z.string().nullish(), digest: b64 }).nullish(), signature: b64 })
    .nullish(),
  dsseEnvelope: z
    .looseObject({ payload: b64, payloadType: z.string(), signatures: z.array(z.looseObject({ sig: b64, keyid: z.string().nullish() })) })
    .nullish(),
});

export function parseBundleJson(input: unknown): { bundle: Bundle; mediaType: string } {
  let json = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString());
    } catch {
      refuse(VerifyDetail.BUNDLE, 'bundle is not JSON');
    }
  }
  // caps before any work whose cost grows with the counts
  const over = bundleOverLimits(json);
  if (over !== undefined) refuse(VerifyDetail.LIMITS, over);
  const shape = bundleShape.safeParse(json);
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    refuse(VerifyDetail.BUNDLE, `not a valid Sigstore bundle (${issue.path.join('.') || '(root)'}: ${issue.message})`);
  }
  const mediaType = shape.data!.mediaType;
  if (!MEDIA_TYPES.includes(mediaType)) refuse(VerifyDetail.BUNDLE, `unsupported bundle media type ${JSON.stringify(mediaType)}`);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
    if (mediaType === BUNDLE_V01_MEDIA_TYPE) assertBundleV01(bundle);
    else if (mediaType === BUNDLE_V02_MEDIA_TYPE) assertBundleV02(bundle);
    else assertBundleLatest(bundle);
  } catch (err) {
    const fields = (err as { fields?: string[] }).fields;
    return refuse(
      VerifyDetail.BUNDLE,
      `not a valid ${mediaType} bundle${fields?.length ? ` (${fields.join(', ')})` : ` (${(err as Error).message})`}`,
    );
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
        refuse(VerifyDetail.BUNDLE, 'bundle certificate chain holds an unreadable certificate');
      }
      if (selfSigned)
        refuse(VerifyDetail.CERT_CHAIN, 'bundle certificate chain includes a root certificate (roots come from the trusted root only)');
    }
  }
  return { bundle, mediaType };
}

/** The leaf certificate's DER, or undefined for a key-signed bundle. */
export function leafCertificate(bundle: Bundle): Buffer | undefined {
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

/** The intermediates a bundle's chain carries (legacy: cosign's chain annotation), DER. */
export function bundleIntermediates(bundle: Bundle): Buffer[] {
  const vm = bundle.verificationMaterial.content;
  if (vm.$case !== 'x509CertificateChain') return [];
  return vm.x509CertificateChain.certificates.slice(1).map((c) => Buffer.from(c.rawBytes));
}
