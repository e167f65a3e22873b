/**
 * The budget of one verification: bytes fetched, documents (HTTP exchanges),
 * signatures examined, and the deadline. Per-item caps (a manifest, a blob)
 * live in registry/client.ts's Limits; this bounds their sum, so no registry
 * can make one verification cost more than a fixed amount whatever it serves.
 *
 * The deadline is the command's one AbortSignal (src/deadline.ts): it stops
 * network I/O, and it knows the wall-clock time it stands for, so synchronous
 * work (parsing, certificate paths, signature checks), which no timer can
 * interrupt, calls checkpoint() between units of work.
 *
 * Budget exhaustion in signature discovery does not refuse by itself: what was
 * fetched is still judged, and the image is refused (BUDGET_EXCEEDED) only when
 * none of the signatures examined satisfies the policy.
 */
import vm from 'node:vm';
import { checkDeadline } from '../deadline.js';
import { ReasonCode, SigguardError, oneLine } from '../errors.js';

const MiB = 1024 * 1024;

export const BudgetLimits = {
  /** Response bytes over the whole verification (manifests, indexes, referrers, blobs, tokens). */
  totalBytes: 48 * MiB,
  /**
   * HTTP exchanges (each request, each redirect hop, each token request). 128 signatures per
   * listing on an index and its platform manifest, in both formats, need ~780.
   */
  documents: 1024,
  /** Signature artifacts examined per listing (a .sig image's layers, a referrers list), in the order listed. */
  signaturesPerListing: 128,
  /** Signature artifacts examined over the whole verification (2 subjects × 2 formats × 128). */
  signaturesTotal: 512,
} as const;

export interface BudgetSettings {
  totalBytes: number;
  documents: number;
  signaturesPerListing: number;
  signaturesTotal: number;
}

/** The error every budget refusal carries. */
export function budgetExceeded(message: string): SigguardError {
  return new SigguardError(ReasonCode.BUDGET_EXCEEDED, message);
}

export const isBudgetError = (err: unknown): err is SigguardError =>
  err instanceof SigguardError && err.code === ReasonCode.BUDGET_EXCEEDED;

export class Budget {
  private bytesUsed = 0;
  private bytesReserved = 0;
  private documentsUsed = 0;
  private signaturesUsed = 0;
  /** What was left out (for --explain): signatures beyond the per-listing cap, items the budget did not reach. */
  readonly notes: string[] = [];
  /** Set once discovery stopped short because the budget ran out. */
  exhausted: string | undefined;

  constructor(
    /** The command's deadline (src/deadline.ts's startDeadline), or any signal that cancels. */
    readonly signal: AbortSignal,
    readonly limits: BudgetSettings = BudgetLimits,
  ) {}

  /** A budget without limits beyond the signal's deadline, if any (tests, callers that bound work themselves). */
  static unbounded(signal: AbortSignal = new AbortController().signal): Budget {
    return new Budget(signal, {
      totalBytes: Number.MAX_SAFE_INTEGER,
      documents: Number.MAX_SAFE_INTEGER,
      signaturesPerListing: BudgetLimits.signaturesPerListing,
      signaturesTotal: Number.MAX_SAFE_INTEGER,
    });
  }

  /** Throws DEADLINE_EXCEEDED once the signal is aborted or its deadline has passed; call between units of synchronous work. */
  checkpoint = (): void => checkDeadline(this.signal);

  get bytes(): number {
    return this.bytesUsed;
  }

  /** Bytes reserved for responses still being read. */
  get inFlight(): number {
    return this.bytesReserved;
  }

  get documents(): number {
    return this.documentsUsed;
  }

  /** Counts one HTTP exchange. */
  document(what: string): void {
    this.checkpoint();
    if (this.documentsUsed >= this.limits.documents) {
      throw budgetExceeded(`verification budget of ${this.limits.documents} registry requests spent before ${what}`);
    }
    this.documentsUsed++;
  }

  /**
   * Reserves room for a response of at most `max` bytes and returns the cap to read it with.
   * `exact`: the size is known (a descriptor's), so it must fit whole; otherwise the cap
   * shrinks to what is left. Settle with `settle(granted, actual)` once the response is in.
   */
  reserve(max: number, what: string, exact = false): number {
    const left = this.limits.totalBytes - this.bytesUsed - this.bytesReserved;
    if (left <= 0 || (exact && max > left)) {
      throw budgetExceeded(`verification budget of ${this.limits.totalBytes} bytes spent before ${what}`);
    }
    const granted = Math.min(max, left);
    this.bytesReserved += granted;
    return granted;
  }

  /** Returns a reservation, charging the bytes actually received. */
  settle(granted: number, received: number): void {
    this.bytesReserved -= granted;
    this.bytesUsed += Math.min(received, granted);
  }

  /** Counts one signature artifact examined; false once the whole verification's cap is reached. */
  signature(): boolean {
    if (this.signaturesUsed >= this.limits.signaturesTotal) return false;
    this.signaturesUsed++;
    return true;
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }
}

const JUDGED: ReadonlySet<string> = new Set([
  ReasonCode.NO_SIGNATURE,
  ReasonCode.UNTRUSTED_SIGNER,
  ReasonCode.IDENTITY_MISMATCH,
  ReasonCode.DIGEST_MISMATCH,
  ReasonCode.MALFORMED_SIGNATURE,
]);

/**
 * A verdict's code, reason and notes as the budget leaves them: a denial after discovery
 * stopped short for the budget is BUDGET_EXCEEDED (what was examined did not satisfy the
 * policy, what was not could have); a denial with signatures left out by the per-listing
 * cap says so. The reason is made one line of plain text (signers and registries choose
 * much of it). An allow is never changed.
 */
export function withinBudget(
  budget: Budget,
  v: { decision: string; code: ReasonCode; reason: string },
): { code: ReasonCode; reason: string; notes?: string[] } {
  const notes = budget.notes.length > 0 ? { notes: budget.notes.map(oneLine) } : {};
  if (v.decision !== 'deny' || budget.notes.length === 0) return { code: v.code, reason: oneLine(v.reason), ...notes };
  // only a judgement of the signatures examined becomes the budget's: other refusals stand as they are
  const exhausted = budget.exhausted !== undefined && JUDGED.has(v.code);
  const code = exhausted ? ReasonCode.BUDGET_EXCEEDED : v.code;
  const reason = v.code === ReasonCode.BUDGET_EXCEEDED ? v.reason : `${v.reason} (${budget.notes.join('; ')})`;
  return { code, reason: oneLine(reason), ...notes };
}

let collect: (() => void) | null | undefined;
/** What the last collection left: the ceilings never come closer to it than the slack (no collection storms). */
let afterLast = { heap: 0, external: 0 };
/**
 * Past these, the next signature waits for a collection: heap in use (live and garbage; a
 * verification keeps a few tens of MiB alive), and buffers beyond the bytes the budget has
 * counted (what is kept of them is at most that; the rest is socket chunks and bodies already
 * dropped).
 */
const HEAP_CEILING = 40 * MiB;
const BUFFER_SLACK = 8 * MiB;

/**
 * Called between signatures (fetched and parsed): JSON crafted to make many small objects,
 * and the socket chunks every response arrives in, leave garbage faster than V8 chooses to
 * collect it (its heap grew to ~190 MiB over 512 such signatures, nearly all garbage, and a
 * verification to ~270 MiB RSS). Past the ceilings, collect first, so what a registry serves
 * costs memory by its bytes (the budget), not by the collector's appetite. A plain
 * verification (~20 MiB of heap) never gets here.
 */
export function keepHeapDown(budget: Budget): void {
  // process.memoryUsage(): V8's used_heap_size and external_memory, without loading node:v8 (~2 ms
  // of a cold start, issue 15); node:v8 only once a collection is due
  const h = process.memoryUsage();
  const heapCeiling = Math.max(HEAP_CEILING, afterLast.heap + HEAP_CEILING / 2);
  const bufferCeiling = Math.max(budget.bytes + budget.inFlight, afterLast.external) + BUFFER_SLACK;
  if (h.heapUsed < heapCeiling && h.external < bufferCeiling) return;
  collectNow();
}

function collectNow(): void {
  if (collect === undefined) {
    try {
      const v8 = process.getBuiltinModule('node:v8');
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
      // the flag back as it was: V8's code caches are checked against a hash of the flags, and a
      // cache made (the agent's, trained in build/sea.mjs) or taken after a changed flag is refused
      v8.setFlagsFromString('--no-expose-gc');
    } catch {
      collect = null;
    }
  }
  if (collect === null) return;
  collect();
  const after = process.memoryUsage();
  afterLast = { heap: after.heapUsed, external: after.external };
}

/**
 * For a process that verifies for others (the agent): what it holds once started (its code, the
 * logger, the metrics; past the heap ceiling), collected once and taken as the base the ceilings
 * start from. Else its first verification paid that full collection between two signatures (~10 ms
 * of the first decision after a start, issue 15), and later ones did not. Changes no decision.
 */
export function settleHeapBase(): void {
  collectNow();
}
