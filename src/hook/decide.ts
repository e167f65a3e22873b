/**
 * The hook's decision before any registry work: is this container one the
 * policy verifies at all (sandbox, exempt namespace, non-Kubernetes)? Pure:
 * no I/O, so every branch is unit-testable.
 */
import { ReasonCode } from '../errors.js';
import type { Policy } from '../policy/types.js';
import type { ContainerContext } from './annotations.js';

export type Triage =
  | { action: 'allow'; code: ReasonCode; reason: string }
  | { action: 'deny'; code: ReasonCode; reason: string }
  | { action: 'verify'; image: string };

export function triage(ctx: ContainerContext, policy: Policy): Triage {
  if (ctx.runtime === 'none') {
    if (policy.nonKubernetes === 'allow') {
      return {
        action: 'allow',
        code: ReasonCode.NON_KUBERNETES_ALLOWED,
        reason: 'container without Kubernetes annotations (nonKubernetes: allow)',
      };
    }
    if (policy.nonKubernetes === 'deny') {
      return {
        action: 'deny',
        code: ReasonCode.NON_KUBERNETES_DENIED,
        reason: 'container without Kubernetes annotations (nonKubernetes: deny)',
      };
    }
    return {
      action: 'deny',
      code: ReasonCode.MISSING_IMAGE,
      reason: 'container without Kubernetes annotations names no image to verify (nonKubernetes: verify)',
    };
  }
  if (ctx.sandbox) return { action: 'allow', code: ReasonCode.SANDBOX_CONTAINER, reason: 'pod sandbox container' };
  if (ctx.namespace !== undefined && policy.exemptNamespaces.includes(ctx.namespace)) {
    return { action: 'allow', code: ReasonCode.EXEMPT_NAMESPACE, reason: `namespace ${ctx.namespace} is exempt` };
  }
  if (ctx.image === undefined || ctx.image === '') {
    return { action: 'deny', code: ReasonCode.MISSING_IMAGE, reason: `the ${ctx.runtime} annotations name no image` };
  }
  return { action: 'verify', image: ctx.image };
}
