/**
 * A sigstoreAttested requirement (sigguard's own, after `cosign verify-attestation`): an in-toto
 * attestation of one predicate type, signed as the trust fields say (the same fields and checks
 * as sigstoreSigned), whose statement names the image's digest, and whose predicate satisfies an
 * optional CEL condition. No signedIdentity: an attestation's subject names are not checked, as
 * with cosign. The condition is type-checked where the policy is validated (condition.ts);
 * nothing here loads the CEL library.
 */
import { formatPath } from '../document/path.js';
import type { TrustedKey } from './keys.js';
import type { PolicyInput, RequirementInput } from './schema.js';
import { type TrustContext, compileTrust } from './trust.js';
import type { SigstoreAttestedRequirement } from './types.js';

type AttestedInput = Extract<RequirementInput, { type: 'sigstoreAttested' }>;

/** An attestation's size cap when the requirement sets none (schema.ts allows up to 32 MiB; the verification's byte budget is 48 MiB). */
export const ATTESTATION_DEFAULT_BYTES = 16 * 1024 * 1024;

export function attestedRequirement(req: AttestedInput, keys: TrustedKey[], ctx: TrustContext): SigstoreAttestedRequirement {
  return {
    type: 'sigstoreAttested',
    keys,
    trust: compileTrust(req, keys, ctx),
    predicateType: req.predicateType,
    condition: req.condition,
    maxBytes: req.maxBytes ?? ATTESTATION_DEFAULT_BYTES,
    signatureFormats: req.signatureFormats ?? ['legacy', 'bundle'],
  };
}

/** Every condition of a policy document, with its path (`scopes."x"[1].condition`). */
export function conditionsOf(input: PolicyInput): Array<{ path: string; source: string }> {
  const found: Array<{ path: string; source: string }> = [];
  for (const [scope, reqs] of Object.entries(input.scopes)) {
    reqs.forEach((r, i) => {
      if (r.type === 'sigstoreAttested' && r.condition !== undefined)
        found.push({ path: `${formatPath(['scopes', scope, i])}.condition`, source: r.condition });
    });
  }
  return found;
}
