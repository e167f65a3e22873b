/**
 * Stable reason codes. They appear in `sigguard check --json`, in the hook's
 * decision log and in the README; never rename one, only add.
 */
export const ReasonCode = {
  /** Everything the policy asked for held. */
  ALLOWED: 'ALLOWED',
  /** The policy's matching scope (or default) says `insecureAcceptAnything`. */
  POLICY_ACCEPT: 'POLICY_ACCEPT',
  /** The policy's matching scope (or default) says `reject`. */
  POLICY_REJECT: 'POLICY_REJECT',
  /** No signature of an accepted format is attached to the image. */
  NO_SIGNATURE: 'NO_SIGNATURE',
  /** Signatures exist, but none is by a trusted key. */
  UNTRUSTED_SIGNER: 'UNTRUSTED_SIGNER',
  /** A trusted signature exists, but it names another repository or reference than the policy allows. */
  IDENTITY_MISMATCH: 'IDENTITY_MISMATCH',
  /** A trusted signature exists, but it is about another manifest digest. */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  /** Signatures exist, but none could be parsed (garbage payload, annotation, bundle). */
  MALFORMED_SIGNATURE: 'MALFORMED_SIGNATURE',
  /** The registry could not be reached (connection refused, DNS, TLS). */
  REGISTRY_UNREACHABLE: 'REGISTRY_UNREACHABLE',
  /** The registry answered with an error status we cannot act on (5xx, 401 after auth...). */
  REGISTRY_ERROR: 'REGISTRY_ERROR',
  /** The registry does not have the image (manifest unknown). */
  IMAGE_NOT_FOUND: 'IMAGE_NOT_FOUND',
  /** The registry returned content whose digest is not the one asked for. */
  CONTENT_MISMATCH: 'CONTENT_MISMATCH',
  /** A registry response was larger than its cap. */
  RESPONSE_TOO_LARGE: 'RESPONSE_TOO_LARGE',
  /** The registry returned JSON that does not fit the OCI/Docker schema. */
  REGISTRY_BAD_RESPONSE: 'REGISTRY_BAD_RESPONSE',
  /** The whole verification ran out of time. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** The verification's budget (bytes, registry requests) ran out before a signature satisfied the policy. */
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  /** The image reference cannot be parsed. */
  INVALID_REFERENCE: 'INVALID_REFERENCE',
  /** A tag would have to be resolved at the registry and the policy forbids it. */
  TAG_NOT_RESOLVABLE: 'TAG_NOT_RESOLVABLE',
  /** The policy file is missing or invalid. */
  POLICY_INVALID: 'POLICY_INVALID',
  /** The configuration file is missing or invalid. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** Hook: the container is in a namespace the policy exempts. */
  EXEMPT_NAMESPACE: 'EXEMPT_NAMESPACE',
  /** Hook: a pod sandbox (pause) container; its image is the runtime's own. */
  SANDBOX_CONTAINER: 'SANDBOX_CONTAINER',
  /** Hook: a container without Kubernetes annotations, allowed by `nonKubernetes: allow`. */
  NON_KUBERNETES_ALLOWED: 'NON_KUBERNETES_ALLOWED',
  /** Hook: a container without Kubernetes annotations, refused by `nonKubernetes: deny`. */
  NON_KUBERNETES_DENIED: 'NON_KUBERNETES_DENIED',
  /** Hook: the container's annotations name no image. */
  MISSING_IMAGE: 'MISSING_IMAGE',
  /** Hook: the OCI state on stdin (or the bundle's config.json) is missing or malformed. */
  INVALID_STATE: 'INVALID_STATE',
  /** Hook: the runtime (over CRI) could not tell which image digest the container runs. */
  NODE_LOOKUP_FAILED: 'NODE_LOOKUP_FAILED',
  /** Hook: the node's image has no repo digest in the repository the pod names. */
  NODE_IMAGE_MISMATCH: 'NODE_IMAGE_MISMATCH',
  /** A digest involved (as named, the index, the platform manifest) is on the policy's denyDigests list. */
  DIGEST_DENIED: 'DIGEST_DENIED',
  /** sigstoreAttested: no attestation of the predicate type, by a trusted signer, for this digest. */
  NO_ATTESTATION: 'NO_ATTESTATION',
  /** sigstoreAttested: trusted attestations of the type found, none satisfies the condition. */
  ATTESTATION_REJECTED: 'ATTESTATION_REJECTED',
  /** An updated trusted root (`trust update`) that is present but fails its checks (hash, owner, mode): keyless verification against it is refused. */
  TRUST_ROOT_INVALID: 'TRUST_ROOT_INVALID',
  /** `trust update` refused what the TUF repository served (expired, rolled back, below threshold, wrong hash, unreachable): nothing written. */
  TRUST_UPDATE_FAILED: 'TRUST_UPDATE_FAILED',
  /** `trust status`: the trust material is older than `trust.maxAgeDays`, or a key it relies on is outside its validity. */
  TRUST_STALE: 'TRUST_STALE',
  /** Wrong command-line usage. */
  USAGE: 'USAGE',
  /** A bug: something threw that should not have. Always a denial. */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;
export type ReasonCode = (typeof ReasonCode)[keyof typeof ReasonCode];

/** Exit codes of every sigguard command (documented in the README). */
export const ExitCode = {
  ALLOW: 0,
  DENY: 1,
  USAGE_OR_CONFIG: 2,
} as const;

/** An error that carries a stable reason code and a one-line, human message. */
export class SigguardError extends Error {
  readonly code: ReasonCode;
  constructor(code: ReasonCode, message: string, options?: { cause?: unknown }) {
    super(oneLine(message), options);
    this.name = 'SigguardError';
    this.code = code;
  }
}

/** Terminal escape sequences (CSI, OSC, and two-character ESC sequences). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC and BEL is the point, to strip terminal escapes from messages
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])/g;
/** What is left to drop after whitespace became spaces: C0/C1 controls, DEL, bidi marks, embeddings, overrides and isolates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching C0/C1 control characters is the point, to drop them from messages
const INVISIBLE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * One line of plain text: terminal escapes and control characters (much of a reason is text
 * the registry or the signer chose) are dropped, any whitespace run (newlines, \r, U+2028)
 * becomes one space. Reasons go to stderr, kubelet events and logs as one line.
 */
export function oneLine(text: string): string {
  return text.replace(ESCAPES, '').replace(/\s+/g, ' ').replace(INVISIBLE, '').replace(/ {2,}/g, ' ').trim();
}

/** Turns anything thrown into a SigguardError, keeping codes that are already there. */
export function toSigguardError(err: unknown, fallback: ReasonCode = ReasonCode.INTERNAL_ERROR): SigguardError {
  if (err instanceof SigguardError) return err;
  // a SigguardError from a separately bundled part (the agent's and trust's bundles carry their own
  // copy of this class): same name, a known code; keeps its code (USAGE stays exit 2)
  if (err instanceof Error && err.name === 'SigguardError' && Object.hasOwn(ReasonCode, String((err as { code?: unknown }).code))) {
    return new SigguardError((err as unknown as { code: ReasonCode }).code, err.message, { cause: err });
  }
  if (err instanceof Error) return new SigguardError(fallback, err.message, { cause: err });
  return new SigguardError(fallback, String(err));
}
