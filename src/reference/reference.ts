/**
 * Image references, parsed and normalised the way the container tools do
 * (the grammar of distribution/reference): `busybox` is
 * `docker.io/library/busybox:latest`, `index.docker.io` is `docker.io`.
 */
import { ReasonCode, SigguardError } from '../errors.js';

export const DOCKER_HUB = 'docker.io';
const LEGACY_HUB_NAMES = new Set(['index.docker.io', 'registry-1.docker.io']);

/** A normalised reference. `registry` keeps its port; `repository` has no host. */
export interface ImageReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

function invalid(input: string, why: string): SigguardError {
  return new SigguardError(ReasonCode.INVALID_REFERENCE, `invalid image reference "${input}": ${why}`);
}

/**
 * A port as one number only: 1–65535 without leading zeros. `host:05001` reaches the same
 * registry as `host:5001` but would not match a scope written `host:5001`.
 */
function isValidPort(port: string): boolean {
  return /^[1-9][0-9]{0,4}$/.test(port) && Number(port) <= 65535;
}

/** `host:443` is `host`: the same https registry, so it must pick the same scope. */
export function withoutDefaultPort(registry: string): string {
  return registry.endsWith(':443') ? registry.slice(0, -':443'.length) : registry;
}

function isValidDomain(domain: string): boolean {
  let host = domain;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return false;
    const rest = host.slice(end + 1);
    if (rest !== '' && !(rest.startsWith(':') && isValidPort(rest.slice(1)))) return false;
    return /^[0-9a-fA-F:.]+$/.test(host.slice(1, end));
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
    if (!isValidPort(port)) return false;
  }
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** True when the first path element names a registry host rather than a Docker Hub namespace. */
function looksLikeDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/** Validates a digest string (`algo:hex`); sha256 must be 64 lowercase hex characters. */
export function isValidDigest(digest: string): boolean {
  if (!DIGEST.test(digest)) return false;
  if (digest.startsWith('sha256:')) return SHA256_DIGEST.test(digest);
  return true;
}

/** Parses and normalises an image reference; throws INVALID_REFERENCE with the reason. */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, 'empty');
  if (/\s/.test(input)) throw invalid(input, 'contains white space');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) throw invalid(input, `malformed digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(input, `malformed tag "${tag}"`);
  }
  if (rest.length === 0) throw invalid(input, 'no repository name');
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeDomain(parts[0]!)) {
    registry = parts.shift()!;
    if (!isValidDomain(registry)) throw invalid(input, `malformed registry host "${registry}"`);
    registry = withoutDefaultPort(registry.toLowerCase());
  }
  if (LEGACY_HUB_NAMES.has(registry)) registry = DOCKER_HUB;
  for (const part of parts) {
    if (part !== part.toLowerCase()) throw invalid(input, 'repository name must be lowercase');
    if (!PATH_COMPONENT.test(part)) throw invalid(input, `malformed repository path component "${part}"`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw invalid(input, `repository name longer than ${MAX_NAME_LENGTH} characters`);
  }
  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository`, the repository's full name. */
export function repositoryName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full normalised string: name, then `:tag`, then `@digest` where present. */
export function formatReference(ref: ImageReference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** A reference with neither tag nor digest means `:latest`, as every container tool reads it. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: 'latest' };
  return ref;
}

/** The reference pinned to a digest (the tag is kept for display and identity checks). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return { ...ref, digest };
}
