/** What a sigstoreSigned requirement's report names: its keys, where trust comes from, its identity rule and formats. */
import type { SigstoreSignedRequirement } from '../../policy/types.js';

export function sigstoreReportHeader(req: SigstoreSignedRequirement) {
  return {
    type: 'sigstoreSigned',
    ...(req.trust.kind === 'keys' ? { keys: req.keys.map((k) => `${k.label} (${k.id})`) } : {}),
    ...(req.trust.kind !== 'keys' || req.trust.rekor !== undefined ? { trust: req.trust.label } : {}),
    signedIdentity: req.signedIdentity?.type ?? 'matchRepoDigestOrExact',
    signatureFormats: req.signatureFormats,
  };
}
