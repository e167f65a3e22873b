/**
 * Review of bcc0a6a (src/registry/budget.ts): a collection sets --expose-gc and, once it has taken
 * `gc` from a new context, --no-expose-gc again. The `gc` taken stays callable with the flag off,
 * so keepHeapDown's later collections (after the agent's settleHeapBase) still free what a
 * registry's garbage left: the memory bound between signatures holds in the agent as in the hook.
 */
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { Budget, keepHeapDown, settleHeapBase } from '../../src/registry/budget.js';

const MiB = 1024 * 1024;

it('after settleHeapBase put --expose-gc back off, keepHeapDown past the ceiling still collects', async () => {
  settleHeapBase();
  // the flag is off again: a context made now has no gc (the one taken before is kept)
  expect(vm.runInNewContext('typeof gc')).toBe('undefined');
  const base = process.memoryUsage().heapUsed;
  // garbage past the ceiling (40 MiB, or what the settle left plus 20 MiB), as many small JSON objects make
  let garbage: { i: number; s: string }[] | undefined = [];
  for (let i = 0; process.memoryUsage().heapUsed < base + 64 * MiB; i++) {
    for (let j = 0; j < 10_000; j++) garbage.push({ i, s: `signature ${i}.${j}` });
  }
  const ref = new WeakRef(garbage[garbage.length - 1] as object);
  // a WeakRef's target is kept to the end of the job that made it
  await new Promise((r) => setImmediate(r));
  garbage = undefined;
  const before = process.memoryUsage().heapUsed;
  keepHeapDown(Budget.unbounded());
  const after = process.memoryUsage().heapUsed;
  expect(ref.deref()).toBeUndefined();
  expect(before - after).toBeGreaterThan(32 * MiB);
  // and it can go on doing so
  expect(() => keepHeapDown(Budget.unbounded())).not.toThrow();
});
