import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson } from '../../src/cache/key.js';
import type { CacheEntry } from '../../src/cache/store.js';
import { isFresh, staleAllowFor } from '../../src/cache/verdict-cache.js';
import { parseReference } from '../../src/reference/reference.js';

const s = { dir: '/x', ttlMs: 3_600_000, denyBackoffMs: 30_000, maxStaleMs: 86_400_000 };
const entry = (decision: 'allow' | 'deny', ageMs: number, now: number): CacheEntry => ({
  key: 'a'.repeat(64),
  decision,
  code: decision === 'allow' ? 'ALLOWED' : 'NO_SIGNATURE',
  reason: '',
  image: 'x',
  digest: 'sha256:x',
  scope: 'x',
  verifiedAt: now - ageMs,
});

describe('cache rules', () => {
  const now = 1_800_000_000_000;
  it('allows live a TTL, refusals only the back-off, the future never', () => {
    expect(isFresh(entry('allow', 3_599_000, now), now, s)).toBe(true);
    expect(isFresh(entry('allow', 3_600_000, now), now, s)).toBe(false);
    expect(isFresh(entry('deny', 29_000, now), now, s)).toBe(true);
    expect(isFresh(entry('deny', 31_000, now), now, s)).toBe(false);
    expect(isFresh(entry('allow', -5_000, now), now, s)).toBe(false);
  });
  it('stale-if-error: only allows, only outages, only within maxStale, never when 0', () => {
    expect(staleAllowFor(entry('allow', 7_200_000, now), 'REGISTRY_UNREACHABLE', now, s)).toBeDefined();
    expect(staleAllowFor(entry('allow', 7_200_000, now), 'DEADLINE_EXCEEDED', now, s)).toBeDefined();
    expect(staleAllowFor(entry('allow', 7_200_000, now), 'UNTRUSTED_SIGNER', now, s)).toBeUndefined();
    expect(staleAllowFor(entry('allow', 7_200_000, now), 'IMAGE_NOT_FOUND', now, s)).toBeUndefined();
    expect(staleAllowFor(entry('deny', 1_000, now), 'REGISTRY_UNREACHABLE', now, s)).toBeUndefined();
    expect(staleAllowFor(entry('allow', 90_000_000, now), 'REGISTRY_UNREACHABLE', now, s)).toBeUndefined();
    expect(staleAllowFor(entry('allow', 7_200_000, now), 'REGISTRY_UNREACHABLE', now, { ...s, maxStaleMs: 0 })).toBeUndefined();
  });
  it('keys are canonical and change with what was asked', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    const ref = parseReference(`r.io/app@sha256:${'1'.repeat(64)}`);
    const plat = { os: 'linux', architecture: 'amd64' };
    const k = cacheKey(ref, ref.digest!, 'r.io', [{ type: 'insecureAcceptAnything' }], plat);
    expect(cacheKey(ref, ref.digest!, 'r.io', [{ type: 'insecureAcceptAnything' }], plat)).toBe(k);
    expect(cacheKey(parseReference(`r.io/other@${ref.digest}`), ref.digest!, 'r.io', [{ type: 'insecureAcceptAnything' }], plat)).not.toBe(
      k,
    );
    expect(cacheKey(ref, ref.digest!, 'r.io', [{ type: 'reject' }], plat)).not.toBe(k);
    expect(cacheKey(ref, ref.digest!, 'r.io', [{ type: 'insecureAcceptAnything' }], { ...plat, architecture: 'arm64' })).not.toBe(k);
  });
});
