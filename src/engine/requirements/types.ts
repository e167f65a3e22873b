/**
 * One interface for every requirement type, as containers/image's PolicyRequirement is
 * implemented once per type (policy_eval_simple.go, policy_eval_sigstore.go): each module here
 * says what its requirement reports before any signature is looked at, and evaluates it
 * against the signatures found.
 */
import type { AttestationDiscovery } from '../../discovery/attestations.js';
import type { UnreadableSignature } from '../../discovery/types.js';
import type { Requirement } from '../../policy/types.js';
import type { ImageReference } from '../../reference/reference.js';
import type { AttestationReport, RequirementReport, SignatureReport } from '../types.js';
import type { PreparedSignature } from './prepare.js';

/** What a requirement is evaluated against. */
export interface RequirementContext {
  /** The signatures found, read one at a time: each call iterates them afresh. */
  signatures(): Iterable<PreparedSignature>;
  /** Signatures found but not readable (their listing or manifest), per format. */
  unreadable: UnreadableSignature[];
  /** The reference signedIdentity is judged against (what the pod named). */
  intended: ImageReference;
  /** Called between units of work: throws once the verification's deadline has passed. */
  checkpoint(): void;
  /** The attestations found (sigstoreAttested); none when absent. */
  attestations?: AttestationDiscovery;
  /** Milliseconds left before the deadline (bounds a CEL evaluation); undefined without one. */
  timeLeft?(): number | undefined;
  /** Collects garbage when the heap has grown (registry/budget.ts's keepHeapDown): between large attestations. */
  keepHeapDown?(): void;
}

/** A requirement's report, and its judgement of each signature (none for accept and reject). */
export interface Evaluation {
  report: RequirementReport;
  judged: SignatureReport[];
  /** sigstoreAttested: its judgement of each attestation. */
  attestations?: AttestationReport[];
}

export interface RequirementType<R extends Requirement> {
  /** The report before any signature is read: what the scope decision shows (engine/scope-verdict.ts). */
  describe(req: R): RequirementReport;
  /** The report after reading the signatures found, and each signature's judgement. */
  evaluate(req: R, ctx: RequirementContext): Promise<Evaluation>;
}
