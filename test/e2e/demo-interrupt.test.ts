/**
 * `make demo` cleans up when interrupted: Ctrl-C (SIGINT to the whole
 * foreground process group, as a terminal sends it) once the containerd node
 * is up, and SIGTERM to the demo process alone while it signs images. Either
 * way it exits 130 / 143 and leaves no process, mount or temp folder behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { containerdBins } from '../support/node/containerd-node.js';
import { COSIGN2, COSIGN3, ROOT, SIGGUARD, requireTools } from '../support/paths.js';

const DEMO = join(ROOT, 'build/out/e2e/demo.cjs');

beforeAll(() => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3, containerdBins('2.1').containerd);
  execFileSync(process.execPath, [join(ROOT, 'e2e/bundle.mjs'), 'demo'], { stdio: 'inherit' });
});

/** Pids (other than ours) whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(text)) out.push(`${pid} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

async function interruptDemo(
  when: RegExp,
  signal: NodeJS.Signals,
  target: 'group' | 'process',
): Promise<{ code: number | null; output: string; root: string }> {
  // own process group, like a shell job in a terminal
  const child = spawn(process.execPath, [DEMO], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  let sent = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onData = (d: Buffer) => {
    output += d.toString();
    if (!sent && when.test(output)) {
      sent = true;
      process.kill(target === 'group' ? -child.pid! : child.pid!, signal);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
  if (code === null && child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  const root = /removing (\/tmp\/sigguard-demo-\S+)/.exec(output)?.[1] ?? '';
  expect(sent, output).toBe(true);
  return { code, output, root };
}

function expectNothingLeft(root: string, output: string): void {
  expect(root, output).toMatch(/^\/tmp\/sigguard-demo-/);
  expect(existsSync(root)).toBe(false);
  expect(
    execFileSync('mount')
      .toString()
      .split('\n')
      .filter((l) => l.includes(root)),
  ).toEqual([]);
  expect(processesMentioning(root)).toEqual([]);
}

describe('make demo, interrupted', () => {
  it('Ctrl-C once the node is up: exit 130, node, registry and temp folder gone', async () => {
    const { code, output, root } = await interruptDemo(/\n {2}node {8}/, 'SIGINT', 'group');
    expect(code, output).toBe(130);
    expect(output).toContain('Interrupted: stopping the node and the registry');
    expect(output).not.toContain('demo failed');
    expectNothingLeft(root, output);
  }, 90_000);

  it('SIGTERM to the demo alone while it signs: exit 143, registry and temp folder gone', async () => {
    const { code, output, root } = await interruptDemo(/\n {2}registry {4}/, 'SIGTERM', 'process');
    expect(code, output).toBe(143);
    expect(output).toContain('Terminated: stopping the node and the registry');
    expectNothingLeft(root, output);
  }, 90_000);
});
