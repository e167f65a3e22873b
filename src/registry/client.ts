/**
 * A read-only OCI distribution client: manifests, blobs and referrers, each
 * checked against the digest it was asked by, size-capped, under one deadline.
 * Auth: anonymous, Bearer token challenges and Basic.
 */
import type { Budget } from './budget.js';
import { budgetExceeded } from './budget.js';
import { ReasonCode, SigguardError, oneLine } from '../errors.js';
import { type ImageReference, repositoryName } from '../reference/reference.js';
import { parseChallenge } from './challenge.js';
import type { Credential, CredentialStore } from './credentials.js';
import { type Endpoint, type EndpointSettings, defaultEndpoint, isLoopback, readHostsFile } from './endpoints.js';
import { type HostsConfig, endpointsFromHosts, readHostsText, validatedHostsEndpoints } from './hosts-config.js';
import { type HttpRequest, type HttpResponse, httpRequest } from './http.js';
import { ACCEPT_MANIFESTS, MediaType, checkUnambiguous } from './oci-schema.js';
import { descriptorsInPrefix } from './partial-index.js';

export const Limits = {
  manifestBytes: 4 * 1024 * 1024,
  /**
   * A legacy signature's simple-signing payload: a few hundred bytes as cosign writes it (its
   * `optional` annotations included). Small, so that parsing one never outgrows V8's young
   * generation: 256 KiB payloads of tiny JSON arrays took a verification to ~240 MiB RSS.
   */
  signatureBlobBytes: 64 * 1024,
  /**
   * A referrer's manifest and its Sigstore bundle. cosign's are ~1 KiB and ~5-15 KiB; bigger
   * ones are attestations carrying their predicate, not signatures. Small enough that the
   * first 128 referrers of an index and of its platform manifest fit the verification's budget.
   */
  referrerManifestBytes: 16 * 1024,
  bundleBytes: 96 * 1024,
  /** A registry's error text quoted in a reason. */
  messageChars: 200,
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
  /** The verification's budget: every exchange and every byte is charged to it; its signal (the deadline) cancels every request. */
  budget: Budget;
  /** Called for every HTTP exchange (for --explain and tests). */
  onRequest?: (r: RequestRecord) => void;
}

/**
 * sha256 or sha512 of bytes, in `algo:hex` form. node:crypto (~4 ms to load) is loaded by the first
 * digest, not with this module: a verification sends its first requests first, and loads it while
 * they are in flight (engine/warm-up.ts).
 */
export function digestOf(bytes: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${process.getBuiltinModule('node:crypto').createHash(algorithm).update(bytes).digest('hex')}`;
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
    if (e) return oneLine(`${e.code ?? ''} ${e.message ?? ''}`).slice(0, Limits.messageChars);
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
  new SigguardError(
    ReasonCode.REGISTRY_ERROR,
    `registry ${repo.registry} requires authentication and no credentials are configured for it`,
  );

/**
 * A host's endpoints: the defaults, or its hosts.toml's, taken from the document cache when that
 * text was validated before (hosts-config.ts), else validated by hosts.ts (smol-toml and zod/mini, the
 * docs bundle: loaded only for a hosts.toml not seen before) - once for the verifications that
 * start together, when the document cache waits for another's validation (a storm after an
 * upgrade: each leader of it validated the hosts.toml alone); the others take what it put.
 */
async function endpointsOf(host: string, settings: EndpointSettings): Promise<Endpoint[]> {
  const found = readHostsFile(settings, host);
  if (found === undefined) return [defaultEndpoint(host, settings)];
  const known = validatedHostsEndpoints(host, found, settings);
  if (known !== undefined) return known;
  const docs = settings.docs;
  const text = docs?.validateOnce ? readHostsText(found) : undefined;
  if (docs?.validateOnce && text !== undefined) {
    const cfg = await docs.validateOnce('hosts', text, async () => (await import('./hosts.js')).validateHostsFile(text, found.file));
    return endpointsFromHosts(host, cfg as HostsConfig, found, settings);
  }
  return (await import('./hosts.js')).resolveEndpoints(host, settings);
}

/** The challenge a 401 answer met, for the requests of one endpoint and repository. */
const tokenKeyOf = (authKey: string, res: HttpResponse): string => `${authKey}|${header(res, 'www-authenticate') ?? ''}`;

export class RegistryClient {
  private readonly endpointCache = new Map<string, Endpoint[]>();
  private readonly endpointsPending = new Map<string, Promise<Endpoint[]>>();
  private readonly authorization = new Map<string, string>();
  /** The challenge (tokenKey) each Bearer authorization was fetched for: a token is shared only for the same one. */
  private readonly authorizedFor = new Map<string, string>();
  private readonly tokensPending = new Map<string, Promise<string>>();
  constructor(private readonly opts: RegistryClientOptions) {}

  get signal(): AbortSignal {
    return this.opts.budget.signal;
  }

  get budget(): Budget {
    return this.opts.budget;
  }

  /**
   * Whether plain HTTP may carry credentials to a host: loopback, the configuration's
   * insecureRegistries, or an http:// endpoint of a hosts.toml already read.
   */
  private plainHttpAllowed(host: string): boolean {
    if (isLoopback(host) || this.opts.endpoints.insecureRegistries.includes(host)) return true;
    for (const endpoints of this.endpointCache.values()) {
      if (endpoints.some((e) => e.origin === `http://${host}`)) return true;
    }
    return false;
  }

  /** One exchange, charged to the budget: a request, and a cap on the body that the bytes left may shrink. */
  private async exchange(url: URL, req: Omit<HttpRequest, 'signal' | 'maxBytes'>, maxBytes: number): Promise<HttpResponse> {
    const budget = this.opts.budget;
    const what = `${url.host}${url.pathname}`;
    budget.document(what);
    const granted = budget.reserve(maxBytes, what);
    let received = 0;
    try {
      const res = await httpRequest(url, { ...req, maxBytes: granted, signal: this.opts.budget.signal });
      received = res.body.length;
      return res;
    } catch (err) {
      if (granted < maxBytes && err instanceof SigguardError && err.code === ReasonCode.RESPONSE_TOO_LARGE) {
        received = granted;
        throw budgetExceeded(`verification budget of ${budget.limits.totalBytes} bytes spent while reading ${what}`);
      }
      throw err;
    } finally {
      budget.settle(granted, received);
    }
  }

  private async endpointsFor(registry: string, capability: 'pull' | 'resolve'): Promise<Endpoint[]> {
    let all = this.endpointCache.get(registry);
    if (all === undefined) {
      // concurrent first requests (discovery starts with the manifest) read hosts.toml once
      let pending = this.endpointsPending.get(registry);
      if (pending === undefined) {
        pending = endpointsOf(registry, this.opts.endpoints);
        this.endpointsPending.set(registry, pending);
      }
      all = await pending;
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
    { exact = false, truncate = false }: { exact?: boolean; truncate?: boolean } = {},
  ): Promise<HttpResponse> {
    // a size known from a descriptor must fit the budget whole, before anything is asked
    if (exact) this.opts.budget.settle(this.opts.budget.reserve(maxBytes, `${repositoryName(repo)}/${path}`, true), 0);
    const endpoints = await this.endpointsFor(repo.registry, capability);
    let lastError: SigguardError | undefined;
    let notFound: HttpResponse | undefined;
    for (const endpoint of endpoints) {
      const url = new URL(`${endpoint.origin}${endpoint.pathPrefix}/${repo.repository}/${path}`);
      if (endpoint.pathPrefix !== '/v2') url.searchParams.set('ns', repo.registry);
      try {
        const res = await this.getWithAuth(endpoint, repo, url, headers, maxBytes, truncate);
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

  private async send(
    url: URL,
    endpoint: Endpoint,
    headers: Record<string, string>,
    maxBytes: number,
    truncate = false,
  ): Promise<HttpResponse> {
    let current = url;
    let hdrs = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.exchange(current, { headers: hdrs, tls: endpoint.tls, truncate }, maxBytes);
      this.opts.onRequest?.({ method: 'GET', url: current.toString(), status: res.status });
      const location = header(res, 'location');
      if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined) return res;
      if (hop >= Limits.redirects)
        throw new SigguardError(ReasonCode.REGISTRY_ERROR, `more than ${Limits.redirects} redirects from ${url.host}`);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${current.host} redirected to an invalid URL`);
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${current.host} redirected to a ${next.protocol} URL`);
      }
      if (next.protocol === 'http:' && current.protocol === 'https:' && !this.plainHttpAllowed(next.host)) {
        throw new SigguardError(
          ReasonCode.REGISTRY_BAD_RESPONSE,
          `registry ${current.host} redirected from https to plain http://${next.host}`,
        );
      }
      // credentials are for the host they were given to: never sent on to another one
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
    truncate: boolean,
  ): Promise<HttpResponse> {
    const authKey = `${endpoint.origin}|${repo.repository}`;
    const cached = this.authorization.get(authKey);
    const first = await this.send(url, endpoint, cached ? { ...headers, authorization: cached } : headers, maxBytes, truncate);
    if (first.status !== 401) return first;
    const challenge = parseChallenge(header(first, 'www-authenticate'));
    const cred = this.opts.credentials.get(endpoint.authHost);
    let auth: string | undefined;
    if (challenge?.scheme === 'bearer') {
      // requests sent together (a digest's signatures are looked up with its manifest) are
      // refused together: one token is fetched for all of them, as for requests one after another
      const tokenKey = tokenKeyOf(authKey, first);
      const since = this.authorization.get(authKey);
      // a token another request got since ours was sent, if it was for the challenge ours met (a
      // token for another service or scope would be refused, where a fetch of our own is not)
      const shared = since !== undefined && since !== cached && this.authorizedFor.get(authKey) === tokenKey;
      let token = shared ? Promise.resolve(since) : this.tokensPending.get(tokenKey);
      if (token === undefined) {
        token = this.fetchToken(endpoint, repo, challenge.params, cred);
        this.tokensPending.set(tokenKey, token);
        token.then(
          () => this.tokensPending.delete(tokenKey),
          () => this.tokensPending.delete(tokenKey),
        );
      }
      auth = await token;
    } else if (challenge?.scheme === 'basic' && cred?.kind === 'basic') {
      auth = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    if (auth === undefined) {
      if (cred === undefined) throw needsCredentials(repo);
      throw new SigguardError(ReasonCode.REGISTRY_ERROR, `registry ${repo.registry} requires authentication`);
    }
    this.authorization.set(authKey, auth);
    if (challenge?.scheme === 'bearer') this.authorizedFor.set(authKey, tokenKeyOf(authKey, first));
    else this.authorizedFor.delete(authKey);
    const second = await this.send(url, endpoint, { ...headers, authorization: auth }, maxBytes, truncate);
    if (second.status === 401 || second.status === 403) {
      if (cred === undefined) throw needsCredentials(repo);
      throw new SigguardError(
        ReasonCode.REGISTRY_ERROR,
        `registry ${repo.registry} refused the credentials for ${repo.repository} (HTTP ${second.status})`,
      );
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
    if (!realm)
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${repo.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `registry ${repo.registry} sent an invalid token realm`);
    }
    // A realm on another host is normal (Docker Hub's is); one that would carry the credentials
    // in the clear, or by any other scheme, is not.
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new SigguardError(
        ReasonCode.REGISTRY_BAD_RESPONSE,
        `registry ${repo.registry} sent a token realm with the scheme ${url.protocol}`,
      );
    }
    if (cred !== undefined && url.protocol === 'http:' && !this.plainHttpAllowed(url.host)) {
      throw new SigguardError(
        ReasonCode.REGISTRY_BAD_RESPONSE,
        `registry ${repo.registry} sent a plain-http token realm on ${url.host}, a host not allowed plain http: credentials are not sent there`,
      );
    }
    const scope = params.scope ?? `repository:${repo.repository}:pull`;
    const headers: Record<string, string> = {};
    let res: HttpResponse;
    if (cred?.kind === 'identityToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: 'sigguard', scope });
      if (params.service) form.set('service', params.service);
      res = await this.exchange(
        url,
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), tls: endpoint.tls },
        Limits.tokenBytes,
      );
    } else {
      if (params.service) url.searchParams.set('service', params.service);
      url.searchParams.set('scope', scope);
      if (cred?.kind === 'basic') headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      res = await this.exchange(url, { headers, tls: endpoint.tls }, Limits.tokenBytes);
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
  async getManifest(repo: Repository, reference: string, size?: number): Promise<FetchedManifest | undefined> {
    const byDigest = reference.includes(':');
    const what = `manifest ${repositoryName(repo)}${byDigest ? '@' : ':'}${reference}`;
    if (size !== undefined && size > Limits.manifestBytes) {
      throw new SigguardError(ReasonCode.RESPONSE_TOO_LARGE, `${what} is listed with ${size} bytes, more than ${Limits.manifestBytes}`);
    }
    const maxBytes = size ?? Limits.manifestBytes;
    const res = await this.get(repo, `manifests/${reference}`, byDigest ? 'pull' : 'resolve', { accept: ACCEPT_MANIFESTS }, maxBytes, {
      exact: size !== undefined,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.failure(res, what);
    let digest: string;
    if (byDigest) {
      checkDigest(res.body, reference, what);
      digest = reference;
    } else {
      digest = digestOf(res.body);
      const claimed = header(res, 'docker-content-digest');
      if (claimed?.startsWith('sha256:') && claimed !== digest) {
        throw new SigguardError(
          ReasonCode.CONTENT_MISMATCH,
          `${what}: registry claims digest ${claimed} for content with digest ${digest}`,
        );
      }
    }
    const json = parseJson(res.body, what);
    const contentType = header(res, 'content-type')?.split(';')[0]?.trim();
    const mediaType = checkUnambiguous(json, contentType, what);
    return { digest, mediaType, bytes: res.body, json };
  }

  /** Fetches a blob; its bytes must hash to the digest. */
  async getBlob(repo: Repository, digest: string, maxBytes: number, exact = false): Promise<Buffer> {
    const what = `blob ${repositoryName(repo)}@${digest}`;
    const res = await this.get(repo, `blobs/${digest}`, 'pull', {}, maxBytes, { exact });
    // a blob a manifest names but the registry does not have: that artifact is broken, the registry is not down
    if (res.status === 404)
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is named by a manifest but missing (HTTP 404)`);
    if (res.status !== 200) throw this.failure(res, what);
    checkDigest(res.body, digest, what);
    return res.body;
  }

  /**
   * The OCI 1.1 referrers API: the listed descriptors, in the registry's order, unvalidated
   * (each is checked where it is examined, so one bad or surplus entry does not spoil the
   * others). Undefined when the registry does not implement it (404 from a registry without
   * the endpoint), so the caller falls back to the referrers tag schema. A list longer than
   * the manifest cap is read up to the cap: the descriptors complete in that prefix.
   */
  async getReferrers(repo: Repository, digest: string): Promise<{ manifests: unknown[]; truncated: boolean } | undefined> {
    const what = `referrers of ${repositoryName(repo)}@${digest}`;
    const res = await this.get(repo, `referrers/${digest}`, 'pull', { accept: MediaType.OCI_INDEX }, Limits.manifestBytes, {
      truncate: true,
    });
    if (res.status === 404 || res.status === 405 || res.status === 400) return undefined;
    if (res.status !== 200) throw this.failure(res, what);
    const contentType = header(res, 'content-type')?.split(';')[0]?.trim();
    if (contentType !== MediaType.OCI_INDEX) return undefined;
    if (res.truncated === true) return { manifests: descriptorsInPrefix(res.body.toString('utf8')), truncated: true };
    const json = parseJson(res.body, what) as { manifests?: unknown };
    if (typeof json !== 'object' || json === null || !Array.isArray(json.manifests)) {
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not an OCI index`);
    }
    return { manifests: json.manifests, truncated: false };
  }
}
