/**
 * How a caller bounds verification work it cannot interrupt: synchronous
 * parsing and cryptography run between `checkpoint()` calls, which throw
 * SigguardError(DEADLINE_EXCEEDED) once the verification's deadline has passed
 * (registry/budget.ts's Budget.checkpoint is one). Verification code calls it
 * between units of work: per signature, per key, per certificate path tried.
 */
import { ReasonCode, SigguardError } from '../errors.js';

export interface VerifyControl {
  /** Throws (DEADLINE_EXCEEDED) when the verification must stop; cheap, called often. */
  checkpoint?: () => void;
}

const never = (): void => {};

/** The control's checkpoint, or one that never stops. */
export function checkpointOf(control: VerifyControl | undefined): () => void {
  return control?.checkpoint ?? never;
}

/** A checkpoint from an AbortSignal and a Date.now() deadline. */
export function deadlineCheckpoint(signal: AbortSignal | undefined, deadlineAt: number | undefined): () => void {
  return () => {
    if (signal?.aborted || (deadlineAt !== undefined && Date.now() >= deadlineAt)) {
      throw new SigguardError(ReasonCode.DEADLINE_EXCEEDED, 'verification deadline exceeded');
    }
  };
}

/** Errors that must travel up unchanged rather than become a refusal of one signature. */
export function mustPropagate(err: unknown): err is SigguardError {
  return err instanceof SigguardError && err.code === ReasonCode.DEADLINE_EXCEEDED;
}
