/**
 * Certificate-signed bundles: the signing certificate is not a CA, its path to a
 * trusted root is pinned (certificate-chain.ts), Rekor bodies name it (tlog.ts),
 * and its holder is the one expected:
 *
 * - an exact SAN and OIDC issuer (the library would take the SAN as a regexp),
 *   with Rekor, SCTs and a timestamp all required (Sigstore's defaults);
 * - a policy's certificate rule (src/policy/certificate-rules.ts), where Rekor,
 *   SCTs and timestamps may be optional (a certificate without a verified
 *   timestamp is then checked at the current time), Rekor entries may be set
 *   aside altogether (containers-policy.json's `pki`), intermediates the bundle
 *   carries may link the leaf to a trusted root (containers/image's `fulcio` and
 *   `pki`), and a leaf with an extended key usage must allow code signing.
 */
import type { KeyObject } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { type TrustMaterial, Verifier } from '@sigstore/verify';
import { type CertificateFacts, type CertificateRule, certificateMismatch, describeHolder } from '../policy/certificate-rules.js';
import { CertificateProblem, certificateFacts } from './certificate.js';
import { pinnedPath } from './certificate-chain.js';
import { VerifyDetail } from './detail.js';
import { Refusal, describe, detailOf, refuse } from './refusal.js';
import { withoutSCTs } from './sct.js';
import { signedEntity } from './signed-content.js';
import { currentTime, usable } from './timestamp.js';
import { checkTlogBodies } from './tlog.js';
import type { VerifyBundleInput, VerifyBundleResult } from './verifier-types.js';

/** Sigstore's defaults: Rekor, SCT and timestamp required; SAN and issuer compared exactly. */
export async function verifyCertificateIdentity(
  input: VerifyBundleInput,
  expect: { identity: string; issuer: string },
  bundle: Bundle,
  mediaType: string,
  leafDer: Buffer,
  leafKey: KeyObject,
): Promise<VerifyBundleResult> {
  const { identity, issuer } = expect;
  checkTlogBodies(bundle, { cert: leafDer });
  const entity = signedEntity(bundle, input.artifact, leafKey);
  const timed = entity.timestamps.filter(usable);
  // without a timestamp the library refuses (threshold 1) before it looks at the chain
  const trust = timed.length === 0 ? input.trust : await pinnedPath(input, bundle, leafDer, timed, false);
  input.checkpoint?.();
  const signer = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity);
  const san = signer.identity?.subjectAlternativeName;
  const gotIssuer = signer.identity?.extensions?.issuer;
  if (san !== identity) refuse(VerifyDetail.CERT_IDENTITY, `certificate identity is ${san ?? '(none)'}, expected ${identity}`);
  if (gotIssuer !== issuer) refuse(VerifyDetail.CERT_IDENTITY, `certificate OIDC issuer is ${gotIssuer ?? '(none)'}, expected ${issuer}`);
  return { ok: true, signer: { type: 'certificate', identity: san, issuer: gotIssuer }, mediaType, content: bundle.content.$case };
}

/** A policy's certificate rule, with the policy's departures from the defaults (input.certificate). */
export async function verifyCertificateForPolicy(
  input: VerifyBundleInput,
  rule: CertificateRule,
  bundle: Bundle,
  mediaType: string,
  leafDer: Buffer,
  leafKey: KeyObject,
): Promise<VerifyBundleResult> {
  const opts = input.certificate ?? {};
  const ignoreTlog = opts.ignoreTlog ?? false;
  const requireTlog = !ignoreTlog && (opts.requireTlog ?? true);
  const requireSCT = opts.requireSCT ?? true;
  const requireTimestamp = !ignoreTlog && (opts.requireTimestamp ?? true);
  let facts: CertificateFacts;
  try {
    facts = certificateFacts(leafDer);
  } catch (err) {
    if (err instanceof CertificateProblem) return refuse(VerifyDetail.CERT_IDENTITY, err.message);
    throw err;
  }
  if (!facts.codeSigning) refuse(VerifyDetail.CERT_CONSTRAINTS, 'signing certificate is not for code signing (extended key usage)');
  if (!ignoreTlog) checkTlogBodies(bundle, { cert: leafDer });
  let entity = signedEntity(bundle, input.artifact, leafKey);
  if (ignoreTlog) entity = { ...entity, tlogEntries: [], timestamps: [] };
  // RFC 3161 timestamps with no timestamp authority to check them against prove nothing: set aside
  const noTSA = input.trust.timestampAuthorities.length === 0;
  const timed = entity.timestamps.filter((t) => usable(t) && !(noTSA && t.$case === 'timestamp-authority'));
  if (timed.length === 0) {
    if (requireTimestamp) {
      if (requireTlog && entity.tlogEntries.length === 0)
        refuse(VerifyDetail.TLOG_MISSING, 'no Rekor entry: the signature was not logged, and the policy requires Rekor');
      refuse(
        VerifyDetail.TIMESTAMP,
        'no Rekor entry or RFC 3161 timestamp proves when the certificate signed, and the policy requires one',
      );
    }
    entity = { ...entity, timestamps: [currentTime(opts.now ?? new Date())] };
  } else {
    entity = { ...entity, timestamps: timed };
  }
  if (!requireSCT && entity.key.$case === 'certificate')
    entity = { ...entity, key: { ...entity.key, certificate: withoutSCTs(entity.key.certificate) } };
  const atCurrentTime = (detail: string) =>
    `${detail} (checked at the current time${ignoreTlog ? '' : ': no Rekor entry or timestamp proves the signing time'})`;
  let trust: TrustMaterial;
  try {
    trust = await pinnedPath(input, bundle, leafDer, entity.timestamps, opts.bundleIntermediates ?? false);
  } catch (err) {
    if (err instanceof Refusal && timed.length === 0 && /not valid or expired/.test(err.message))
      refuse(err.detail, atCurrentTime(err.message));
    throw err;
  }
  input.checkpoint?.();
  try {
    new Verifier(trust, {
      tlogThreshold: requireTlog ? 1 : 0,
      ctlogThreshold: requireSCT ? 1 : 0,
      timestampThreshold: requireTimestamp ? 1 : 0,
    }).verify(entity);
  } catch (err) {
    const detail = describe(err);
    if (timed.length === 0 && /not valid or expired/.test(detail)) refuse(detailOf(err), atCurrentTime(detail));
    throw err;
  }
  const wanted = certificateMismatch(rule, facts);
  if (wanted !== undefined) refuse(VerifyDetail.CERT_IDENTITY, `signed by ${describeHolder(facts)}, policy requires ${wanted}`, facts);
  const identity = facts.sans[0]?.value ?? '(no subject alternative name)';
  return {
    ok: true,
    signer: { type: 'certificate', identity, issuer: facts.issuer ?? '', facts },
    mediaType,
    content: bundle.content.$case,
  };
}
