/**
 * Scope keys and their precedence, as containers-policy.json(5) defines them for
 * the `docker` transport: the most specific scope wins, from the full reference
 * (with tag or digest) over the repository and its parent namespaces to the
 * host, then `*.domain` wildcards from the longest domain to the shortest.
 */
import { ReasonCode, SigguardError } from '../errors.js';
import { type ImageReference, formatReference, parseReference, repositoryName, withoutDefaultPort } from '../reference/reference.js';

const WILDCARD = /^\*\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
const HOST_PORT = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;

/** Returns why a scope key is invalid, or undefined when it is a valid docker scope. */
export function scopeProblem(scope: string): string | undefined {
  if (scope.startsWith('*.')) {
    return WILDCARD.test(scope) ? undefined : 'a wildcard scope is "*." followed by a domain, with no port or path';
  }
  if (!scope.includes('/')) {
    if (!HOST_PORT.test(scope)) return 'not a valid host[:port]';
    try {
      parseReference(`${scope}/x`);
    } catch {
      return 'not a valid host[:port]';
    }
    const registry = withoutDefaultPort(scope.toLowerCase());
    return registry === scope ? undefined : `not in normalised form (write "${registry}")`;
  }
  let ref: ImageReference;
  try {
    ref = parseReference(scope);
  } catch (err) {
    return (err as Error).message;
  }
  if (ref.tag !== undefined && ref.digest !== undefined) return 'a scope may name a tag or a digest, not both';
  // A Docker Hub namespace (docker.io/library, docker.io/openshift) is a valid scope as written:
  // it is a parent of repositories, not the short name of one.
  const hubNamespace =
    ref.tag === undefined &&
    ref.digest === undefined &&
    /^docker\.io\/[^/]+$/.test(scope) &&
    ref.repository === `library/${scope.slice('docker.io/'.length)}`;
  if (hubNamespace) return undefined;
  if (formatReference(ref) !== scope) {
    return `not in normalised form (write "${formatReference(ref)}")`;
  }
  return undefined;
}

/**
 * The scope keys that could match a reference, most specific first
 * (containers/image's PolicyConfigurationIdentity, then its namespaces).
 */
export function candidateScopes(ref: ImageReference): string[] {
  const out: string[] = [];
  if (ref.digest !== undefined) out.push(`${repositoryName(ref)}@${ref.digest}`);
  if (ref.tag !== undefined) out.push(`${repositoryName(ref)}:${ref.tag}`);
  let name = repositoryName(ref);
  for (;;) {
    out.push(name);
    const slash = name.lastIndexOf('/');
    if (slash < 0) break;
    name = name.slice(0, slash);
  }
  let host = ref.registry.replace(/:[0-9]+$/, '');
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.')) {
    host = host.slice(dot + 1);
    out.push(`*.${host}`);
  }
  return out;
}

/** The most specific scope of `scopes` that matches, or undefined (the policy's default applies). */
export function matchScope<T>(scopes: ReadonlyMap<string, T>, ref: ImageReference): { scope: string; value: T } | undefined {
  for (const candidate of candidateScopes(ref)) {
    const value = scopes.get(candidate);
    if (value !== undefined) return { scope: candidate, value };
  }
  return undefined;
}

export function assertValidScope(scope: string): void {
  const problem = scopeProblem(scope);
  if (problem !== undefined) throw new SigguardError(ReasonCode.POLICY_INVALID, `invalid scope "${scope}": ${problem}`);
}
