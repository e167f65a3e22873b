/**
 * Verifying one Sigstore bundle (v0.1, v0.2, v0.3) over an artifact, given as
 * bytes or as its sha256 digest, against a public key or a certificate
 * identity (exact SAN, exact OIDC issuer, or a policy's certificate rule),
 * with a TrustMaterial from trusted-root.ts or authority.ts. @sigstore/verify
 * checks the cryptography (timestamps, certificate chain, SCTs, tlog inclusion,
 * signature); the modules beside this one check what the library leaves out,
 * one concern each:
 *
 * - bundle-json.ts: caps (limits.ts), strict shape, media type and version rules;
 * - signed-content.ts: what was signed (message digest, DSSE in-toto subject);
 * - key-signer.ts: key-signed bundles;
 * - certificate-signer.ts: certificate-signed bundles and their holder;
 * - certificate-chain.ts (x509-path.ts): the pinned path to a trusted root;
 * - tlog.ts: Rekor bodies name the bundle's signer, kinds fit the content;
 * - timestamp.ts: the times a certificate is checked at; sct.ts: SCTs set aside.
 *
 * Every refusal (the library throws TypeErrors on some inputs) becomes
 * `{ ok: false, reason, detail }`: a one-line reason and a detail code (detail.ts).
 */
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { leafCertificate, parseBundleJson } from './bundle-json.js';
import { verifyCertificateForPolicy, verifyCertificateIdentity } from './certificate-signer.js';
import { mustPropagate } from './control.js';
import { VerifyDetail } from './detail.js';
import { verifyWithKey } from './key-signer.js';
import { Refusal, describe, detailOf, refuse } from './refusal.js';
import { checkStatementSubject } from './signed-content.js';
import type { VerifyBundleInput, VerifyBundleResult } from './verifier-types.js';

export type {
  BundleArtifact,
  BundleExpectation,
  BundleSigner,
  CertificateOptions,
  VerifyBundleInput,
  VerifyBundleResult,
} from './verifier-types.js';

async function verifyOrThrow(input: VerifyBundleInput): Promise<VerifyBundleResult> {
  const { bundle, mediaType } = parseBundleJson(input.bundleJson);
  const leafDer = leafCertificate(bundle);
  const expect = input.expect;
  const wantsKey = 'publicKey' in expect;
  if (wantsKey && leafDer !== undefined) refuse(VerifyDetail.KEY, 'bundle is signed with a certificate, a public key was expected');
  if (!wantsKey && leafDer === undefined)
    refuse(VerifyDetail.KEY, 'bundle is signed with a public key, a certificate identity was expected (use a key)');

  checkStatementSubject(bundle, input.artifact);

  if (wantsKey) return verifyWithKey(input, expect.publicKey, bundle, mediaType);

  let leafKey: KeyObject;
  let leaf: NodeX509;
  try {
    leaf = new NodeX509(leafDer!);
    leafKey = leaf.publicKey;
  } catch {
    return refuse(VerifyDetail.BUNDLE, 'signing certificate is unreadable');
  }
  if (leaf.ca) refuse(VerifyDetail.CERT_CONSTRAINTS, 'signing certificate is a CA certificate');
  if ('certificate' in expect) return await verifyCertificateForPolicy(input, expect.certificate, bundle, mediaType, leafDer!, leafKey);
  return await verifyCertificateIdentity(input, expect, bundle, mediaType, leafDer!, leafKey);
}

/** Verifies a bundle; never throws, but for the checkpoint's DEADLINE_EXCEEDED. */
export async function verifyBundle(input: VerifyBundleInput): Promise<VerifyBundleResult> {
  try {
    input.checkpoint?.();
    return await verifyOrThrow(input);
  } catch (err) {
    if (mustPropagate(err)) throw err;
    const refused = { ok: false as const, reason: describe(err), detail: detailOf(err) };
    return err instanceof Refusal && err.holder !== undefined ? { ...refused, holder: err.holder } : refused;
  }
}
