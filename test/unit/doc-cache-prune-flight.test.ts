/**
 * Review of 4fcd797 (DocCache.prune, from the agent's priming): a prune while hooks validate a
 * document together (validateOnce) takes the old documents and leaves the flight alone - the
 * leader's lock and wake socket stay, the followers take what the leader puts, one validation.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DOC_MAX_AGE_MS, DocCache } from '../../src/cache/doc-cache.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('a prune during a flight removes old documents, never the flight: one validation, every follower served', async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-prune-flight-'));
  const docs = join(dir, 'docs');
  mkdirSync(docs, { mode: 0o700 });
  const old = join(docs, `policy-${'e'.repeat(64)}.json`);
  writeFileSync(old, '{}', { mode: 0o600 });
  const t = (Date.now() - DOC_MAX_AGE_MS - 60_000) / 1000;
  utimesSync(old, t, t);

  let runs = 0;
  let during: string[] = [];
  let removed = -1;
  const validate = async () => {
    runs++;
    await sleep(200); // the followers are waiting on the leader's socket by now
    removed = new DocCache(dir).prune();
    during = readdirSync(docs).sort();
    await sleep(100);
    return { checked: true };
  };
  const until = { endsAt: Date.now() + 10_000 };
  const got = await Promise.all(Array.from({ length: 6 }, () => new DocCache(dir, until).validateOnce('policy', 'text', validate)));
  expect(runs).toBe(1);
  expect(got).toEqual(Array(6).fill({ checked: true }));
  expect(removed).toBe(1);
  expect(during.filter((f) => !f.endsWith('.json'))).toEqual([
    expect.stringMatching(/^v-[0-9a-f]{32}\.lock$/),
    expect.stringMatching(/^v-[0-9a-f]{32}\.wake$/),
  ]);
  expect(during).not.toContain(`policy-${'e'.repeat(64)}.json`);
  expect(new DocCache(dir).get('policy', 'text')).toEqual({ checked: true });
});
