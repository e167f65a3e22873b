/**
 * signedIdentity: does the `docker-reference` a signature names fit the image
 * the container was asked for? Semantics of containers-policy.json(5)
 * (containers/image's policy_reference_match.go), written from the man page.
 */
import { type ImageReference, formatReference, parseReference, repositoryName } from '../reference/reference.js';
import type { SignedIdentity } from './schema.js';

function tryParse(text: string): ImageReference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

const isNameOnly = (ref: ImageReference): boolean => ref.tag === undefined && ref.digest === undefined;

/** Tagged (possibly also digested) references compare in full; digest-only ones by repository. */
function repoDigestOrExact(intended: ImageReference, signed: ImageReference): boolean {
  if (isNameOnly(signed)) return false;
  if (intended.tag !== undefined) return formatReference(signed) === formatReference(intended);
  if (intended.digest !== undefined) return repositoryName(signed) === repositoryName(intended);
  return false;
}

function exact(intended: ImageReference, signed: ImageReference): boolean {
  if (isNameOnly(intended) || isNameOnly(signed)) return false;
  return formatReference(signed) === formatReference(intended);
}

/** containers/image's prefix rule: the whole name, or the prefix followed by "/". */
function remap(ref: ImageReference, prefix: string, signedPrefix: string): ImageReference | undefined {
  const name = repositoryName(ref);
  let rest: string;
  if (name === prefix) rest = '';
  else if (name.startsWith(prefix) && name[prefix.length] === '/') rest = name.slice(prefix.length);
  else return ref;
  let text = signedPrefix + rest;
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return tryParse(text);
}

/**
 * True when a signature naming `signedReference` satisfies `identity` for an
 * image requested as `intended`. The default is matchRepoDigestOrExact.
 */
export function identityMatches(identity: SignedIdentity | undefined, intended: ImageReference, signedReference: string): boolean {
  const signed = tryParse(signedReference);
  if (signed === undefined) return false;
  const rule = identity ?? { type: 'matchRepoDigestOrExact' as const };
  switch (rule.type) {
    case 'matchExact':
      return exact(intended, signed);
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(intended, signed);
    case 'matchRepository':
      return repositoryName(signed) === repositoryName(intended);
    case 'exactReference': {
      const wanted = tryParse(rule.dockerReference);
      return wanted !== undefined && exact(wanted, signed);
    }
    case 'exactRepository': {
      const wanted = tryParse(rule.dockerRepository);
      return wanted !== undefined && repositoryName(signed) === repositoryName(wanted);
    }
    case 'remapIdentity': {
      const remapped = remap(intended, rule.prefix, rule.signedPrefix);
      return remapped !== undefined && repoDigestOrExact(remapped, signed);
    }
  }
}

/** A short description of what a rule wants, for reasons. */
export function describeIdentity(identity: SignedIdentity | undefined, intended: ImageReference): string {
  const rule = identity ?? { type: 'matchRepoDigestOrExact' as const };
  switch (rule.type) {
    case 'matchRepository':
      return `repository ${repositoryName(intended)}`;
    case 'exactRepository':
      return `repository ${rule.dockerRepository}`;
    case 'exactReference':
      return `reference ${rule.dockerReference}`;
    case 'remapIdentity':
      return `${formatReference(intended)} remapped from ${rule.prefix} to ${rule.signedPrefix}`;
    default:
      return intended.tag !== undefined
        ? `reference ${formatReference(intended)}`
        : `repository ${repositoryName(intended)} with a tag or digest`;
  }
}
