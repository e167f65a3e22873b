/** What bundle verification (verifier.ts) takes and gives. */
import type { KeyObject } from 'node:crypto';
import type { TrustMaterial } from '@sigstore/verify';
import type { CertificateFacts, CertificateRule } from '../policy/certificate-rules.js';
import type { VerifyDetail } from './detail.js';

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
  /**
   * `detail`: which check refused (detail.ts).
   * `holder`: everything verified but who holds the certificate, which the rule refuses.
   */
  | { ok: false; reason: string; detail: VerifyDetail; holder?: CertificateFacts };

/** What verifier.ts checks a signature (or an attestation: attestation.ts) as. */
export interface SignatureMaterial {
  /** Bundle JSON with public-key material (legacy) or the bundle itself. */
  keyBundle: unknown;
  /** Bundle JSON with the certificate chain (legacy: from the annotations), or the bundle itself; undefined when there is none. */
  certificateBundle: unknown;
  /** The signed bytes (legacy payload) or the statement's digest (bundles). */
  artifact: BundleArtifact;
  /** Why the certificate, Rekor or timestamp annotations of a legacy signature cannot be used. */
  problem: string | undefined;
  /** The problem's detail code (src/verify/detail.ts). */
  problemDetail?: VerifyDetail | undefined;
}
