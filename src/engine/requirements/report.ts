/** What a sigstoreSigned requirement's report names: its keys, where trust comes from, its identity rule and formats. */
import type { SigstoreAttestedRequirement, SigstoreSignedRequirement } from '../../policy/types.js';

export function sigstoreReportHeader(req: SigstoreSignedRequirement) {
  return {
    type: 'sigstoreSigned',
    ...(req.trust.kind === 'keys' ? { keys: req.keys.map((k) => `${k.label} (${k.id})`) } : {}),
    ...(req.trust.kind !== 'keys' || req.trust.rekor !== undefined ? { trust: req.trust.label } : {}),
    signedIdentity: req.signedIdentity?.type ?? 'matchRepoDigestOrExact',
    signatureFormats: req.signatureFormats,
  };
}

/** What a sigstoreAttested requirement's report names: its predicate type, condition, keys or trust, and formats. */
export function attestedReportHeader(req: SigstoreAttestedRequirement) {
  return {
    type: 'sigstoreAttested',
    predicateType: req.predicateType,
    ...(req.condition !== undefined ? { condition: req.condition } : {}),
    ...(req.trust.kind === 'keys' ? { keys: req.keys.map((k) => `${k.label} (${k.id})`) } : {}),
    ...(req.trust.kind !== 'keys' || req.trust.rekor !== undefined ? { trust: req.trust.label } : {}),
    signatureFormats: req.signatureFormats,
  };
}
