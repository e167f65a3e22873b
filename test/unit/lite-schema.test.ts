import { describe, expect, it } from 'vitest';
import { entrySchema } from '../../src/cache/store.js';
import { parseState } from '../../src/hook/state.js';
import { integer, literal, object, optional, record, string } from '../../src/schema/lite.js';

describe('the lite schema (the hook’s hot-path inputs)', () => {
  const s = object(
    { id: string({ min: 1 }), n: optional(integer({ min: 0 })), kind: literal('a', 'b'), tags: optional(record(string())) },
    { strict: true },
  );

  it('accepts what fits and drops nothing it knows', () => {
    expect(s.parse({ id: 'x', kind: 'a', tags: { k: 'v' } })).toEqual({ ok: true, value: { id: 'x', kind: 'a', tags: { k: 'v' } } });
  });

  it.each([
    [null, '(root)', 'expected an object'],
    [{ id: '', kind: 'a' }, 'id', 'shorter than 1'],
    [{ id: 'x', kind: 'c' }, 'kind', 'expected "a" or "b"'],
    [{ id: 'x', kind: 'a', n: -1 }, 'n', 'less than 0'],
    [{ id: 'x', kind: 'a', n: 1.5 }, 'n', 'expected an integer'],
    [{ id: 'x', kind: 'a', tags: { k: 1 } }, 'tags.k', 'expected a string'],
    [{ id: 'x', kind: 'a', extra: 1 }, '(root)', 'unknown field "extra"'],
  ])('refuses %j at %s', (value, path, message) => {
    expect(s.parse(value)).toEqual({ ok: false, path, message });
  });

  it('the OCI state: tolerant of what runtimes add, strict on what it uses', () => {
    const st = parseState(
      JSON.stringify({ ociVersion: '1.0.2', id: 'c', status: 'created', pid: 7, bundle: '/b', root: '/run/crun', annotations: { a: 'b' } }),
    );
    expect(st).toEqual({ ociVersion: '1.0.2', id: 'c', status: 'created', pid: 7, bundle: '/b', annotations: { a: 'b' } });
    expect(() => parseState(JSON.stringify({ ociVersion: '1', id: 'c', status: 's', bundle: '/b', pid: 'x' }))).toThrow(
      /invalid: pid: expected an integer/,
    );
    expect(() => parseState(JSON.stringify({ ociVersion: '1', id: 'c', status: 's', bundle: '/b', annotations: { a: 1 } }))).toThrow(
      /invalid: annotations\.a: expected a string/,
    );
  });

  it('a cached verdict: exactly its fields', () => {
    const e = { key: 'a'.repeat(64), decision: 'allow', code: 'ALLOWED', reason: '', image: 'i', digest: 'd', scope: '', verifiedAt: 1 };
    expect(entrySchema.parse(e).ok).toBe(true);
    expect(entrySchema.parse({ ...e, decision: 'maybe' }).ok).toBe(false);
    expect(entrySchema.parse({ ...e, key: 'xyz' }).ok).toBe(false);
    expect(entrySchema.parse({ ...e, sneaky: true }).ok).toBe(false);
  });
});
