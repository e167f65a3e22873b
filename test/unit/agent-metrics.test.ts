/**
 * The agent's metrics from the decision log (src/agent/decision-follow.ts, metrics.ts): every line
 * counted once across appends, rotation (by the agent or by logrotate's rename) and truncation.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionLogFollower } from '../../src/agent/decision-follow.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { series } from '../support/agent-node.js';
import { TOOLS, requireTools } from '../support/paths.js';

const PROMTOOL = join(TOOLS, 'bin/promtool');

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-metrics-'));
  file = join(dir, 'decisions.log');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const line = (decision: 'allow' | 'deny', code: string, extra: Record<string, unknown> = {}) =>
  `${JSON.stringify({ level: decision === 'allow' ? 30 : 40, msg: 'x', decision, code, enforced: true, durationMs: 20, ...extra })}\n`;

function follow(opts = {}) {
  const metrics = new AgentMetrics();
  const f = new DecisionLogFollower(file, (l) => metrics.countDecision(JSON.parse(l) as object), opts);
  return { metrics, f };
}
async function value(m: AgentMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const got = (await m.registry.getSingleMetric(name)?.get())?.values ?? [];
  return got.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((a, v) => a + v.value, 0);
}

describe('sigguard agent: metrics from the decision log', () => {
  it('counts what is in the log at start, then what is appended, a partial line only once complete', async () => {
    writeFileSync(file, line('allow', 'ALLOWED', { cache: 'miss' }) + line('deny', 'NO_SIGNATURE'));
    const { metrics, f } = follow();
    f.poll();
    appendFileSync(file, line('deny', 'UNTRUSTED_SIGNER', { enforced: false, cache: 'hit' }));
    const half = line('allow', 'POLICY_ACCEPT');
    appendFileSync(file, half.slice(0, 10));
    f.poll();
    expect(f.lines).toBe(3);
    appendFileSync(file, half.slice(10));
    f.poll();
    f.poll();
    expect(await value(metrics, 'sigguard_decisions_total')).toBe(4);
    expect(await value(metrics, 'sigguard_decisions_total', { decision: 'deny', enforced: 'false' })).toBe(1);
    expect(await value(metrics, 'sigguard_decisions_total', { code: 'NO_SIGNATURE', enforced: 'true' })).toBe(1);
    expect(await value(metrics, 'sigguard_cache_total', { result: 'hit' })).toBe(1);
    const text = await metrics.text();
    expect(text).toContain('sigguard_hook_duration_seconds_count 4');
    expect(text).toContain('sigguard_decisions_total{decision="allow",code="ALLOWED",enforced="true"} 1');
  });

  it("counts the hooks' use of the agent (--agent) from the log's agent field, and nothing for a line without one", async () => {
    writeFileSync(
      file,
      line('allow', 'ALLOWED', { cache: 'miss', agent: 'decided' }) +
        line('deny', 'NO_SIGNATURE', { agent: 'not used: the agent declined: NO_SIGNATURE: none' }) +
        line('allow', 'ALLOWED', { agent: 'not used: no agent socket at /var/lib/sigguard/agent/hook.sock' }) +
        line('allow', 'ALLOWED', { cache: 'hit' }) +
        line('allow', 'ALLOWED', { agent: 'something else' }),
    );
    const { metrics, f } = follow();
    f.poll();
    expect(await value(metrics, 'sigguard_hook_agent_total', { result: 'decided' })).toBe(1);
    expect(await value(metrics, 'sigguard_hook_agent_total', { result: 'not_used' })).toBe(2);
    expect(await value(metrics, 'sigguard_hook_agent_total')).toBe(3);
  });

  it('rotation by rename (logrotate, copy-less): the rest of the old file is read, then the new one', async () => {
    const { metrics, f } = follow();
    for (let i = 0; i < 40; i++) {
      appendFileSync(file, line(i % 3 ? 'allow' : 'deny', i % 3 ? 'ALLOWED' : 'NO_SIGNATURE'));
      if (i % 10 === 7) renameSync(file, `${file}.${i}`); // rotated by someone else between two polls
      if (i % 4 === 0) f.poll();
    }
    f.poll();
    expect(await value(metrics, 'sigguard_decisions_total')).toBe(40);
    expect(await value(metrics, 'sigguard_decisions_total', { decision: 'deny' })).toBe(14);
  });

  it('rotation by the agent itself (--log-max-bytes, --log-keep): nothing missed, nothing counted twice, keep files kept', async () => {
    const { metrics, f } = follow({ maxBytes: 400, keep: 2 });
    for (let i = 0; i < 40; i++) {
      appendFileSync(file, line('allow', 'ALLOWED'));
      if (i % 3 === 0) f.poll();
    }
    f.poll();
    expect(await value(metrics, 'sigguard_decisions_total')).toBe(40);
    expect(f.rotations).toBeGreaterThan(2);
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(existsSync(`${file}.2`)).toBe(true);
    expect(existsSync(`${file}.3`)).toBe(false);
  });

  it('truncation: what is in the file after it is counted, what was before is not counted again', async () => {
    writeFileSync(file, line('allow', 'ALLOWED') + line('allow', 'ALLOWED'));
    const { metrics, f } = follow();
    f.poll();
    truncateSync(file, 0);
    appendFileSync(file, line('deny', 'NO_SIGNATURE'));
    f.poll();
    expect(await value(metrics, 'sigguard_decisions_total')).toBe(3);
    expect(await value(metrics, 'sigguard_decisions_total', { decision: 'deny' })).toBe(1);
  });

  it('a line that is no decision is counted as unreadable, not as a decision', async () => {
    writeFileSync(file, `not json\n${JSON.stringify({ decision: 'maybe', code: 'X' })}\n${line('allow', 'ALLOWED')}`);
    const metrics = new AgentMetrics();
    const f = new DecisionLogFollower(file, (l) => metrics.countLine(l));
    f.poll();
    expect(await value(metrics, 'sigguard_decisions_total')).toBe(1);
    expect(await value(metrics, 'sigguard_decision_log_unreadable_lines_total')).toBe(2);
    expect(readFileSync(file, 'utf8')).toContain('not json');
  });
});

describe('sigguard agent: the /metrics text', () => {
  it('promtool check metrics accepts it (Prometheus 2.42, build/tools.sh), with every series set', async () => {
    requireTools(PROMTOOL);
    writeFileSync(file, line('allow', 'ALLOWED', { cache: 'hit' }) + line('deny', 'NO_SIGNATURE', { enforced: false, cache: 'miss' }));
    const { metrics, f } = follow();
    f.poll();
    metrics.policySync.inc({ result: 'applied' });
    metrics.policySync.inc({ result: 'refused' });
    metrics.setPolicy('ab'.repeat(32), Date.now() - 5000);
    metrics.unguarded.set(0);
    metrics.ready.set(1);
    const text = await metrics.text();
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    expect(text).toContain(`sigguard_policy_info{sha256="${'ab'.repeat(32)}"} 1`);
    expect(series(text, 'sigguard_trust_material_age_seconds{material="documents"}')).toBeGreaterThanOrEqual(5);
    // the built-in root: no kept one, no series
    expect(text.split('\n').some((l) => l.startsWith('sigguard_trust_material_age_seconds{material="public-good-root"}'))).toBe(false);
    metrics.keptRootFetchedAt = () => Date.now() - 3 * 86_400_000;
    const withRoot = await metrics.text();
    expect(series(withRoot, 'sigguard_trust_material_age_seconds{material="public-good-root"}')).toBeGreaterThanOrEqual(3 * 86_400);
    expect(spawnSync(PROMTOOL, ['check', 'metrics'], { input: withRoot }).status).toBe(0);
  });
});
