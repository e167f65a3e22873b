/** Which requirements apply to an image: the most specific scope's, or the policy's default. */
import { type ImageReference, withDefaultTag } from '../reference/reference.js';
import type { Policy, Requirement } from './types.js';
import { matchScope } from './scopes.js';

export function selectRequirements(policy: Policy, ref: ImageReference): { scope: string; requirements: Requirement[] } {
  // as containers/image: a bare name means :latest before a scope is picked
  const hit = matchScope(policy.scopes, withDefaultTag(ref));
  if (hit) return { scope: hit.scope, requirements: hit.value };
  return { scope: '', requirements: [policy.default === 'accept' ? { type: 'insecureAcceptAnything' } : { type: 'reject' }] };
}
