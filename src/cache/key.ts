/**
 * What a cached verdict is keyed on: the image digest, the reference it was
 * asked for (signedIdentity depends on it), the platform, and a canonical
 * hash of the requirements that applied — which includes the fingerprint of
 * every trusted key and of all other trust material (trusted root JSON, CA
 * certificates, Rekor keys) with the identities a certificate must carry. A
 * policy, key or trust-material change is a miss by construction.
 */
import { sha256Hex } from '../hash.js';
import type { Requirement } from '../policy/types.js';
import { type ImageReference, formatReference } from '../reference/reference.js';
import type { Platform } from '../registry/platform.js';

/** 2: entries carry the platform digest (denyDigests applies to cached verdicts). */
export const CACHE_FORMAT = 3;

function canonicalRequirement(r: Requirement): unknown {
  if (r.type === 'sigstoreAttested')
    return {
      type: r.type,
      keys: r.keys.map((k) => k.fingerprint).sort(),
      trust: r.trust.canonical,
      predicateType: r.predicateType,
      condition: r.condition ?? null,
      maxBytes: r.maxBytes,
      signatureFormats: [...r.signatureFormats].sort(),
    };
  if (r.type !== 'sigstoreSigned') return { type: r.type };
  return {
    type: r.type,
    keys: r.keys.map((k) => k.fingerprint).sort(),
    trust: r.trust.canonical,
    signedIdentity: r.signedIdentity ?? null,
    signatureFormats: [...r.signatureFormats].sort(),
  };
}

/** JSON with sorted object keys, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requirementsHash(requirements: Requirement[]): string {
  return sha256Hex(canonicalJson(requirements.map(canonicalRequirement)));
}

export function cacheKey(ref: ImageReference, digest: string, scope: string, requirements: Requirement[], platform: Platform): string {
  const material = canonicalJson({
    v: CACHE_FORMAT,
    image: formatReference(ref),
    digest,
    scope,
    requirements: requirementsHash(requirements),
    platform,
  });
  return sha256Hex(material);
}
