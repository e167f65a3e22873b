/**
 * Which trusted roots a scope's requirements verify against (keyless, and Rekor from a trusted
 * root), in one line: what the decision log's `trustRoot` names (README "The decision log").
 */
import type { Policy, Requirement, TrustedRootFile } from './types.js';

/** The trusted root a requirement verifies against, if it uses one. */
export function requirementRoot(req: Requirement): TrustedRootFile | undefined {
  if (!('trust' in req)) return undefined;
  const rule = req.trust;
  if (rule.kind === 'keyless') return rule.root;
  if (rule.kind !== 'pki' && rule.rekor?.kind === 'trustedRoot') return rule.rekor.root;
  return undefined;
}

/** The distinct roots of the scope's requirements (`public-good (TUF targets v20 from URL, fetched T)`), or undefined. */
export function scopeTrustRoots(policy: Policy | undefined, scope: string | undefined): string | undefined {
  if (policy === undefined || scope === undefined) return undefined;
  const reqs = policy.scopes.get(scope) ?? [];
  const labels = [...new Set(reqs.map(requirementRoot).flatMap((r) => (r ? [r.label] : [])))];
  return labels.length > 0 ? labels.join('; ') : undefined;
}
