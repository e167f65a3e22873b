/**
 * Shared settings and mutators of the fuzz suite (test/fuzz/*.test.ts).
 *
 * - FUZZ_RUNS: generated inputs per property and weight unit (default 100: the fixed-seed run
 *   inside `make test`); `make fuzz` raises it so that ≥ 100,000 inputs run in total.
 * - FUZZ_SEED: the seed (fixed by default, so a failure in `make test` reproduces).
 * - FUZZ_COUNT_FILE: where each property appends `name<TAB>count` (make fuzz sums them).
 *
 * No hang: every assert has interruptAfterTimeLimit with markInterruptAsFailure (a property
 * that cannot finish its runs in time fails), async properties a per-run timeout, and every run
 * a CPU budget (RUN_BUDGET_MS) that a super-linear input would blow. The budget is this
 * process's CPU time (process.cpuUsage), not wall time: other work on a loaded machine does not
 * spend it, a super-linear input does.
 *
 * Mutation arbitraries start from valid seeds (a real manifest, payload, policy...): most
 * mutants stay close to what the code accepts, so they reach past the first parse.
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll } from 'vitest';

export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 100));
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261129);
/** A single generated input may take this much of this process's CPU time (ms) at most. */
export const RUN_BUDGET_MS = Number(process.env.FUZZ_RUN_BUDGET_MS ?? 3000);
/** A whole property may take this long; past it fast-check stops and the property fails. */
export const PROPERTY_LIMIT_MS = Number(process.env.FUZZ_PROPERTY_LIMIT_MS ?? 50_000);
/** vitest's own timeout for one property's test, above the property's limit. */
export const TEST_TIMEOUT_MS = PROPERTY_LIMIT_MS + 30_000;

const counts = new Map<string, number>();
afterAll(() => {
  const file = process.env.FUZZ_COUNT_FILE;
  if (file === undefined || counts.size === 0) return;
  appendFileSync(file, [...counts].map(([n, c]) => `${n}\t${c}\n`).join(''));
});

/** fast-check parameters for a property with `weight` × FUZZ_RUNS runs. */
export function params(weight = 1): fc.Parameters<unknown> {
  return {
    seed: FUZZ_SEED,
    numRuns: Math.max(1, Math.round(FUZZ_RUNS * weight)),
    interruptAfterTimeLimit: PROPERTY_LIMIT_MS,
    markInterruptAsFailure: true,
    endOnFailure: true,
    // per-run timeout of asynchronous properties
    timeout: RUN_BUDGET_MS * 3,
  };
}

/** CPU time (user and system) this process has spent, in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function overBudget(name: string, start: number): void {
  const ms = cpuMs() - start;
  if (ms > RUN_BUDGET_MS) throw new Error(`${name}: one input took ${Math.round(ms)} ms of CPU, above the ${RUN_BUDGET_MS} ms budget`);
}

/** A synchronous predicate, counted, with its per-run budget. */
export function counted<A extends unknown[]>(name: string, body: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const start = cpuMs();
    body(...args);
    overBudget(name, start);
  };
}

/** An asynchronous predicate, counted, with its per-run budget (fast-check's timeout() bounds it too). */
export function countedAsync<A extends unknown[]>(name: string, body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const start = cpuMs();
    await body(...args);
    overBudget(name, start);
  };
}

/** Runs `fn`; returns what it threw (undefined when it returned). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err ?? new Error('threw a nullish value');
  }
}

export async function thrownAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err ?? new Error('threw a nullish value');
  }
}

/** Fails with the unexpected error itself (its stack shows where it came from). */
export function expectOnly(err: unknown, ok: (e: unknown) => boolean, what: string): void {
  if (err === undefined || ok(err)) return;
  const e = err instanceof Error ? err : new Error(String(err));
  e.message = `expected only ${what}, got ${e.constructor?.name ?? typeof err}: ${e.message}`;
  throw e;
}

// ------------------------------------------------------------------ byte and text mutants

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x0a, 0x40, 0x2f];

type ByteOp =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'dup'; at: number; len: number; to: number }
  | { k: 'truncate'; at: number };

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat({ max: 255 })) }),
  fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ k: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }), to: fc.nat() }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
);

export function applyByteOps(seed: Uint8Array, ops: ByteOp[]): Buffer {
  let b = Buffer.from(seed);
  for (const op of ops) {
    const n = b.length;
    const at = n === 0 ? 0 : op.at % (n + 1);
    switch (op.k) {
      case 'flip':
        if (n > 0) b[op.at % n]! ^= 1 << op.bit;
        break;
      case 'set':
        if (n > 0) b[op.at % n] = op.v;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), op.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + op.len)]);
        break;
      case 'dup': {
        const part = b.subarray(at, at + op.len);
        const to = n === 0 ? 0 : op.to % (n + 1);
        b = Buffer.concat([b.subarray(0, to), part, b.subarray(to)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return Buffer.from(b);
}

/** Bytes near `seeds`: one to five byte-level edits of one of them. */
export function bytesNear(...seeds: Uint8Array[]): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(byteOp, { minLength: 1, maxLength: 5 })).map(([s, ops]) => applyByteOps(s, ops));
}

/** Text near `seeds` (byte edits of the UTF-8, read back as UTF-8), or random text now and then. */
export function textNear(...seeds: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: bytesNear(...seeds.map((s) => Buffer.from(s))).map((b) => b.toString('utf8')) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
  );
}

// ------------------------------------------------------------------ JSON mutants

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

function paths(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      paths(v, [...prefix, i], out);
    });
  } else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function getAt(value: Json, path: Path): Json {
  let v: Json = value;
  for (const p of path) v = (v as Record<string | number, Json>)[p]!;
  return v;
}

/** Strings that tend to sit on a boundary of what the code accepts. */
const EDGY_STRINGS = [
  '',
  ' ',
  'sha256:',
  'sha256:' + 'a'.repeat(64),
  'SHA256:' + 'A'.repeat(64),
  'sha512:' + 'b'.repeat(128),
  'sha256:' + 'a'.repeat(63),
  '../../etc/passwd',
  '/dev/zero',
  'a\u0000b',
  '\u001b[31mred',
  '\ud800',
  'x'.repeat(5000),
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'cosign container image signature',
  'https://sigstore.dev/cosign/sign/v1',
  'https://in-toto.io/Statement/v1',
  '__proto__',
  'constructor',
  'localhost:5001/app',
  'docker.io/library/busybox',
  '*.example.com',
  'linux',
  'amd64',
  'arm64',
  'x86_64',
];
const EDGY_NUMBERS = [0, -1, 1, 2, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), Number.MAX_VALUE, 1e308, 65, 129, 1025];

export const edgyJson: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Json>(...EDGY_STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom<Json>(...EDGY_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, false, [], {}) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

type JsonOp =
  | { k: 'replace'; p: number; v: Json }
  | { k: 'delete'; p: number }
  | { k: 'add'; p: number; key: string; v: Json }
  | { k: 'wrap'; p: number }
  | { k: 'dupItem'; p: number; n: number }
  | { k: 'swap'; p: number; q: number }
  | { k: 'string'; p: number; ops: ByteOp[] };

const jsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('replace' as const), p: fc.nat(), v: edgyJson }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), p: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      p: fc.nat(),
      key: fc.oneof(fc.constantFrom(...EDGY_STRINGS), fc.string({ maxLength: 12 })),
      v: edgyJson,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('wrap' as const), p: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dupItem' as const), p: fc.nat(), n: fc.integer({ min: 1, max: 140 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('swap' as const), p: fc.nat(), q: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('string' as const), p: fc.nat(), ops: fc.array(byteOp, { minLength: 1, maxLength: 3 }) }),
  },
);

function setAt(root: { v: Json }, path: Path, value: Json | undefined): void {
  if (path.length === 0) {
    root.v = value ?? null;
    return;
  }
  const parent = getAt(root.v, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete (parent as Record<string, Json>)[last];
  } else (parent as Record<string | number, Json>)[last] = value;
}

export function applyJsonOps(seed: Json, ops: JsonOp[]): Json {
  const root = { v: structuredClone(seed) };
  for (const op of ops) {
    const all = paths(root.v);
    const path = all[op.p % all.length]!;
    const here = getAt(root.v, path);
    switch (op.k) {
      case 'replace':
        setAt(root, path, structuredClone(op.v));
        break;
      case 'delete':
        if (path.length > 0) setAt(root, path, undefined);
        break;
      case 'add':
        if (here !== null && typeof here === 'object' && !Array.isArray(here)) {
          Object.defineProperty(here, op.key, { value: structuredClone(op.v), enumerable: true, configurable: true, writable: true });
        } else if (Array.isArray(here)) here.push(structuredClone(op.v));
        break;
      case 'wrap':
        setAt(root, path, [here]);
        break;
      case 'dupItem':
        if (Array.isArray(here) && here.length > 0) for (let i = 0; i < op.n; i++) here.push(structuredClone(here[i % here.length]!));
        break;
      case 'swap': {
        const other = all[op.q % all.length]!;
        const a = getAt(root.v, other);
        if (
          path.length > 0 &&
          !other.slice(0, path.length).every((p, i) => p === path[i]) &&
          !path.slice(0, other.length).every((p, i) => p === other[i])
        ) {
          setAt(root, path, structuredClone(a));
        }
        break;
      }
      case 'string':
        if (typeof here === 'string') setAt(root, path, applyByteOps(Buffer.from(here), op.ops).toString('utf8'));
        break;
    }
  }
  return root.v;
}

/** JSON values near `seeds`: one to four structural edits of one of them. */
export function jsonNear(...seeds: unknown[]): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.constantFrom(...(seeds as Json[])), fc.array(jsonOp, { minLength: 1, maxLength: 4 }))
    .map(([s, ops]) => applyJsonOps(s, ops));
}

/** JSON text near `seeds`: structural edits, byte edits of the serialised text, or both. */
export function jsonTextNear(...seeds: unknown[]): fc.Arbitrary<string> {
  const texts = seeds.map((s) => JSON.stringify(s));
  return fc.oneof(
    { weight: 4, arbitrary: jsonNear(...seeds).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 3, arbitrary: textNear(...texts) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
}
