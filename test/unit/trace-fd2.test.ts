/**
 * src/trace.ts writes its marks to fd 2 with fs.writeSync (442f358): process.stderr, made on the
 * first mark, loads node:net when stderr is a pipe, so a traced start hid what an untraced one saves.
 * Pinned here: the lines, no node:net, and a stderr whose reader has gone (EPIPE) costs the lines,
 * never the start (process.stderr's write would have raised an 'error' with no handler).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

const SCRIPT = `
import { mark } from ${JSON.stringify(join(ROOT, 'src/trace.ts'))};
mark('first');
await new Promise((r) => setTimeout(r, 100));
for (let i = 0; i < 200; i++) mark('again ' + i);
const net = process.moduleLoadList.filter((m) => m === 'NativeModule net').length; // before process.stdout, which loads it
process.stdout.write(net + ' net\\n');
`;

function run(trace: string, closeStderr: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      env: { PATH: process.env.PATH, SIGGUARD_TRACE: trace },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    if (closeStderr) child.stderr.destroy();
    else
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('trace marks on fd 2', () => {
  it('are written as lines, without loading node:net', async () => {
    const r = await run('1', false);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('0 net\n');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(201);
    expect(lines[0]).toMatch(/^sigguard-trace \d+\.\d first$/);
    expect(lines[200]).toMatch(/^sigguard-trace \d+\.\d again 199$/);
  });

  it('with the resident set (SIGGUARD_TRACE=rss)', async () => {
    const r = await run('rss', false);
    expect(r.stderr.split('\n')[0]).toMatch(/^sigguard-trace \d+\.\d rss \d+\.\d heap \d+\.\d first$/);
  });

  it('with the CPU time used so far (SIGGUARD_TRACE=cpu)', async () => {
    const r = await run('cpu', false);
    expect([r.code, r.stdout]).toEqual([0, '0 net\n']);
    expect(r.stderr.split('\n')[0]).toMatch(/^sigguard-trace \d+\.\d cpu \d+\.\d first$/);
  });

  it('lost when the reader of stderr has gone, never the start', async () => {
    const r = await run('1', true);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('0 net\n');
  });

  it('none when off', async () => {
    const r = await run('0', false);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '0 net\n', '']);
  });
});
