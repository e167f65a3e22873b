/**
 * `sigguard metrics --log FILE --listen ADDR`: the agent's decision metrics from a decision log
 * alone (a node where sigguard was installed by hand): every line already in the log when it
 * starts, then what is appended, across a logrotate-style rename; promtool accepts the text.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpGet, series, until } from '../support/agent-node.js';
import { ROOT, TOOLS, requireTools } from '../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'sigguard-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (decision: string, code: string, enforced = true) =>
  `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: 'x', decision, code, enforced, durationMs: 15 })}\n`;

describe('sigguard metrics --log', () => {
  it('counts the log as it is, then follows it (a rotation included); promtool accepts /metrics', async () => {
    requireTools(join(TOOLS, 'bin/promtool'));
    const log = join(dir, 'decisions.log');
    writeFileSync(log, line('allow', 'ALLOWED') + line('deny', 'NO_SIGNATURE') + line('deny', 'NO_SIGNATURE', false));
    const child = spawn(join(ROOT, 'bin/sigguard'), ['metrics', '--log', log, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    try {
      const port = await until('serving', 30_000, () => {
        const m = /"port":(\d+)/.exec(out);
        return m ? Number(m[1]) : undefined;
      });
      const metric = async (name: string) => series((await httpGet(port, '/metrics')).text, name);
      await until('the lines already there', 10_000, async () =>
        (await metric('sigguard_decisions_total{decision="deny",code="NO_SIGNATURE",enforced="true"}')) === 1 ? true : undefined,
      );
      expect(await metric('sigguard_decisions_total{decision="deny",code="NO_SIGNATURE",enforced="false"}')).toBe(1);
      expect(await metric('sigguard_decisions_total{decision="allow",code="ALLOWED",enforced="true"}')).toBe(1);
      appendFileSync(log, line('allow', 'ALLOWED'));
      renameSync(log, `${log}.1`); // logrotate
      appendFileSync(log, line('allow', 'ALLOWED'));
      await until('what followed', 10_000, async () =>
        (await metric('sigguard_decisions_total{decision="allow",code="ALLOWED",enforced="true"}')) === 3 ? true : undefined,
      );
      expect(await metric('sigguard_hook_duration_seconds_count')).toBe(5);
      const lint = spawnSync(join(TOOLS, 'bin/promtool'), ['check', 'metrics'], {
        input: (await httpGet(port, '/metrics')).text,
        encoding: 'utf8',
      });
      expect(`${lint.stdout}${lint.stderr}`).toBe('');
      expect((await httpGet(port, '/healthz')).status).toBe(200);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    expect(child.exitCode).toBe(0);
  }, 60_000);
});
