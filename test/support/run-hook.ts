/** One run of `sigguard hook` as a runtime makes it, with the decision it logged. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { type Run, sigguard } from './cli.js';
import { AGENT_GRACE_MS } from '../../src/cli/hook.js';

export interface HookOptions {
  config: string;
  policy: string;
  /** The decision log: its last line is this run's decision. */
  log: string;
  /** The container state on stdin. */
  input: string;
  /** `--agent SOCKET` (none when empty). */
  agent?: string | undefined;
  /** `--deadline S` (the hook's default when undefined). */
  deadline?: string | number | undefined;
  /** When the hook is SIGKILLed (sigguard()'s default when undefined). */
  timeoutMs?: number | undefined;
  /** A log without a decision line gives `d` undefined instead of failing the run. */
  logMayBeMissing?: boolean;
}

/** What sigguard() returned, the decision log's last line `d` and the run's wall time `ms`. */
export type HookRun<D = DecisionRecord> = Run & { d: D; ms: number };

export function runHook(o: HookOptions & { logMayBeMissing: true }): Promise<HookRun<DecisionRecord | undefined>>;
export function runHook(o: HookOptions): Promise<HookRun>;
export async function runHook(o: HookOptions): Promise<HookRun<DecisionRecord | undefined>> {
  const args = ['hook', '--config', o.config, '--policy', o.policy, '--log', o.log];
  if (o.agent) args.push('--agent', o.agent);
  if (o.deadline !== undefined) args.push('--deadline', String(o.deadline));
  const t0 = performance.now();
  const r = await sigguard(args, { input: o.input, timeoutMs: o.timeoutMs });
  const ms = Math.round(performance.now() - t0);
  const last = () => JSON.parse(readFileSync(o.log, 'utf8').trim().split('\n').pop()!) as DecisionRecord;
  let d: DecisionRecord | undefined;
  if (!o.logMayBeMissing) d = last();
  else {
    try {
      d = last();
    } catch {
      d = undefined;
    }
  }
  return { ...r, d, ms };
}

/** What the hook logs when it decided a start itself because the agent answered after its grace. */
export const AFTER_GRACE = `not used: the agent had not answered within ${AGENT_GRACE_MS} ms`;

/**
 * Runs a start that the agent should decide until it does, at most `tries` times. Under load (the
 * test files run side by side on two cores) the agent can answer after the hook's 50 ms grace:
 * the hook then allows in its own process from the verdict the agent has just kept, which is
 * correct, but not what such a test looks at. Only such a try is run again, and it must be the
 * same allow as the try that follows (exit 0, code, digest, signer): anything else is returned at
 * once, for the test's assertion to show. `run` clears what must be cleared for each try (a
 * verdict cache). A regression that makes the agent late every time still fails the test.
 */
export async function untilAgentDecides(run: () => Promise<HookRun>, tries = 4): Promise<HookRun> {
  const late: HookRun[] = [];
  let r = await run();
  while (late.length < tries - 1 && r.code === 0 && r.d.decision === 'allow' && r.d.agent === AFTER_GRACE) {
    late.push(r);
    r = await run();
  }
  const same = (x: HookRun) => ({ code: x.code, decision: x.d.decision, reason: x.d.code, digest: x.d.digest, signer: x.d.signer });
  for (const x of late) expect(same(x), 'a try decided after the grace').toEqual(same(r));
  return r;
}
