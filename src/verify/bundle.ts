/**
 * cosign v3 signatures: a Sigstore bundle whose DSSE envelope carries an
 * in-toto statement with predicate type https://sigstore.dev/cosign/sign/v1
 * and the image digest as subject. @sigstore/verify checks the signature;
 * what the signature is about is checked here, since the library does not.
 */
import { X509Certificate } from 'node:crypto';
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { type SignedEntity, toSignedEntity } from '@sigstore/verify';
import type { FoundSignature } from '../discovery/types.js';
import { VerifyDetail } from './detail.js';
import { MalformedSignature } from './legacy.js';
import { bundleOverLimits } from './limits.js';
import {
  COSIGN_SIGN_PREDICATE,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPES,
  type SignedClaim,
  inTotoStatementSchema,
} from './payload.js';

type BundleSignature = Extract<FoundSignature, { format: 'bundle' }>;

export function parseBundle(sig: BundleSignature): Bundle {
  let json: unknown;
  try {
    json = JSON.parse(sig.bundle.toString('utf8'));
  } catch {
    throw new MalformedSignature('bundle is not JSON');
  }
  // caps first: what follows costs per entry (quadratic duplicate checks in the library)
  const over = bundleOverLimits(json);
  if (over !== undefined) throw new MalformedSignature(over, VerifyDetail.LIMITS);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    const fields = (err as { fields?: string[] }).fields;
    throw new MalformedSignature(`not a valid Sigstore bundle${fields?.length ? ` (${fields.join(', ')})` : ''}`);
  }
  checkCertificates(bundle);
  return bundle;
}

/** Certificates that are not X.509 certificates (a public key where a certificate belongs) make the bundle malformed. */
function checkCertificates(bundle: Bundle): void {
  const vm = bundle.verificationMaterial.content;
  const certs =
    vm.$case === 'certificate' ? [vm.certificate] : vm.$case === 'x509CertificateChain' ? vm.x509CertificateChain.certificates : [];
  for (const c of certs) {
    try {
      new X509Certificate(Buffer.from(c.rawBytes));
    } catch {
      throw new MalformedSignature('bundle holds a certificate that is not an X.509 certificate');
    }
  }
}

/** The statement's claim; throws MalformedSignature unless it is a cosign image signature statement. */
export function readBundleClaim(bundle: Bundle): SignedClaim {
  if (bundle.content.$case !== 'dsseEnvelope')
    throw new MalformedSignature('bundle signs no in-toto statement (message signature)', VerifyDetail.PAYLOAD);
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new MalformedSignature(`DSSE payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`, VerifyDetail.PAYLOAD);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(env.payload).toString('utf8'));
  } catch {
    throw new MalformedSignature('DSSE payload is not JSON', VerifyDetail.PAYLOAD);
  }
  const parsed = inTotoStatementSchema.safeParse(json);
  if (!parsed.success || !IN_TOTO_STATEMENT_TYPES.includes(parsed.data._type))
    throw new MalformedSignature('DSSE payload is not an in-toto statement', VerifyDetail.PAYLOAD);
  if (parsed.data.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new MalformedSignature(`statement predicate is ${parsed.data.predicateType}, not ${COSIGN_SIGN_PREDICATE}`, VerifyDetail.PAYLOAD);
  }
  const subject = parsed.data.subject[0]!;
  const hex = subject.digest.sha256;
  if (parsed.data.subject.length !== 1 || hex === undefined)
    throw new MalformedSignature('statement must have exactly one sha256 subject', VerifyDetail.PAYLOAD);
  return { digest: `sha256:${hex}`, dockerReference: undefined };
}

export function bundleEntity(bundle: Bundle): SignedEntity {
  return toSignedEntity(bundle);
}
