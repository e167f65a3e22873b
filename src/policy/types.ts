/**
 * What a loaded policy is: the policy, its requirements and the trust each requirement
 * places (containers/image keeps these apart from parsing too: policy_types.go beside
 * policy_config.go). Parsing and checking are schema.ts and load.ts; compiling trust
 * material is trust.ts; evaluating a requirement is src/engine/requirements/.
 */
import type { KeyObject } from 'node:crypto';
import type { RootOrigin } from './kept-root.js';
import type { CertificateRule } from './certificate-rules.js';
import type { TrustedKey } from './keys.js';
import type { PolicyInput, SignatureFormat, SignedIdentity } from './schema.js';

export type Requirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | {
      type: 'sigstoreSigned';
      /** The trusted public keys of a key requirement (keyPath…keyDatas); empty for certificates. */
      keys: TrustedKey[];
      /** How signers are trusted: keys (with Rekor, optionally), fulcio, pki or keyless. */
      trust: TrustRule;
      signedIdentity: SignedIdentity | undefined;
      signatureFormats: SignatureFormat[];
    }
  | {
      /** sigguard's own: an in-toto attestation (cosign attest) of `predicateType` by a trusted signer. */
      type: 'sigstoreAttested';
      keys: TrustedKey[];
      trust: TrustRule;
      /** The statement's predicateType, exactly. */
      predicateType: string;
      /** A CEL expression over the predicate that must be true (type-checked when the policy was validated). */
      condition: string | undefined;
      /** The largest attestation read, in bytes. */
      maxBytes: number;
      signatureFormats: SignatureFormat[];
    };

export type SigstoreSignedRequirement = Extract<Requirement, { type: 'sigstoreSigned' }>;
export type SigstoreAttestedRequirement = Extract<Requirement, { type: 'sigstoreAttested' }>;

export interface Policy {
  source: string;
  mode: PolicyInput['mode'];
  default: PolicyInput['default'];
  exemptNamespaces: string[];
  tagResolution: PolicyInput['tagResolution'];
  nonKubernetes: PolicyInput['nonKubernetes'];
  scopes: Map<string, Requirement[]>;
  /** Revoked manifest and index digests: refused whatever the name, the scope or a cached verdict. */
  denyDigests: ReadonlySet<string>;
  /** Lines worth saying about a valid policy (`path: message`), e.g. regular expressions cosign reads differently. */
  warnings: string[];
}

/** Certificates from policy files, as DER; roots are self-signed, the rest intermediates. */
export interface CertificatePool {
  label: string;
  roots: Buffer[];
  intermediates: Buffer[];
}

export interface RekorKey {
  label: string;
  key: KeyObject;
  /** DER SubjectPublicKeyInfo; its sha256 is the log ID. */
  spki: Buffer;
}

/** A Sigstore TrustedRoot JSON, read and lightly checked; fully parsed on first use. */
export interface TrustedRootFile {
  /** The file path, or `public-good (built in)`. */
  label: string;
  json: unknown;
  /** sha256 (hex) of the file's bytes. */
  fingerprint: string;
  /** Where it came from (built in, a `trust update`, a plain file), and a problem that refuses every verification against it. */
  origin?: RootOrigin;
}

/** Where Rekor entries are verified: policy-given keys, or a trusted root's logs. */
export type RekorLogs = { kind: 'keys'; keys: RekorKey[] } | { kind: 'trustedRoot'; root: TrustedRootFile };

interface RuleBase {
  /** sha256 (hex) over all trust material bytes of the rule. */
  fingerprint: string;
  /** Everything the rule decides on, for the verdict cache key. */
  canonical: Record<string, unknown>;
  /** One line for reports: where trust comes from. */
  label: string;
}

export type TrustRule = RuleBase &
  (
    | { kind: 'keys'; rekor: RekorLogs | undefined }
    | { kind: 'fulcio'; ca: CertificatePool; rekor: RekorLogs; certificate: Extract<CertificateRule, { kind: 'fulcio' }> }
    | { kind: 'pki'; ca: CertificatePool; certificate: Extract<CertificateRule, { kind: 'pki' }> }
    | {
        kind: 'keyless';
        root: TrustedRootFile;
        certificate: Extract<CertificateRule, { kind: 'keyless' }>;
        requireRekor: boolean;
        requireSCT: boolean;
      }
  );
