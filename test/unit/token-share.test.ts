/**
 * Bearer tokens shared between requests sent together (registry/client.ts, issue 15: a digest's
 * signatures are looked up with its manifest). A token is fetched once for requests that meet
 * the same challenge; it is never sent for another repository; and a token fetched for one
 * challenge is not taken for a request that met another one (adversarial review): that request
 * fetches its own, as it did when requests went one after another, instead of failing.
 * A loopback token service and registry whose tokens are valid only for the service and scope
 * they were asked for.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Budget } from '../../src/registry/budget.js';
import { RegistryClient } from '../../src/registry/client.js';
import { CredentialStore } from '../../src/registry/credentials.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
  layers: [],
});

let server: http.Server;
let host: string;
/** Tokens issued: token -> the service and scope it was asked for. */
const issued = new Map<string, string>();
const tokenRequests: string[] = [];
/** Authorization headers the registry saw, by path. */
const seen: Array<{ path: string; auth: string | undefined }> = [];
/** The service a path's challenge names: the referrers API sits behind another one when `oddReferrers`. */
let oddReferrers = false;
/** Whether the referrers API holds its 401 to an unauthorised request until a manifest was served (its token fetched). */
let referrersLate = false;
let manifestsServed = 0;
/** Resolves once a manifest was served (the client holds a token by then), or after 5 s. */
async function manifestServed(): Promise<void> {
  for (let i = 0; i < 1000 && manifestsServed === 0; i++) await new Promise((r) => setTimeout(r, 5));
}

const serviceOf = (path: string) => (oddReferrers && path.includes('/referrers/') ? 'referrers' : 'registry');

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const want = `${url.searchParams.get('service')}|${url.searchParams.get('scope')}`;
      tokenRequests.push(want);
      const token = `t${issued.size}`;
      issued.set(token, want);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token }));
      return;
    }
    const m = /^\/v2\/(.+?)\/(manifests|referrers)\//.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const repo = m[1]!;
    const auth = req.headers.authorization;
    seen.push({ path: url.pathname, auth });
    const need = `${serviceOf(url.pathname)}|repository:${repo}:pull`;
    const token = auth?.replace(/^Bearer /, '');
    if (token === undefined || issued.get(token) !== need) {
      const late = m[2] === 'referrers' && token === undefined && referrersLate;
      void (late ? manifestServed() : Promise.resolve()).then(() => {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${host}/token",service="${serviceOf(url.pathname)}",scope="repository:${repo}:pull"`,
        });
        res.end();
      });
      return;
    }
    if (m[2] === 'referrers') {
      res.writeHead(200, { 'content-type': OCI_INDEX });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
      return;
    }
    manifestsServed++;
    res.writeHead(200, { 'content-type': OCI_MANIFEST });
    res.end(manifest);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function fresh() {
  issued.clear();
  tokenRequests.length = 0;
  seen.length = 0;
  manifestsServed = 0;
  return new RegistryClient({
    endpoints: { certsDir: '/nonexistent-sigguard-certs', insecureRegistries: [], caFiles: {} },
    credentials: new CredentialStore([]),
    budget: new Budget(new AbortController().signal),
  });
}
const repo = (repository: string) => ({ registry: host, repository });
const DIGEST = `sha256:${'1'.repeat(64)}`;

/**
 * A manifest and the referrers API asked together, the referrers API's 401 arriving after the
 * manifest's token was fetched (behind another token service when `odd`): both answered, the
 * token requests made, sorted.
 */
async function manifestWithLateReferrers(odd: boolean): Promise<string[]> {
  oddReferrers = odd;
  referrersLate = true;
  try {
    const client = fresh();
    const [m, r] = await Promise.all([client.getManifest(repo('a'), 'v1'), client.getReferrers(repo('a'), DIGEST)]);
    expect(m?.digest).toMatch(/^sha256:/);
    expect(r).toEqual({ manifests: [], truncated: false });
    return [...tokenRequests].sort();
  } finally {
    oddReferrers = false;
    referrersLate = false;
  }
}

describe('Bearer tokens shared by requests sent together', () => {
  it('requests that meet one challenge fetch one token', async () => {
    oddReferrers = false;
    referrersLate = false;
    const client = fresh();
    const all = await Promise.all([
      client.getManifest(repo('a'), 'v1'),
      client.getManifest(repo('a'), 'v2'),
      client.getReferrers(repo('a'), DIGEST),
    ]);
    expect(all.every((r) => r !== undefined)).toBe(true);
    expect(tokenRequests).toEqual(['registry|repository:a:pull']);
  });

  it('a request refused with the same challenge after the token came takes that token', async () => {
    expect(await manifestWithLateReferrers(false)).toEqual(['registry|repository:a:pull']);
  });

  it("a repository's token is never sent for another repository of the registry", async () => {
    oddReferrers = false;
    referrersLate = false;
    const client = fresh();
    await Promise.all([client.getManifest(repo('a'), 'v1'), client.getManifest(repo('b'), 'v1'), client.getManifest(repo('b'), 'v2')]);
    for (const s of seen.filter((q) => q.auth !== undefined)) {
      const scope = issued.get(s.auth!.replace(/^Bearer /, ''));
      expect(scope, s.path).toBe(`registry|repository:${/^\/v2\/(.+?)\//.exec(s.path)![1]}:pull`);
    }
    expect([...tokenRequests].sort()).toEqual(['registry|repository:a:pull', 'registry|repository:b:pull']);
  });

  it('a request refused with another challenge after a token came for the first one fetches its own', async () => {
    expect(await manifestWithLateReferrers(true)).toEqual(['referrers|repository:a:pull', 'registry|repository:a:pull']);
  });
});
