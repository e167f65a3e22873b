/**
 * A document not yet cached is validated once by the hooks that start together (DocCache
 * validateOnce, single flight): the others take what it put. A leader whose document is invalid
 * puts nothing, and each of the others then finds that out for itself (the same error, never a
 * value); no deadline or a folder that cannot be trusted: each validates alone, as before.
 */
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DocCache } from '../../src/cache/doc-cache.js';
import { tempDir } from '../support/temp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fresh = () => tempDir('sigguard-doc-once-');

describe('DocCache.validateOnce', () => {
  it('ten at once: one validates, the others take what it put; later ones read the cache', async () => {
    const dir = fresh();
    let runs = 0;
    const validate = async () => {
      runs++;
      await sleep(150);
      return { version: 1, checked: true };
    };
    const until = { endsAt: Date.now() + 10_000 };
    const got = await Promise.all(Array.from({ length: 10 }, () => new DocCache(dir, until).validateOnce('policy', 'text', validate)));
    expect(runs).toBe(1);
    expect(got).toEqual(Array(10).fill({ version: 1, checked: true }));
    expect(new DocCache(dir).get('policy', 'text')).toEqual({ version: 1, checked: true });
    // no lock or socket left behind
    expect(readdirSync(join(dir, 'docs')).filter((f) => !f.endsWith('.json'))).toEqual([]);
  });

  it('another text, another kind: validated on their own', async () => {
    const dir = fresh();
    const runs: string[] = [];
    const until = { endsAt: Date.now() + 10_000 };
    const v = (what: string) => async () => {
      runs.push(what);
      await sleep(50);
      return what;
    };
    await Promise.all([
      new DocCache(dir, until).validateOnce('policy', 'a', v('policy a')),
      new DocCache(dir, until).validateOnce('policy', 'b', v('policy b')),
      new DocCache(dir, until).validateOnce('config', 'a', v('config a')),
    ]);
    expect(runs.sort()).toEqual(['config a', 'policy a', 'policy b']);
  });

  it('an invalid document: nothing is put, every caller gets the validation error, the followers at once', async () => {
    const dir = fresh();
    let runs = 0;
    let active = 0;
    let most = 0;
    const validate = async (): Promise<never> => {
      runs++;
      most = Math.max(most, ++active);
      await sleep(30);
      active--;
      throw new Error('policy.yaml: scopes: expected an object');
    };
    const until = { endsAt: Date.now() + 10_000 };
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => new DocCache(dir, until).validateOnce('policy', 'bad', validate)),
    );
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'fulfilled'))).toEqual(
      Array(5).fill('policy.yaml: scopes: expected an object'),
    );
    expect(runs).toBe(5);
    // woken by the leader that failed, the others validated at once, not one after another
    expect(most).toBeGreaterThan(1);
    expect(new DocCache(dir).get('policy', 'bad')).toBeUndefined();
  });

  it('without a deadline (check, the agent) or in a folder open to others: each validates alone, no lock', async () => {
    const dir = fresh();
    let runs = 0;
    const validate = async () => {
      runs++;
      await sleep(30);
      return 'v';
    };
    await Promise.all([1, 2, 3].map(() => new DocCache(dir).validateOnce('policy', 't', validate)));
    expect(runs).toBe(3);
    const open = fresh();
    mkdirSync(join(open, 'docs'), { mode: 0o700 });
    chmodSync(open, 0o777);
    runs = 0;
    const until = { endsAt: Date.now() + 10_000 };
    await Promise.all([1, 2, 3].map(() => new DocCache(open, until).validateOnce('policy', 't', validate)));
    expect(runs).toBe(3);
    expect(readdirSync(join(open, 'docs'))).toEqual([]);
  });
});
