/**
 * Examining a listing of signature artifacts (a .sig image's layers, a
 * referrers list) under the verification's budget: in the order the registry
 * lists them, the first `signaturesPerListing` only, a few at a time. What is
 * left out is noted, never a refusal by itself: artifacts listed after a
 * signature cannot make it unverifiable by their number (those listed before
 * it can push it past the cap: the README says so), and once the budget is
 * spent the artifacts already fetched are still judged.
 */
import type { Budget } from '../registry/budget.js';
import { isBudgetError, keepHeapDown } from '../registry/budget.js';
import { ReasonCode, SigguardError } from '../errors.js';

/** Fetches in flight per listing. */
const CONCURRENCY = 8;

/**
 * Runs `fn` over the listing's first items in order; returns their results in listing order,
 * leaving out those the budget did not reach. Budget errors stop the listing; any other
 * error is the caller's (fn catches what it wants to keep as a per-item problem).
 */
export async function examineInOrder<T, R>(
  items: readonly T[],
  listing: string,
  budget: Budget,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const cap = budget.limits.signaturesPerListing;
  if (items.length > cap) budget.note(`${listing} lists ${items.length} signature artifacts: only the first ${cap} were examined`);
  const wanted = items.slice(0, cap);
  const results: Array<R | undefined> = new Array(wanted.length);
  let next = 0;
  let stopped: string | undefined;
  const worker = async (): Promise<void> => {
    while (stopped === undefined && next < wanted.length) {
      const i = next++;
      budget.checkpoint();
      keepHeapDown(budget);
      if (!budget.signature()) {
        stopped = `the verification's cap of ${budget.limits.signaturesTotal} signature artifacts was reached`;
        break;
      }
      try {
        results[i] = await fn(wanted[i]!, i);
      } catch (err) {
        stopped = err instanceof Error ? err.message : String(err);
        if (!isBudgetError(err)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, wanted.length) }, worker));
  const done = results.filter((r): r is R => r !== undefined);
  if (stopped !== undefined) {
    budget.exhausted ??= stopped;
    budget.note(`${listing}: ${wanted.length - done.length} of ${wanted.length} signature artifacts not examined (${stopped})`);
  }
  return done;
}

/**
 * What a fault fetching one listed artifact means: a problem of that artifact (over its cap,
 * not matching its digest, ambiguous, missing: it is unreadable, the others are still judged)
 * unless it is one of the whole verification (deadline, budget, a registry down or answering
 * errors, configuration), which is rethrown: an outage stays an outage (stale-if-error).
 */
export function artifactProblem(err: unknown): string {
  if (err instanceof SigguardError) {
    const whole: string[] = [
      ReasonCode.DEADLINE_EXCEEDED,
      ReasonCode.BUDGET_EXCEEDED,
      ReasonCode.REGISTRY_UNREACHABLE,
      ReasonCode.REGISTRY_ERROR,
      ReasonCode.CONFIG_INVALID,
    ];
    if (!whole.includes(err.code)) return `${err.message} [${err.code}]`;
  }
  throw err;
}
