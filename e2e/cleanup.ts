/**
 * Cleanup for the e2e runner and the demo: steps registered as things are
 * started (containerd node, registry, forwarder, temp folders), run in reverse
 * order once — at the end of the run, or on SIGINT / SIGTERM (Ctrl-C), after
 * which the process exits 130 / 143. A second Ctrl-C while cleaning up is
 * ignored: leaving a node half-stopped is worse than waiting a few seconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { liveChildren } from '../test/support/cli.js';

/** Mount points at or under `dir` (this mount namespace), deepest first. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.reverse();
}

/** rm -rf, but never through a mount point that is still there (unmounted lazily first, else left alone). */
export function removeTree(dir: string): void {
  for (const m of mountsUnder(dir)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* checked below */
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`not removing ${dir}: still mounted: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

/** SIGKILLs this process's remaining child processes (zombies aside). */
function killChildren(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: pid (comm) state ppid ...; comm may contain spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') process.kill(Number(entry), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

type Step = { what: string; run: () => unknown };

/** The shell's exit status for a process ended by `signal`: 130 for SIGINT, 143 for SIGTERM. */
export const signalExitCode = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130);

export class Cleanup {
  private readonly steps: Step[] = [];
  private running: Promise<string[]> | undefined;
  /** Set once a signal arrived: the main flow stops reporting and leaves. */
  interrupted: NodeJS.Signals | undefined;

  /**
   * Registers a step (run last-in, first-out); returns it for an early, explicit run. After a
   * signal the step is still taken (the cleanup under way runs it) and add throws, so that the
   * main flow starts nothing more.
   */
  add(what: string, run: () => unknown): Step {
    const step = { what, run };
    this.steps.push(step);
    if (this.interrupted) throw new Error(`interrupted (${this.interrupted})`);
    return step;
  }

  /** Runs one registered step now (and not again at the end). */
  async runStep(step: Step): Promise<void> {
    const i = this.steps.indexOf(step);
    if (i < 0) return;
    this.steps.splice(i, 1);
    await step.run();
  }

  /** Runs every step (once, however often called); returns the errors, never throws. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const errors: string[] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.run();
        } catch (err) {
          errors.push(`${step.what}: ${(err as Error).message}`);
        }
      }
      return errors;
    })();
    return this.running;
  }

  /** On SIGINT / SIGTERM: `notice`, end the commands still running, run the steps, exit 130 / 143. */
  onSignals(notice: (signal: NodeJS.Signals) => void): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (this.interrupted) return;
        this.interrupted = sig;
        notice(sig);
        // cosign or sigguard runs still going: they would write into folders about to be removed
        for (const child of liveChildren) child.kill('SIGKILL');
        void this.run().then((errors) => {
          for (const e of errors) process.stderr.write(`cleanup: ${e}\n`);
          // whatever the main flow started while the steps ran (a registry restarted by a
          // case's finally, say); killed and exited in one go, so nothing starts in between
          killChildren();
          process.exit(signalExitCode(sig));
        });
      });
    }
  }

  /**
   * One temp folder for everything this run makes (registry storage, cosign keys, image
   * layers, the node): TMPDIR points into it, so helpers using os.tmpdir() land there too.
   */
  tempRoot(prefix: string): string {
    const root = mkdtempSync(prefix);
    process.env.TMPDIR = root;
    this.add(`remove ${root}`, () => removeTree(root));
    return root;
  }
}
