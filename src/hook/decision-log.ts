/**
 * The decision log: one JSON line per decision, appended synchronously before
 * the hook exits, so an operator can always see why a container did or did
 * not start (`jq` over /var/log/sigguard/decisions.log).
 *
 * The lines are pino-shaped (`level`, `time`, `msg`), so pino tooling reads
 * them, but written with one appendFileSync: loading pino itself costs ~25 ms,
 * paid on every container start.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DecisionRecord {
  /** pino's levels: 30 info (allowed), 40 warn (denied, or warn mode). */
  level: 30 | 40;
  time: string;
  msg: string;
  containerId: string | undefined;
  runtime: string | undefined;
  namespace: string | undefined;
  pod: string | undefined;
  container: string | undefined;
  image: string | undefined;
  digest: string | undefined;
  decision: 'allow' | 'deny';
  /** False when `mode: warn` let a denied container start. */
  enforced: boolean;
  code: string;
  reason: string;
  /** UNTRUSTED_SIGNER, MALFORMED_SIGNATURE: which check refused (src/verify/detail.ts; README). */
  detailCode: string | undefined;
  scope: string | undefined;
  signer: string | undefined;
  /** The trusted root(s) the scope's keyless or Rekor requirements verify against: source and TUF version (src/policy/trust-roots.ts). */
  trustRoot?: string;
  /** The verdict cache: hit (served from it), miss (verified, then stored), stale (registry down, older allow served). */
  cache: 'hit' | 'miss' | 'stale' | undefined;
  /**
   * With `--agent`: `decided` when the node's agent decided the start (an allow), else `not used: <why>`
   * when the hook asked or meant to ask it and decided itself (src/hook/ask-agent.ts). Absent: not needed.
   */
  agent?: string;
  durationMs: number;
}

/** Appends one record; returns an error message instead of throwing (the decision stands either way). */
export function writeDecision(file: string, record: DecisionRecord): string | undefined {
  const line = `${JSON.stringify(record)}\n`;
  try {
    appendFileSync(file, line, { mode: 0o640 });
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
        appendFileSync(file, line, { mode: 0o640 });
        return undefined;
      } catch (err2) {
        return (err2 as Error).message;
      }
    }
    return (err as Error).message;
  }
}
