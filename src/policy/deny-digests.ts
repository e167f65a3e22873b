/**
 * denyDigests: revoked content. Scopes follow containers/image (the image is judged by the name
 * the pod uses), so a digest scope `repo@sha256:D: [reject]` applies only to images named by
 * that digest: a tag, or an index, that resolves to D is judged by the repository's scope. The
 * top-level list applies to every digest a decision involves — the one the pod or the node
 * names, the index, the platform manifest inside it — whatever the name and the scope, and
 * before any cached verdict (a cached or stale allow never outlives a revocation).
 */
import { ReasonCode, SigguardError } from '../errors.js';

/** The first of `digests` the list holds (compared in lower case, as the list is written). */
export function deniedDigest(denied: ReadonlySet<string>, digests: ReadonlyArray<string | undefined>): string | undefined {
  if (denied.size === 0) return undefined;
  return digests.find((d) => d !== undefined && denied.has(d.toLowerCase()));
}

export function denialReason(digest: string): string {
  return `${digest} is revoked (the policy's denyDigests lists it)`;
}

/** Throws DIGEST_DENIED when one of `digests` is denied. */
export function refuseDenied(denied: ReadonlySet<string>, digests: ReadonlyArray<string | undefined>): void {
  const d = deniedDigest(denied, digests);
  if (d !== undefined) throw new SigguardError(ReasonCode.DIGEST_DENIED, denialReason(d));
}

/** `policy validate`'s warning for a digest scope (none when its digest is denied anyway). */
export function digestScopeWarning(scope: string, denyDigests: readonly string[]): string | undefined {
  const at = scope.lastIndexOf('@');
  if (at < 0) return undefined;
  const digest = scope.slice(at + 1);
  if (denyDigests.includes(digest)) return undefined;
  return `a digest scope matches only images named by that digest (${scope.slice(0, at)}@${digest.slice(0, 15)}…): a tag or an index that resolves to it is judged by the repository's scope; to refuse this content whatever the name, list ${digest} in denyDigests`;
}
