/**
 * Legacy cosign signatures: the simple-signing payload and its detached
 * signature become a Sigstore bundle (messageSignature over the payload bytes)
 * that @sigstore/verify checks. With cosign's other annotations, a v0.1 bundle
 * carries what they do: `dev.sigstore.cosign/certificate` and `/chain` the
 * certificate chain (without roots: those come from the policy only),
 * `/bundle` the Rekor entry with its signed entry timestamp as inclusion
 * promise, `/rfc3161timestamp` an RFC 3161 timestamp.
 */
import { X509Certificate, createHash, verify as cryptoVerify } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { type SignedEntity, toSignedEntity } from '@sigstore/verify';
import type { FoundSignature } from '../discovery/types.js';
import { z } from '../zod.js';
import { type TrustedKey, signatureHashFor } from './keys.js';
import { withSignatureCheck } from './signature-check.js';
import { VerifyDetail } from './detail.js';
import { SIGNATURE_LIMITS } from './limits.js';
import { SIMPLE_SIGNING_TYPE, type SignedClaim, simpleSigningSchema } from './payload.js';

type LegacySignature = Extract<FoundSignature, { format: 'legacy' }>;

/** A signature that cannot be read; `detail`: PAYLOAD (what it signs), LIMITS (a cap), else BUNDLE. */
export class MalformedSignature extends Error {
  constructor(
    message: string,
    readonly detail: VerifyDetail = VerifyDetail.BUNDLE,
  ) {
    super(message);
  }
}

/** The payload's claim; throws MalformedSignature when it is not a cosign simple-signing payload. */
export function readLegacyClaim(sig: LegacySignature): SignedClaim {
  let json: unknown;
  try {
    json = JSON.parse(sig.payload.toString('utf8'));
  } catch {
    throw new MalformedSignature('payload is not JSON', VerifyDetail.PAYLOAD);
  }
  const parsed = simpleSigningSchema.safeParse(json);
  if (!parsed.success) throw new MalformedSignature('payload is not a cosign simple-signing document', VerifyDetail.PAYLOAD);
  if (parsed.data.critical.type !== SIMPLE_SIGNING_TYPE) {
    throw new MalformedSignature(`payload type is "${parsed.data.critical.type}", not "${SIMPLE_SIGNING_TYPE}"`, VerifyDetail.PAYLOAD);
  }
  return {
    digest: parsed.data.critical.image['docker-manifest-digest'],
    dockerReference: parsed.data.critical.identity['docker-reference'],
  };
}

export const ANNOTATION_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANNOTATION_CHAIN = 'dev.sigstore.cosign/chain';
export const ANNOTATION_BUNDLE = 'dev.sigstore.cosign/bundle';
export const ANNOTATION_TIMESTAMP = 'dev.sigstore.cosign/rfc3161timestamp';
export const V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

/** The signature annotation's text, checked to be base64. */
function signatureText(sig: LegacySignature): string {
  if (sig.signature === undefined || sig.signature === '') throw new MalformedSignature('no dev.cosignproject.cosign/signature annotation');
  // Go's base64 decoder (cosign's) skips line breaks; nothing else is tolerated.
  const text = sig.signature.replace(/[\r\n]/g, '');
  const raw = Buffer.from(text, 'base64');
  if (raw.length === 0 || raw.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    throw new MalformedSignature('signature annotation is not base64');
  }
  return text;
}

function messageSignature(sig: LegacySignature, text: string) {
  return {
    messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(sig.payload).digest('base64') },
    signature: text,
  };
}

/** The Sigstore bundle equivalent of a legacy signature (v0.1, public key, no log entries). */
export function legacyToBundle(sig: LegacySignature): Bundle {
  const text = signatureText(sig);
  try {
    return bundleFromJSON({
      mediaType: V01,
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
      messageSignature: messageSignature(sig, text),
    });
  } catch (err) {
    throw new MalformedSignature(`cannot form a bundle: ${(err as Error).message}`);
  }
}

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

/** The PEM certificate blocks of an annotation, found in linear time, at most `max` of them. */
function pemBlocks(text: string, max: number, what: string): string[] {
  const blocks: string[] = [];
  for (let at = text.indexOf(PEM_BEGIN); at >= 0; at = text.indexOf(PEM_BEGIN, at)) {
    const end = text.indexOf(PEM_END, at + PEM_BEGIN.length);
    if (end < 0) break;
    if (blocks.length === max) throw new MalformedSignature(`${what} annotation holds more than ${max} certificates`, VerifyDetail.LIMITS);
    blocks.push(text.slice(at, end + PEM_END.length));
    at = end + PEM_END.length;
  }
  return blocks;
}

function pemCertificates(text: string, what: string, max: number): X509Certificate[] {
  const blocks = pemBlocks(text, max, what);
  if (blocks.length === 0) {
    const key = text.includes('PUBLIC KEY-----') ? ' (it holds a public key, which is not a certificate)' : '';
    throw new MalformedSignature(`${what} annotation holds no PEM certificate${key}`);
  }
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new MalformedSignature(`${what} annotation holds an unreadable certificate`);
    }
  });
}

/** A root, or anything a chain builder could take for one: subject is issuer, or it verifies itself. */
const isSelfSigned = (c: X509Certificate): boolean => {
  try {
    return c.subject === c.issuer || c.checkIssued(c) || c.verify(c.publicKey);
  } catch {
    return true;
  }
};

const legacySetSchema = z.object({
  SignedEntryTimestamp: z.string().min(1),
  Payload: z.object({
    body: z.string().min(1),
    integratedTime: z.number().int(),
    logIndex: z.number().int(),
    logID: z.string().regex(/^[0-9a-fA-F]+$/),
  }),
});

/** cosign's Rekor bundle annotation as a v0.1 tlog entry with the SET as inclusion promise. */
function tlogEntry(annotation: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(annotation);
  } catch {
    throw new MalformedSignature('Rekor bundle annotation is not JSON');
  }
  const parsed = legacySetSchema.safeParse(json);
  if (!parsed.success)
    throw new MalformedSignature('Rekor bundle annotation is not {SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}');
  const { SignedEntryTimestamp, Payload } = parsed.data;
  let kind: unknown;
  let version: unknown;
  try {
    const body = JSON.parse(Buffer.from(Payload.body, 'base64').toString('utf8')) as { kind?: unknown; apiVersion?: unknown };
    kind = body.kind;
    version = body.apiVersion;
  } catch {
    throw new MalformedSignature('Rekor entry body is not JSON');
  }
  if (typeof kind !== 'string' || typeof version !== 'string')
    throw new MalformedSignature('Rekor entry body names no kind and apiVersion');
  return {
    logIndex: String(Payload.logIndex),
    logId: { keyId: Buffer.from(Payload.logID, 'hex').toString('base64') },
    kindVersion: { kind, version },
    integratedTime: String(Payload.integratedTime),
    inclusionPromise: { signedEntryTimestamp: SignedEntryTimestamp },
    canonicalizedBody: Payload.body,
  };
}

export interface LegacyBundles {
  /** v0.1 bundle JSON, public-key material: for key requirements. */
  keyBundle: unknown;
  /** v0.1 bundle JSON with the certificate chain; undefined without a certificate annotation. */
  certificateBundle: unknown;
  /** Why the certificate, Rekor or timestamp annotations cannot be used, if they cannot. */
  problem: string | undefined;
  /** The first problem's detail code. */
  problemDetail: VerifyDetail | undefined;
}

/**
 * The v0.1 bundles a legacy signature amounts to, annotations included. The
 * signature itself must be sound (else MalformedSignature); a broken
 * certificate, Rekor or timestamp annotation only matters to a requirement
 * that needs it, and is reported in `problem`.
 */
export function legacyBundles(sig: LegacySignature): LegacyBundles {
  const text = signatureText(sig);
  const { tlogEntries, rfc3161Timestamps, chain, problem, problemDetail } = annotationMaterial(sig.annotations);
  const base = { mediaType: V01, messageSignature: messageSignature(sig, text) };
  const vm = { tlogEntries, timestampVerificationData: { rfc3161Timestamps } };
  return {
    // keys are trusted at all times: a timestamp adds nothing to a key requirement
    keyBundle: {
      ...base,
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries, timestampVerificationData: { rfc3161Timestamps: [] } },
    },
    certificateBundle:
      chain === undefined
        ? undefined
        : { ...base, verificationMaterial: { x509CertificateChain: { certificates: chain.map((rawBytes) => ({ rawBytes })) }, ...vm } },
    problem,
    problemDetail,
  };
}

/** What cosign's annotations on a legacy layer (.sig or .att) carry for a v0.1 bundle: Rekor entry, timestamp, certificate chain (base64 DER). */
export interface AnnotationMaterial {
  tlogEntries: unknown[];
  rfc3161Timestamps: unknown[];
  chain: string[] | undefined;
  problem: string | undefined;
  problemDetail: VerifyDetail | undefined;
}

/** Reads the certificate, chain, Rekor bundle and timestamp annotations; a broken one is a `problem`, not an error. */
export function annotationMaterial(annotations: Record<string, string>): AnnotationMaterial {
  const tlogEntries: unknown[] = [];
  const rfc3161Timestamps: unknown[] = [];
  const problems: string[] = [];
  let problemDetail: VerifyDetail | undefined;
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof MalformedSignature)) throw err;
      problems.push(err.message);
      problemDetail ??= err.detail;
    }
  };
  attempt(() => {
    const set = annotations[ANNOTATION_BUNDLE];
    if (set !== undefined) tlogEntries.push(tlogEntry(set));
  });
  attempt(() => {
    const ts = annotations[ANNOTATION_TIMESTAMP];
    if (ts === undefined) return;
    let json: unknown;
    try {
      json = JSON.parse(ts);
    } catch {
      throw new MalformedSignature('RFC 3161 timestamp annotation is not JSON');
    }
    const parsed = z.object({ SignedRFC3161Timestamp: z.string().min(1) }).safeParse(json);
    if (!parsed.success) throw new MalformedSignature('RFC 3161 timestamp annotation is not {SignedRFC3161Timestamp}');
    rfc3161Timestamps.push({ signedTimestamp: parsed.data.SignedRFC3161Timestamp });
  });
  let chain: string[] | undefined;
  attempt(() => {
    const leaf = annotations[ANNOTATION_CERTIFICATE];
    if (leaf === undefined) return;
    const leafCerts = pemCertificates(leaf, 'certificate', 1);
    if (leafCerts.length !== 1) throw new MalformedSignature(`certificate annotation holds ${leafCerts.length} certificates, not 1`);
    const chainText = annotations[ANNOTATION_CHAIN];
    // the chain ends with the root, which only the policy may name: intermediates only
    const intermediates =
      chainText === undefined
        ? []
        : pemCertificates(chainText, 'chain', SIGNATURE_LIMITS.chainCertificates).filter((c) => !isSelfSigned(c));
    chain = [leafCerts[0]!, ...intermediates].map((c) => c.raw.toString('base64'));
  });
  const problem = problems.length > 0 ? problems.join('; ') : undefined;
  return { tlogEntries, rfc3161Timestamps, chain, problem, problemDetail };
}

/**
 * The entity @sigstore/verify checks. The signature check picks the hash by
 * key type: cosign signs Ed25519 payloads directly, which the library's
 * messageSignature path (always a digest algorithm) cannot verify.
 */
export function legacyEntity(sig: LegacySignature, bundle: Bundle): SignedEntity {
  return withSignatureCheck(toSignedEntity(bundle, sig.payload), (key, signature) =>
    cryptoVerify(signatureHashFor(key) ?? null, sig.payload, key, signature),
  );
}

export type { TrustedKey };
