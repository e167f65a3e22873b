/**
 * A read-only OCI distribution client: manifests, blobs and referrers, each
 * checked against the digest it was asked by, size-capped, under one deadline.
 * Auth: anonymous, Bearer token challenges and Basic.
 */
import { createHash } from 'node:crypto';
import { ReasonCode, SigguardError } from '../errors.js';
import { type ImageReference, repositoryName } from '../reference/reference.js';
import { parseChallenge } from './challenge.js';
import type { Credential, CredentialStore } from './credentials.js';
import { type Endpoint, type EndpointSettings, resolveEndpoints } from './hosts.js';
import { type HttpResponse, httpRequest } from './http.js';
import { ACCEPT_MANIFESTS, type Index, MediaType, indexSchema } from './oci-schema.js';

export const Limits = {
  manifestBytes: 4 * 1024 * 1024,
  signatureBlobBytes: 2 * 1024 * 1024,
  tokenBytes: 1024 * 1024,
  errorBytes: 64 * 1024,
  redirects: 5,
} as const;

export type Repository = Pick<ImageReference, 'registry' | 'repository'>;

export interface FetchedManifest {
  digest: string;
  mediaType: string | undefined;
  bytes: Buffer;
  json: unknown;
}

export interface RequestRecord {
  method: string;
  url: string;
  status: number;
}

export interface RegistryClientOptions {
  endpoints: EndpointSettings;
  credentials: CredentialStore;
  signal: AbortSignal;
  /** Called for every HTTP exchange (for --explain and tests). */
  onRequest?: (r: RequestRecord) => void;
}

/** sha256 or sha512 of bytes, in `algo:hex` form. */
export function digestOf(bytes: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

function checkDigest(bytes: Buffer, expected: string, what: string): void {
  const algo = expected.slice(0, expected.indexOf(':'));
  if (algo !== 'sha256' && algo !== 'sha512') {
    throw new SigguardError(ReasonCode.CONTENT_MISMATCH, `${what}: unsupported digest algorithm ${algo}`);
  }
  const actual = digestOf(bytes, algo);
  if (actual !== expected) {
    throw new SigguardError(ReasonCode.CONTENT_MISMATCH, `${what}: registry returned content with digest ${actual}, expected ${expected}`);
  }
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not JSON`);
  }
}

function registryMessage(res: HttpResponse): string {
  try {
    const json = JSON.parse(res.body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const e = json.errors?.[0];
    if (e) return `${e.code ?? ''} ${e.message ?? ''}`.trim();
  } catch {
    /* not JSON: status alone */
  }
  return '';
}

const header = (res: HttpResponse, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** An auth challenge (or an anonymous token that does not allow the pull) with no credentials configured for the host. */
const needsCredentials = (repo: Repository): SigguardError =>
  new SigguardError(ReasonCode.REGISTRY_ERROR, `registry ${repo.registry} requires authentication and no credentials are configured for it`);

export class RegistryClient {
  private readonly endpointCache = new Map<string, Endpoint[]>();
  private readonly authorization = new Map<string, string>();
  constructor(private readonly opts: RegistryClientOptions) {}

  get signal(): AbortSignal {
    return this.opts.signal;
  }

  private endpointsFor(registry: string, capability: 'pull' | 'resolve'): Endpoint[] {
    let all = this.endpointCache.get(registry);
    if (all === undefined) {
      all = resolveEndpoints(registry, this.opts.endpoints);
      this.endpointCache.set(registry, all);
    }
    const usable = all.filter((e) => e.capabilities.has(capability));
    if (usable.length === 0) {
      throw new SigguardError(ReasonCode.CONFIG_INVALID, `no endpoint of ${registry} has the "${capability}" capability in hosts.toml`);
    }
    return usable;
  }

  /** GET a path under the repository, trying each endpoint in order while they are unreachable. */
  private async get(
    repo: Repository,
    path: string,
    capability: 'pull' | 'resolve',
    headers: Record<string, string>,
    maxBytes: number,
  ): Promise<HttpResponse> {
    const endpoints = this.endpointsFor(repo.registry, capability);
    let lastError: SigguardError | undefined;
    let notFound: HttpResponse | undefined;
    for (const endpoint of endpoints) {
      const url = new URL(`${endpoint.origin}${endpoint.pathPrefix}/${repo.repository}/${path}`);
      if (endpoint.pathPrefix !== '/v2') url.searchParams.set('ns', repo.registry);
      try {
        const res = await this.getWithAuth(endpoint, repo, url, headers, maxBytes);
        // As containerd: a host (mirror) without the content sends us on to the next one.
        if (res.status !== 404) return res;
        notFound ??= res;
      } catch (err) {
        if (err instanceof SigguardError && err.code === ReasonCode.REGISTRY_UNREACHABLE) {
          lastError = err;
          continue;
        }
        throw err;
      }
    }
    if (notFound !== undefined) return notFound;
    throw lastError!;
  }

  private async send(url: URL, endpoint: Endpoint, headers: Record<string, string>, maxBytes: number): Promise<HttpResponse> {
    let current = url;
    let hdrs = headers;
    for (let hop = 0; ; hop++) {
      const res = await httpRequest(current, { headers: hdrs, maxBytes, signal: this.opts.signal, tls: endpoint.tls });
      this.opts.onRequest?.({ method: 'GET', url: current.toString(), status: res.status });
      const location = header(res, 'location');
      if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined) return res;
      if (hop >= Limits.redirects) throw new SigguardError(ReasonCode.REGISTRY_ERROR, `too many redirects from ${url.host}`);
      const next = new URL(location, current);
      if (next.origin !== current.origin) {
        const { authorization: _drop, ...rest } = hdrs;
        hdrs = rest;
      }
      current = next;
    }
  }

  private async getWithAuth(
    endpoint: Endpoint,
    repo: Repository,
    url: URL,
    headers: Record<string, string>,
    maxBytes: number,
  ): Promise<HttpResponse> {
    const authKey = `${endpoint.origin}|${repo.repository}`;
    const cached = this.authorization.get(authKey);
    const first = await this.send(url, endpoint, cached ? { ...headers, authorization: cached } : headers, maxBytes);
    if (first.status !== 401) return first;
    const challenge = parseChallenge(header(first, 'www-authenticate'));
    const cred = this.opts.credentials.get(endpoint.authHost);
    let auth: string | undefined;
    if (challenge?.scheme === 'bearer') {
      auth = await this.fetchToken(endpoint, repo, challenge.params, cred);
    } else if (challenge?.scheme === 'basic' && cred?.kind === 'basic') {
      auth = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    if (auth === undefined) {
      if (cred === undefined) throw needsCredentials(repo);
      throw new SigguardError(ReasonCode.REGISTRY_ERROR, `registry ${repo.registry} requires authentication`);
    }
    this.authorization.set(authKey, auth);
    const second = await this.send(url, endpoint, { ...headers, authorization: auth }, maxBytes);
    if (second.status === 401 || second.status === 403) {
      if (cred === undefined) throw needsCredentials(repo);
      throw new SigguardError(ReasonCode.REGISTRY_ERROR, `registry ${repo.registry} refused the credentials for ${repo.repository} (HTTP ${second.status})`);
    }
    return second;
  }

  private async fetchToken(
    endpoint: Endpoint,
    repo: Repository,
    params: Record<string, string>,
    cred: Credential | undefined,
  ): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${repo.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${repo.registry} sent an invalid token realm`);
    }
    const scope = params.scope ?? `repository:${repo.repository}:pull`;
    const headers: Record<string, string> = {};
    let res: HttpResponse;
    if (cred?.kind === 'identityToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: 'sigguard', scope });
      if (params.service) form.set('service', params.service);
      res = await httpRequest(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        maxBytes: Limits.tokenBytes,
        signal: this.opts.signal,
        tls: endpoint.tls,
      });
    } else {
      if (params.service) url.searchParams.set('service', params.service);
      url.searchParams.set('scope', scope);
      if (cred?.kind === 'basic') headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      res = await httpRequest(url, { headers, maxBytes: Limits.tokenBytes, signal: this.opts.signal, tls: endpoint.tls });
    }
    this.opts.onRequest?.({ method: cred?.kind === 'identityToken' ? 'POST' : 'GET', url: url.origin + url.pathname, status: res.status });
    if ((res.status === 401 || res.status === 403) && cred === undefined) throw needsCredentials(repo);
    if (res.status !== 200) {
      throw new SigguardError(ReasonCode.REGISTRY_ERROR, `token service ${url.host} answered HTTP ${res.status} for ${scope}`);
    }
    const json = parseJson(res.body, `token from ${url.host}`) as { token?: unknown; access_token?: unknown };
    const token = typeof json.token === 'string' ? json.token : typeof json.access_token === 'string' ? json.access_token : undefined;
    if (!token) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `token service ${url.host} returned no token`);
    return `Bearer ${token}`;
  }

  private failure(res: HttpResponse, what: string): SigguardError {
    const msg = registryMessage(res);
    return new SigguardError(ReasonCode.REGISTRY_ERROR, `${what}: registry answered HTTP ${res.status}${msg ? ` (${msg})` : ''}`);
  }

  /**
   * Fetches a manifest by tag or digest; undefined when the registry says it does not exist.
   * By digest, the content must hash to it; by tag, the digest is computed from the content.
   */
  async getManifest(repo: Repository, reference: string): Promise<FetchedManifest | undefined> {
    const byDigest = reference.includes(':');
    const what = `manifest ${repositoryName(repo)}${byDigest ? '@' : ':'}${reference}`;
    const res = await this.get(repo, `manifests/${reference}`, byDigest ? 'pull' : 'resolve', { accept: ACCEPT_MANIFESTS }, Limits.manifestBytes);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.failure(res, what);
    let digest: string;
    if (byDigest) {
      checkDigest(res.body, reference, what);
      digest = reference;
    } else {
      digest = digestOf(res.body);
      const claimed = header(res, 'docker-content-digest');
      if (claimed !== undefined && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new SigguardError(ReasonCode.CONTENT_MISMATCH, `${what}: registry claims digest ${claimed} for content with digest ${digest}`);
      }
    }
    const json = parseJson(res.body, what);
    const contentType = header(res, 'content-type')?.split(';')[0]?.trim();
    const declared = (json as { mediaType?: unknown }).mediaType;
    return { digest, mediaType: typeof declared === 'string' ? declared : contentType, bytes: res.body, json };
  }

  /** Fetches a blob; its bytes must hash to the digest. */
  async getBlob(repo: Repository, digest: string, maxBytes: number): Promise<Buffer> {
    const what = `blob ${repositoryName(repo)}@${digest}`;
    const res = await this.get(repo, `blobs/${digest}`, 'pull', {}, maxBytes);
    if (res.status !== 200) throw this.failure(res, what);
    checkDigest(res.body, digest, what);
    return res.body;
  }

  /**
   * The OCI 1.1 referrers API. Undefined when the registry does not implement
   * it (404 from a registry without the endpoint), so the caller falls back to
   * the referrers tag schema.
   */
  async getReferrers(repo: Repository, digest: string): Promise<Index | undefined> {
    const what = `referrers of ${repositoryName(repo)}@${digest}`;
    const res = await this.get(repo, `referrers/${digest}`, 'pull', { accept: MediaType.OCI_INDEX }, Limits.manifestBytes);
    if (res.status === 404 || res.status === 405 || res.status === 400) return undefined;
    if (res.status !== 200) throw this.failure(res, what);
    const contentType = header(res, 'content-type')?.split(';')[0]?.trim();
    if (contentType !== MediaType.OCI_INDEX) return undefined;
    const parsed = indexSchema.safeParse(parseJson(res.body, what));
    if (!parsed.success) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not an OCI index`);
    return parsed.data;
  }
}
