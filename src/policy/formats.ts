/**
 * Which signature formats a sigstoreSigned requirement accepts. A cosign 3 bundle's statement
 * names only the digest, no repository, so signedIdentity can only be checked on legacy
 * signatures (their `docker-reference`). exactRepository, exactReference and remapIdentity name
 * a repository other than the image's own — the promotion pattern (signed in dev, run from
 * prod), where the identity is the point: a bundle copied from another repository along with
 * its image would pass them unseen. So under these three a bundle counts only where the policy
 * lists `bundle` explicitly, and `policy validate` warns where it does.
 */
import type { SignatureFormat, SignedIdentity } from './schema.js';

const REPOSITORY_NAMING: ReadonlySet<string> = new Set(['exactRepository', 'exactReference', 'remapIdentity']);

/** Does this identity rule name another repository than the image's own? */
export const namesOtherRepository = (identity: SignedIdentity | undefined): boolean =>
  identity !== undefined && REPOSITORY_NAMING.has(identity.type);

/** The formats a requirement accepts when it lists none. */
export function defaultSignatureFormats(identity: SignedIdentity | undefined): SignatureFormat[] {
  return namesOtherRepository(identity) ? ['legacy'] : ['legacy', 'bundle'];
}

/** The warning for a requirement that accepts bundles under a rule they cannot show, or undefined. */
export function bundleIdentityWarning(
  identity: SignedIdentity | undefined,
  formats: readonly SignatureFormat[] | undefined,
): string | undefined {
  if (!namesOtherRepository(identity) || !formats?.includes('bundle')) return undefined;
  return `signedIdentity ${identity!.type} is checked on legacy signatures only: a cosign 3 bundle names no repository, so a bundle copied with its image from another repository (same key) is accepted here; remove bundle to bind the repository`;
}
