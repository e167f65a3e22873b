/**
 * The verifier service that e2e/kind/standins/node/systemctl runs on a local node: its process,
 * found through the stand-in's pid file under the node's root.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StandinVerifier {
  /** The verifier's pid while it runs, else undefined. */
  pid(): number | undefined;
  /** Kills it (SIGKILL) if it runs: a test's cleanup. */
  kill(): void;
}

export function standinVerifier(root: () => string): StandinVerifier {
  const pid = (): number | undefined => {
    const file = join(root(), 'run/standin-sigguard-verifier.pid');
    if (!existsSync(file)) return undefined;
    const n = Number(readFileSync(file, 'utf8'));
    try {
      process.kill(n, 0);
      return n;
    } catch {
      return undefined;
    }
  };
  return {
    pid,
    kill: () => {
      const n = pid();
      if (n !== undefined) process.kill(n, 'SIGKILL');
    },
  };
}
