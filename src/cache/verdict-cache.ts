/**
 * The verdict cache's rules: allows live `ttl`, refusals only a short
 * back-off, and when the registry cannot be reached an allow younger than
 * `maxStale` still allows (stale-if-error; 0 turns it off).
 */
import { DEFAULT_PATHS } from '../defaults.js';
import { ReasonCode } from '../errors.js';
import type { CacheEntry } from './store.js';

export interface CacheSettings {
  dir: string;
  ttlMs: number;
  denyBackoffMs: number;
  maxStaleMs: number;
}

export const CACHE_DEFAULTS = {
  dir: DEFAULT_PATHS.cacheDir,
  ttlSeconds: 3600,
  denyBackoffSeconds: 30,
  maxStaleSeconds: 86_400,
};

/** Failures that say nothing about the image, only about reaching its registry. */
const OUTAGE_CODES = new Set<string>([ReasonCode.REGISTRY_UNREACHABLE, ReasonCode.REGISTRY_ERROR, ReasonCode.DEADLINE_EXCEEDED]);

export function isFresh(e: CacheEntry, now: number, s: CacheSettings): boolean {
  const age = now - e.verifiedAt;
  if (age < 0) return false;
  return e.decision === 'allow' ? age < s.ttlMs : age < s.denyBackoffMs;
}

export function staleAllowFor(e: CacheEntry | undefined, failureCode: string, now: number, s: CacheSettings): CacheEntry | undefined {
  if (e === undefined || e.decision !== 'allow' || s.maxStaleMs <= 0) return undefined;
  if (!OUTAGE_CODES.has(failureCode)) return undefined;
  const age = now - e.verifiedAt;
  return age >= 0 && age < s.maxStaleMs ? e : undefined;
}
