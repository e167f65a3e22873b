/**
 * The part of a decision the policy makes alone: which scope applies, and whether it
 * rejects or accepts without verification. No registry, no sigstore code: the hook
 * decides such containers without loading either.
 */
import { ReasonCode } from '../errors.js';
import type { Policy, Requirement } from '../policy/types.js';
import { selectRequirements } from '../policy/select.js';
import { type ImageReference, formatReference, withDefaultTag } from '../reference/reference.js';
import { describeRequirement } from './requirements/index.js';
import type { RequirementReport, Verdict } from './types.js';

export interface ScopeDecision {
  image: string;
  scope: string;
  requirements: Requirement[];
  reports: RequirementReport[];
  /** Set when the scope alone decides (reject, or accept without verification). */
  verdict?: Verdict;
}

/** `ref` is what will be fetched, `intended` what the pod named (scope and identity are judged on it). */
export function scopeVerdict(ref: ImageReference, intended: ImageReference, policy: Policy): ScopeDecision {
  const image = formatReference(withDefaultTag(intended));
  const { scope, requirements } = selectRequirements(policy, intended);
  const reports = requirements.map(describeRequirement);
  const scopeName = scope === '' ? 'the policy default' : `scope "${scope}"`;
  const base = { image, scope, digest: ref.digest, requirements: reports, signatures: [], registryRequests: 0 };
  if (requirements.some((r) => r.type === 'reject')) {
    return {
      image,
      scope,
      requirements,
      reports,
      verdict: { ...base, decision: 'deny', code: ReasonCode.POLICY_REJECT, reason: `rejected by ${scopeName}` },
    };
  }
  if (!requirements.some((r) => r.type === 'sigstoreSigned' || r.type === 'sigstoreAttested')) {
    return {
      image,
      scope,
      requirements,
      reports,
      verdict: { ...base, decision: 'allow', code: ReasonCode.POLICY_ACCEPT, reason: `accepted without verification by ${scopeName}` },
    };
  }
  return { image, scope, requirements, reports };
}
