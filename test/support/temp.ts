/**
 * Temporary folders the test support makes (a registry's storage, cosign's home, a runtime bundle),
 * removed when the test process exits: left behind, they filled a workstation's /tmp (75 GB after a
 * few hundred runs of the suites, and the next `make test` failed for space).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/** Removes every folder tempDir made in this process (test/support/temp-cleanup.ts: after each test file). */
export function removeTempDirs(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* left behind: only space */
    }
  }
  made.clear();
}

/** A new folder under the system's temporary folder, named `<prefix>XXXXXX`, removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // a script's exit (e2e, bench); vitest's workers are ended without it: temp-cleanup.ts
  if (made.size === 0) process.once('exit', removeTempDirs);
  made.add(dir);
  return dir;
}
