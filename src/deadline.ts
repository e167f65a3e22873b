/**
 * One deadline per command, as one AbortSignal: made once where the command starts (the hook
 * counts from the process's own start) and handed down to CRI, the registry and
 * verification. Like AbortSignal.timeout, one timer aborts it, here with a SigguardError
 * (DEADLINE_EXCEEDED) as its reason. Unlike it, the signal also knows the time it stands for:
 *
 *  - synchronous work (parsing, certificate paths, signature checks) keeps the timer from
 *    firing, so it polls `checkDeadline(signal)` between units of work; that compares the
 *    clock and, once the time has passed, aborts the signal itself, so every other listener
 *    (the hook's race, sockets in flight) learns of it at once;
 *  - a gRPC call sends what is left as its grpc-timeout, and a single-flight follower waits
 *    for at most half of it.
 *
 * The timer keeps the process alive on purpose: a hook whose work waits on nothing must
 * still reach its refusal line, never exit early with nothing decided.
 */
import { ReasonCode, SigguardError } from './errors.js';

interface Ends {
  at: number;
  controller: AbortController;
  reason: SigguardError;
}

const ends = new WeakMap<AbortSignal, Ends>();

export interface Deadline {
  readonly signal: AbortSignal;
  /** The Date.now() time it aborts at. */
  readonly at: number;
  /** Stops the timer once the command is done. */
  clear(): void;
  /** Stops the timer and aborts the signal now: what still runs under it (requests left under way) ends. */
  end(): void;
}

/** A signal that aborts at `at` (Date.now() ms) with SigguardError(DEADLINE_EXCEEDED, message). */
export function startDeadline(at: number, message: string): Deadline {
  const controller = new AbortController();
  const reason = new SigguardError(ReasonCode.DEADLINE_EXCEEDED, message);
  const timer = setTimeout(() => controller.abort(reason), Math.max(1, at - Date.now()));
  ends.set(controller.signal, { at, controller, reason });
  return {
    signal: controller.signal,
    at,
    clear: () => clearTimeout(timer),
    end: () => {
      clearTimeout(timer);
      controller.abort(reason);
    },
  };
}

/**
 * A deadline inside another: it ends at `at` (or with the parent, whichever comes first) and is
 * aborted with the parent's reason when the parent aborts first.
 */
export function startInnerDeadline(parent: AbortSignal, at: number, message: string): Deadline {
  const inner = startDeadline(Math.min(at, deadlineOf(parent) ?? at), message);
  const e = ends.get(inner.signal)!;
  const follow = (): void => e.controller.abort(parent.reason);
  if (parent.aborted) follow();
  else parent.addEventListener('abort', follow, { once: true });
  return {
    signal: inner.signal,
    at: inner.at,
    clear: () => {
      inner.clear();
      parent.removeEventListener('abort', follow);
    },
    end: () => {
      parent.removeEventListener('abort', follow);
      inner.end();
    },
  };
}

/**
 * A signal of `parent`'s deadline — the same time, the same reason, aborted with it, and no timer
 * of its own (one at the same time could fire first, with another message) — that `end()` also
 * aborts early: what still runs under it (requests left under way) ends with the work it was for.
 * Undefined when `parent` has no deadline.
 */
export function followDeadline(parent: AbortSignal, endMessage: string): Deadline | undefined {
  const pe = ends.get(parent);
  if (pe === undefined) return undefined;
  const controller = new AbortController();
  ends.set(controller.signal, { at: pe.at, controller, reason: pe.reason });
  const follow = (): void => controller.abort(parent.reason);
  if (parent.aborted) follow();
  else parent.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    at: pe.at,
    clear: () => parent.removeEventListener('abort', follow),
    end: () => {
      parent.removeEventListener('abort', follow);
      controller.abort(new SigguardError(ReasonCode.DEADLINE_EXCEEDED, endMessage));
    },
  };
}

/** The time a deadline's signal stands for; undefined for any other signal. */
export function deadlineOf(signal: AbortSignal): number | undefined {
  return ends.get(signal)?.at;
}

/** Milliseconds left (at least 1) before the signal's deadline; undefined without one. */
export function msLeft(signal: AbortSignal): number | undefined {
  const at = deadlineOf(signal);
  return at === undefined ? undefined : Math.max(1, at - Date.now());
}

/**
 * The refusal for a signal that is aborted or whose time has passed (which aborts it now);
 * undefined while there is time left. An abort for another reason is a DEADLINE_EXCEEDED too.
 */
export function expired(signal: AbortSignal): SigguardError | undefined {
  if (!signal.aborted) {
    const e = ends.get(signal);
    if (e === undefined || Date.now() < e.at) return undefined;
    e.controller.abort(e.reason);
  }
  const reason: unknown = signal.reason;
  if (reason instanceof SigguardError && reason.code === ReasonCode.DEADLINE_EXCEEDED) return reason;
  return new SigguardError(ReasonCode.DEADLINE_EXCEEDED, 'verification deadline exceeded');
}

/** Throws DEADLINE_EXCEEDED once the signal is aborted or its time has passed; call between units of synchronous work. */
export function checkDeadline(signal: AbortSignal): void {
  const e = expired(signal);
  if (e) throw e;
}

/** Rejects with the deadline's refusal when the signal aborts (never resolves): the other side of a race. */
export function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const fail = () => reject(expired(signal));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}
