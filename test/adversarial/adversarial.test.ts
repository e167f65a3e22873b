/**
 * The adversarial suite (issue 10, "The proof"): attack cases against a
 * registry that lies on demand (test/adversarial/lying-registry.ts), each run
 * through the built CLI with its expected decision and reason codes. Property:
 * no false accept; every case decided by sigguard itself (a run still going 10 s
 * past its deadline is killed, KILLED_NO_DECISION, which no case expects), so a
 * deadline that does not hold fails the case by its code, not by a stopwatch;
 * times and peak RSS recorded. The table of results goes to
 * build/out/adversarial-results.json.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COSIGN2, COSIGN3, REGISTRY_BIN, ROOT, SIGGUARD, requireTools } from '../support/paths.js';
import { categories as all } from './cases/index.js';
import { type Ctx, GNU_TIME, type Outcome, execute, makeCtx, runEnv } from './harness.js';
import { type RealArtefacts, makeRealArtefacts } from './real-cosign.js';

interface Row {
  category: string;
  /** The verification path: `fast` (the default, the fast path where it applies) or `full` (SIGGUARD_FAST_PATH=off). */
  path: string;
  case: string;
  attack: string;
  expected: string;
  got: string;
  pass: boolean;
  falseAccept: boolean;
  /** A control (the honest artefact: must allow) rather than an attack. */
  control: boolean;
  ms: number;
  deadlineMs: number;
  rssKiB: number | null;
  problems: string[];
}

/** ADV_ONLY=<part of a category name> runs one category (while working on it). */
const only = process.env.ADV_ONLY;
const categories = only ? all.filter((c) => c.category.includes(only)) : all;
/**
 * Every case runs through both verification paths (src/engine/requirements/prepare-fast.ts): as
 * shipped, where the fast path takes key-only verifications, and with the full path alone. Each
 * must reach the case's decision and code. ADV_PATH=fast or full runs one.
 */
const PATHS = [
  { path: 'fast', env: {} },
  { path: 'full', env: { SIGGUARD_FAST_PATH: 'off' } },
].filter((p) => process.env.ADV_PATH === undefined || p.path === process.env.ADV_PATH);
const rows: Row[] = [];
let ctx: Ctx;
let real: RealArtefacts;
const ready = new Map<string, Promise<void>>();

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3, REGISTRY_BIN, GNU_TIME);
  real = await makeRealArtefacts();
  ctx = await makeCtx(real.pub);
  ctx.shared.real = real;
}, 180_000);

afterAll(async () => {
  await real?.registry.stop();
  for (const s of ctx?.servers ?? []) await s.stop().catch(() => {});
  if (ctx) rmSync(ctx.dir, { recursive: true, force: true });
  const out = join(ROOT, 'build/out');
  mkdirSync(out, { recursive: true });
  const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
  const rss = rows.map((r) => r.rssKiB ?? 0).sort((a, b) => a - b);
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;
  const summary = {
    cases: rows.length,
    controls: rows.filter((r) => r.control).length,
    attacks: rows.filter((r) => !r.control).length,
    passed: rows.filter((r) => r.pass).length,
    failed: rows
      .filter((r) => !r.pass)
      .map(
        (r) => `${r.category} / ${r.case}: expected ${r.expected}, got ${r.got}${r.problems.length ? ` (${r.problems.join('; ')})` : ''}`,
      ),
    falseAccepts: rows.filter((r) => r.falseAccept).length,
    ms: { median: pct(ms, 50), p95: pct(ms, 95), max: pct(ms, 100) },
    overDeadlinePlus1s: rows.filter((r) => r.ms > r.deadlineMs).map((r) => `${r.category} / ${r.case}: ${r.ms} ms`),
    rssKiB: { median: pct(rss, 50), p95: pct(rss, 95), max: pct(rss, 100) },
    byCategory: Object.fromEntries(
      categories.map((c) => {
        const mine = rows.filter((r) => r.category === c.category);
        return [c.category, { cases: mine.length, passed: mine.filter((r) => r.pass).length }];
      }),
    ),
  };
  writeFileSync(join(out, 'adversarial-results.json'), `${JSON.stringify({ summary, rows }, null, 2)}\n`);
  // the same table in Markdown, for the closing note
  const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const md = [
    `${summary.attacks} attacks + ${summary.controls} controls; ${summary.passed}/${summary.cases} as expected; false accepts: ${summary.falseAccepts}; ms median ${summary.ms.median}, p95 ${summary.ms.p95}, max ${summary.ms.max}; peak RSS KiB median ${summary.rssKiB.median}, p95 ${summary.rssKiB.p95}, max ${summary.rssKiB.max}`,
    '',
    '| category | case | expected | got | ms | RSS KiB | |',
    '| --- | --- | --- | --- | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${cell(r.category)}${r.path === 'full' ? ' (full path)' : ''} | ${cell(r.case)} | ${cell(r.expected)} | ${cell(r.got)} | ${r.ms} | ${r.rssKiB ?? ''} | ${r.pass ? 'ok' : `**FAIL**${r.problems.length ? `: ${cell(r.problems.join('; '))}` : ''}`} |`,
    ),
  ];
  writeFileSync(join(out, 'adversarial-results.md'), `${md.join('\n')}\n`);
});

/** Peak RSS of one verification, whatever the registry serves (issue 10, item 4). */
const RSS_CAP_KIB = 256 * 1024;

for (const { path, env } of PATHS)
  for (const cat of categories) {
    describe(path === 'fast' ? cat.category : `${cat.category} (full path)`, () => {
      it.each(cat.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        for (const k of Object.keys(runEnv)) delete runEnv[k];
        Object.assign(runEnv, env);
        if (cat.setup && !ready.has(cat.category)) ready.set(cat.category, cat.setup(ctx));
        await ready.get(cat.category);
        const inv = await c.run(ctx);
        const out: Outcome = await execute(inv, ctx);
        const problems = [...(c.verify ? await c.verify(out, ctx) : [])];
        if (inv.kind === 'hook' && out.verdict === undefined) problems.push('no decision-log line');
        if (out.rssKiB !== undefined && out.rssKiB > RSS_CAP_KIB) problems.push(`peak RSS ${out.rssKiB} KiB over ${RSS_CAP_KIB} KiB`);
        const decisionOk = out.decision === c.expect.decision;
        const codeOk = c.expect.codes.includes(out.code);
        const deadlineMs = (out.deadline + 1) * 1000;
        const falseAccept = out.decision === 'allow' && c.expect.decision === 'deny';
        rows.push({
          category: cat.category,
          path,
          case: c.name,
          attack: c.attack,
          expected: `${c.expect.decision} ${c.expect.codes.join('|')}`,
          got: `${out.decision} ${out.code}`,
          pass: decisionOk && codeOk && problems.length === 0,
          falseAccept,
          control: cat.category === 'controls' || c.name.startsWith('control:'),
          ms: out.ms,
          deadlineMs,
          rssKiB: out.rssKiB ?? null,
          problems,
        });
        const why = `${out.decision} ${out.code}: ${out.reason} (exit ${out.exit}; stderr: ${out.stderr.slice(0, 400)})`;
        expect(falseAccept, `FALSE ACCEPT: ${why}`).toBe(false);
        expect(out.decision, why).toBe(c.expect.decision);
        expect(c.expect.codes, why).toContain(out.code);
        expect(problems, why).toEqual([]);
      });
    });
  }

describe('the whole suite', () => {
  it('has at least 60 attack cases and no false accept', () => {
    expect(all.flatMap((c) => c.cases).length).toBeGreaterThanOrEqual(60);
    expect(rows.filter((r) => r.falseAccept).map((r) => `${r.category}/${r.case}: ${r.got}`)).toEqual([]);
  });
});
