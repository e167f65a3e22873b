/**
 * src/registry/budget.ts's collections leave V8's flags as they were: a code cache made before one
 * (the agent's, trained in build/sea.mjs, where the verifier collects right after it listens) is
 * still taken after it. A flag left changed (--expose-gc) changes the flag hash V8 checks every
 * cache against, and the executable's agent bundle was refused its cache.
 */
import { Script } from 'node:vm';
import { expect, it } from 'vitest';
import { settleHeapBase } from '../../src/registry/budget.js';

it('a code cache made before the agent settles its heap is accepted after it, and one made after it too', () => {
  const source = '(function () { return [1, 2, 3].map((x) => x * 2); })';
  const before = new Script(source, { filename: 'heap-base-before.js' });
  (before.runInThisContext() as () => number[])();
  const made = before.createCachedData();
  settleHeapBase();
  settleHeapBase(); // the second reuses the collector taken by the first
  // another name each time: V8's own compilation cache (by source and name) would answer first
  const again = new Script(source, { filename: 'heap-base-again.js', cachedData: made });
  expect(again.cachedDataRejected).toBe(false);
  const after = again.createCachedData();
  expect(new Script(source, { filename: 'heap-base-after.js', cachedData: after }).cachedDataRejected).toBe(false);
});
