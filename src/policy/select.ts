/** Which requirements apply to an image: the most specific scope's, or the policy's default. */
import type { ImageReference } from '../reference/reference.js';
import type { Policy, Requirement } from './load.js';
import { matchScope } from './scopes.js';

export function selectRequirements(policy: Policy, ref: ImageReference): { scope: string; requirements: Requirement[] } {
  const hit = matchScope(policy.scopes, ref);
  if (hit) return { scope: hit.scope, requirements: hit.value };
  return { scope: '', requirements: [policy.default === 'accept' ? { type: 'insecureAcceptAnything' } : { type: 'reject' }] };
}
