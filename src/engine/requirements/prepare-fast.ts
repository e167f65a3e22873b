/**
 * Which verifications take the fast path (src/verify/fast-key.ts): every requirement of the
 * scope is sigstoreSigned with plain keys (no Rekor, no certificates), and every signature found
 * is one the fast path can decide. Otherwise the full path (prepare.ts, src/verify) decides the
 * whole verification, as if the fast path did not exist: one signature the fast path doubts is
 * enough. Fetching, caps and the budget are the same on both paths (only how the fetched
 * signatures are read differs).
 */
import type { FoundSignature } from '../../discovery/types.js';
import type { Requirement } from '../../policy/types.js';
import { type FastKeySignature, fastBundle, fastLegacy } from '../../verify/fast-key.js';

/** A signature read by the fast path: judged by its claim and `fast.signedBy`, never by @sigstore/verify. */
export interface FastPreparedSignature {
  found: FoundSignature;
  ok: true;
  claim: FastKeySignature['claim'];
  fast: FastKeySignature;
}

/**
 * `SIGGUARD_FAST_PATH=off` sends every verification down the full path: the suites run both
 * paths with it (test/adversarial), and an operator can rule the fast path out. It can only
 * switch the fast path off, never on where it does not apply.
 */
export const fastPathOff = (): boolean => process.env.SIGGUARD_FAST_PATH === 'off';

/** Whether the requirements are ones the fast path may judge: sigstoreSigned, plain keys only. */
export function fastEligible(requirements: Requirement[]): boolean {
  return (
    !fastPathOff() &&
    requirements.length > 0 &&
    requirements.every((r) => r.type === 'sigstoreSigned' && r.trust.kind === 'keys' && r.trust.rekor === undefined)
  );
}

/**
 * Every found signature read by the fast path, or undefined when it doubts any of them (then
 * the full path reads them all). `between` runs before each (the deadline, the heap).
 */
export function prepareAllFast(found: FoundSignature[], between: () => void): FastPreparedSignature[] | undefined {
  const out: FastPreparedSignature[] = [];
  for (const f of found) {
    between();
    const fast = f.format === 'legacy' ? fastLegacy(f) : fastBundle(f);
    if (fast === undefined) return undefined;
    out.push({ found: f, ok: true, claim: fast.claim, fast });
  }
  return out;
}
