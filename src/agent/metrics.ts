/**
 * The agent's Prometheus metrics (prom-client, one registry of its own). The hook is a process per
 * container start and cannot keep counters: what it decided is counted from the decision log it
 * appends to (decision-follow.ts), the agent's own work where it happens.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One decision-log line, as far as the metrics read it. */
export interface DecisionLine {
  decision?: unknown;
  code?: unknown;
  enforced?: unknown;
  cache?: unknown;
  agent?: unknown;
  durationMs?: unknown;
}

export class AgentMetrics {
  private policyInForce: string | undefined;
  private trustSince: number | undefined;
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'sigguard_decisions_total',
    help: "The hook's decisions, from the decision log (enforced=false: mode warn let a denied container start)",
    labelNames: ['decision', 'code', 'enforced'] as const,
    registers: [this.registry],
  });
  readonly hookDuration = new Histogram({
    name: 'sigguard_hook_duration_seconds',
    help: "How long the hook took to decide, from the decision log's durationMs",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
    registers: [this.registry],
  });
  readonly cache = new Counter({
    name: 'sigguard_cache_total',
    help: "The hook's verdict cache: hit, miss (verified, then stored) or stale (registry down, an older allow served)",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly agentAsked = new Counter({
    name: 'sigguard_hook_agent_total',
    help: "Starts of a hook with --agent, which asks the agent first: decided (the agent's allow), or not_used (the hook decided itself: every deny, no socket, no answer in time; the log's `agent` says why)",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly logLines = new Counter({
    name: 'sigguard_decision_log_unreadable_lines_total',
    help: 'Decision-log lines that are not a decision record (not counted as decisions)',
    registers: [this.registry],
  });
  readonly policySync = new Counter({
    name: 'sigguard_policy_sync_total',
    help: 'Changes of the mounted policy/config documents: applied, or refused (invalid: the previous stays in force)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policyInfo = new Gauge({
    name: 'sigguard_policy_info',
    help: 'The policy in force (1 for its sha256)',
    labelNames: ['sha256'] as const,
    registers: [this.registry],
  });
  readonly trustAge = new Gauge({
    name: 'sigguard_trust_material_age_seconds',
    help: 'Age of the trust material in force: material="documents", since the policy set (keys, CA files, trusted roots) was swapped in; material="public-good-root", since `sigguard trust update` fetched the kept public-good root (absent while the built-in one is used)',
    labelNames: ['material'] as const,
    registers: [this.registry],
    collect: () => {
      if (this.trustSince !== undefined) this.trustAge.set({ material: 'documents' }, (Date.now() - this.trustSince) / 1000);
      const fetched = this.keptRootFetchedAt?.();
      if (fetched !== undefined) this.trustAge.set({ material: 'public-good-root' }, (Date.now() - fetched) / 1000);
      else this.trustAge.remove({ material: 'public-good-root' });
    },
  });
  /** When the kept public-good root in use was fetched (ms), if there is one. */
  keptRootFetchedAt: (() => number | undefined) | undefined;
  readonly unguarded = new Gauge({
    name: 'sigguard_unguarded_runtime_handlers',
    help: "containerd runtime handlers without sigguard's hook at the last check",
    registers: [this.registry],
  });
  readonly installs = new Counter({
    name: 'sigguard_runtime_restarts_total',
    help: 'containerd restarts by the agent after it changed the base specs',
    registers: [this.registry],
  });
  readonly restartFailures = new Counter({
    name: 'sigguard_runtime_restart_failures_total',
    help: 'Runtime restarts by the agent that failed or were refused (retried with backoff; the hook files stay written)',
    labelNames: ['mechanism'] as const,
    registers: [this.registry],
  });
  readonly taintRemovals = new Counter({
    name: 'sigguard_registration_taint_removals_total',
    help: 'The registration taint (--remove-taint) taken off this node once ready: removed, absent (already gone) or failed (retried with backoff)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'sigguard_agent_ready',
    help: '1 once the hook is in every handler and the policy is valid',
    registers: [this.registry],
  });

  /** Counts one decision-log line (already parsed). */
  countDecision(line: DecisionLine): void {
    const decision = line.decision === 'allow' || line.decision === 'deny' ? line.decision : undefined;
    if (decision === undefined || typeof line.code !== 'string') {
      this.logLines.inc();
      return;
    }
    this.decisions.inc({ decision, code: line.code, enforced: line.enforced === false ? 'false' : 'true' });
    if (typeof line.durationMs === 'number' && Number.isFinite(line.durationMs) && line.durationMs >= 0)
      this.hookDuration.observe(line.durationMs / 1000);
    if (line.cache === 'hit' || line.cache === 'miss' || line.cache === 'stale') this.cache.inc({ result: line.cache });
    if (line.agent === 'decided') this.agentAsked.inc({ result: 'decided' });
    else if (typeof line.agent === 'string' && line.agent.startsWith('not used')) this.agentAsked.inc({ result: 'not_used' });
  }

  /** Counts one line of the log as it is read (text that is not JSON counts as unreadable). */
  countLine(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    this.countDecision(typeof parsed === 'object' && parsed !== null ? parsed : {});
  }

  /** The policy now in force, and since when its trust material is. */
  setPolicy(sha256: string, since: number): void {
    if (this.policyInForce !== undefined) this.policyInfo.remove({ sha256: this.policyInForce });
    this.policyInfo.set({ sha256 }, 1);
    this.policyInForce = sha256;
    this.trustSince = since;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
