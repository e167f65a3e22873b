/** One run of `sigguard hook` as a runtime makes it, with the decision it logged. */
import { readFileSync } from 'node:fs';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { type Run, sigguard } from './cli.js';

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
