/**
 * The verdict cache's clock, moved instead of waited for: every cached verdict in a cache folder is
 * made `ms` older (its verifiedAt), owner and mode kept, so that a test crosses TTL, back-off and
 * maxStale exactly, however slow the machine, instead of sleeping against a 1 s TTL.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function ageCachedVerdicts(cacheDir: string, ms: number): void {
  const files = readdirSync(cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f));
  if (files.length === 0) throw new Error(`no cached verdict in ${cacheDir} to age`);
  for (const f of files) {
    const file = join(cacheDir, f);
    const e = JSON.parse(readFileSync(file, 'utf8')) as { verifiedAt: number };
    e.verifiedAt -= ms;
    writeFileSync(file, JSON.stringify(e));
  }
}
