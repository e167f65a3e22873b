/** Running the built sigguard (and cosign) as a user would, capturing exit code and output. */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Outcome } from '../../src/engine/cached-verify.js';
import type { Verdict } from '../../src/engine/types.js';
import type { RequestRecord } from '../../src/registry/client.js';
import { SIGGUARD } from './paths.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Processes `run` started that have not ended yet (for a runner's Ctrl-C cleanup to end them). */
export const liveChildren = new Set<ChildProcess>();

export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    liveChildren.add(child);
    for (const ev of ['exit', 'error'] as const) child.once(ev, () => liveChildren.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // a command may exit before reading all of its input (an oversized state): not an error here
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

export const sigguard = (args: string[], opts?: Parameters<typeof run>[2]): Promise<Run> => run(SIGGUARD, args, opts);

/**
 * What `check --json` prints: the verdict, with what was decided over it (`cache` with --cache) and the
 * registry requests with --explain. A cache hit prints only the outcome's fields (src/engine/cached-verify.ts).
 */
export type CheckJson = Verdict & { cache?: Outcome['cache']; requests?: RequestRecord[] };

/** `sigguard check …` with its `--json` verdict parsed (undefined when stdout is not JSON). */
export async function sigguardCheck(args: string[]): Promise<Run & { verdict: CheckJson | undefined }> {
  const r = await sigguard(['check', ...args]);
  let verdict: CheckJson | undefined;
  try {
    verdict = JSON.parse(r.stdout) as CheckJson;
  } catch {
    verdict = undefined;
  }
  return { ...r, verdict };
}
