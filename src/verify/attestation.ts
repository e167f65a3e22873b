/**
 * Reading a found attestation once: its DSSE envelope as a Sigstore bundle (cosign 3's bundle
 * as it is; cosign 2's `.att` layer, an envelope with cosign's certificate, chain and Rekor
 * annotations, as the v0.1 bundle they amount to, as legacy.ts does for `.sig` layers), the
 * entity the signer checks run on, and the in-toto statement it carries (not yet trusted:
 * engine/requirements/sigstore-attested.ts verifies the signer before it believes a word).
 */
import { type Bundle, bundleFromJSON } from '@sigstore/bundle';
import { type SignedEntity, toSignedEntity } from '@sigstore/verify';
import type { FoundAttestation } from '../discovery/attestations.js';
import { duplicateJsonKey } from '../document/json-duplicates.js';
import { z } from '../zod.js';
import { parseBundle } from './bundle.js';
import { VerifyDetail } from './detail.js';
import { MalformedSignature, V01, annotationMaterial } from './legacy.js';
import { bundleOverLimits } from './limits.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES, type InTotoStatement, inTotoStatementSchema } from './payload.js';
import type { SignatureMaterial } from './verifier-types.js';

/**
 * A found attestation read as far as its signer check needs: the envelope, not its statement.
 * The statement (possibly megabytes of SBOM) is parsed only once the signer is trusted
 * (readAttestationStatement): what an attacker without the key can make sigguard parse stays
 * the envelope.
 */
export type PreparedAttestation =
  | { found: FoundAttestation; ok: true; bundle: Bundle; entity: SignedEntity; material: SignatureMaterial }
  | { found: FoundAttestation; ok: false; problem: string; detailCode: VerifyDetail };

const envelopeSchema = z.object({
  payloadType: z.string(),
  payload: z.string().min(1),
  signatures: z.array(z.object({ keyid: z.string().optional(), sig: z.string().min(1) })),
});

const malformed = (message: string, detail: VerifyDetail = VerifyDetail.PAYLOAD) => new MalformedSignature(message, detail);

/** The envelope's own checks (no payload parsed): a DSSE envelope of an in-toto payload with one signature. */
function checkEnvelope(bundle: Bundle): void {
  if (bundle.content.$case !== 'dsseEnvelope') throw malformed('bundle signs no in-toto statement (message signature)');
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw malformed(`DSSE payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  if (env.signatures.length !== 1) throw malformed(`DSSE envelope has ${env.signatures.length} signatures, not 1`);
}

/** The statement a checked envelope carries; throws MalformedSignature unless it is an in-toto statement. */
function readStatement(bundle: Bundle): InTotoStatement {
  if (bundle.content.$case !== 'dsseEnvelope') throw malformed('bundle signs no in-toto statement (message signature)');
  const env = bundle.content.dsseEnvelope;
  let json: unknown;
  // a view, not a copy: attestations can be large (SBOMs, scans)
  const text = Buffer.from(env.payload.buffer, env.payload.byteOffset, env.payload.byteLength).toString('utf8');
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed('DSSE payload is not JSON');
  }
  // JSON.parse keeps the last of two equal keys: a statement read one way here and another way by
  // whoever reviewed or produced it (the first copy) is refused, as policy documents are
  const dup = duplicateJsonKey(text);
  if (dup !== undefined)
    throw malformed(`in-toto statement has a duplicate key ${JSON.stringify(dup.key)}${dup.path === '' ? '' : ` in ${dup.path}`}`);
  const parsed = inTotoStatementSchema.safeParse(json);
  if (!parsed.success || !IN_TOTO_STATEMENT_TYPES.includes(parsed.data._type))
    throw malformed(`DSSE payload is not an in-toto statement (${IN_TOTO_STATEMENT_TYPES.join(' or ')})`);
  return parsed.data;
}

/** cosign 2's `.att` layer as v0.1 bundles: with the public-key hint (keys) and with the certificate chain (certificates). */
function legacyAttestationBundles(found: Extract<FoundAttestation, { format: 'legacy' }>) {
  let json: unknown;
  try {
    json = JSON.parse(found.envelope.toString('utf8'));
  } catch {
    throw malformed('DSSE envelope is not JSON', VerifyDetail.BUNDLE);
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) throw malformed('not a DSSE envelope {payloadType, payload, signatures}', VerifyDetail.BUNDLE);
  if (env.data.signatures.length !== 1) throw malformed(`DSSE envelope has ${env.data.signatures.length} signatures, not 1`);
  const dsseEnvelope = {
    payload: env.data.payload,
    payloadType: env.data.payloadType,
    signatures: env.data.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid ?? '' })),
  };
  const { tlogEntries, rfc3161Timestamps, chain, problem, problemDetail } = annotationMaterial(found.annotations);
  const base = { mediaType: V01, dsseEnvelope };
  const keyBundle = {
    ...base,
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries, timestampVerificationData: { rfc3161Timestamps: [] } },
  };
  const certificateBundle =
    chain === undefined
      ? undefined
      : {
          ...base,
          verificationMaterial: {
            x509CertificateChain: { certificates: chain.map((rawBytes) => ({ rawBytes })) },
            tlogEntries,
            timestampVerificationData: { rfc3161Timestamps },
          },
        };
  const over = bundleOverLimits(keyBundle);
  if (over !== undefined) throw malformed(over, VerifyDetail.LIMITS);
  let bundle: Bundle;
  try {
    // the envelope and its signature as a bundle without log entries: what the key check reads
    bundle = bundleFromJSON({ ...base, verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [] } });
  } catch (err) {
    throw malformed(`cannot form a bundle from the envelope: ${(err as Error).message}`, VerifyDetail.BUNDLE);
  }
  return { bundle, keyBundle, certificateBundle, problem, problemDetail };
}

export function prepareAttestation(found: FoundAttestation): PreparedAttestation {
  const artifact = { digest: found.subject };
  try {
    if (found.format === 'legacy') {
      const { bundle, keyBundle, certificateBundle, problem, problemDetail } = legacyAttestationBundles(found);
      checkEnvelope(bundle);
      const material = { keyBundle, certificateBundle, artifact, problem, problemDetail };
      return { found, ok: true, bundle, entity: toSignedEntity(bundle), material };
    }
    const bundle = parseBundle(found);
    checkEnvelope(bundle);
    // the bundle's text: verifier.ts parses it again only where a Rekor entry or certificate must be checked
    return {
      found,
      ok: true,
      bundle,
      entity: toSignedEntity(bundle),
      material: { keyBundle: found.bundle, certificateBundle: found.bundle, artifact, problem: undefined },
    };
  } catch (err) {
    if (err instanceof MalformedSignature) return { found, ok: false, problem: err.message, detailCode: err.detail };
    return { found, ok: false, problem: `cannot read attestation: ${(err as Error).message}`, detailCode: VerifyDetail.BUNDLE };
  }
}

/** The statement of a prepared attestation (call once its signer is trusted), or why it is not one. */
export function readAttestationStatement(
  bundle: Bundle,
): { ok: true; statement: InTotoStatement } | { ok: false; problem: string; detailCode: VerifyDetail } {
  try {
    return { ok: true, statement: readStatement(bundle) };
  } catch (err) {
    if (err instanceof MalformedSignature) return { ok: false, problem: err.message, detailCode: err.detail };
    throw err;
  }
}

/** Does the statement name this digest (`sha256:<hex>`) among its subjects? */
export function statementNames(statement: InTotoStatement, digest: string): boolean {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  return m !== null && statement.subject.some((s) => s.digest.sha256?.toLowerCase() === m[1]);
}
