/**
 * How `sigguard check` reaches registries: credentials from docker config.json
 * files (Bearer token services and Basic), containerd's certs.d/hosts.toml
 * (Kind's local-registry alias, _default, mirrors with a path and
 * override_path, capabilities), TLS (hosts.toml ca / skip_verify, the
 * config's caFiles), and configuration errors. A relay (test/support/auth-proxy.ts)
 * fronts the real docker-registry on 127.0.0.1; cosign signs against the
 * registry itself.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthProxy, type AuthProxyOptions } from '../support/auth-proxy.js';
import { run, sigguardCheck } from '../support/cli.js';
import { Cosign } from '../support/cosign.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import { Pusher } from '../support/push.js';
import { type DeadPort, deadPort as holdDeadPort } from '../support/ports.js';
import { Registry } from '../support/registry.js';
import { type TestPki, makePki } from '../support/tls.js';

const USER = 'alice';
const PASS = 's3cret-pass';
const REFRESH = 'refresh-0123456789';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let registry: Registry;
let real: string; // 127.0.0.1:PORT of the real registry
let cosign: Cosign;
let trusted: { key: string; pub: string };
let work: string;
let emptyCerts: string;
let pki: TestPki;
const digests: Record<string, string> = {};
const proxies: AuthProxy[] = [];
const extraRegistries: Registry[] = [];

async function proxy(opts: Partial<AuthProxyOptions> = {}): Promise<AuthProxy> {
  const p = await AuthProxy.start({ upstream: real, ...opts });
  proxies.push(p);
  return p;
}

const deadPorts: DeadPort[] = [];
/** A port nothing listens on (connection refused), held until the file is done: nobody else can take it meanwhile. */
async function deadPort(): Promise<number> {
  const d = await holdDeadPort();
  deadPorts.push(d);
  return d.port;
}

interface Setup {
  scopes: Record<string, unknown[]>;
  /** `auths` of the docker config.json named by registry.authFiles; none: an empty auth file list. */
  auths?: Record<string, unknown>;
  /** Merged into the config file's `registry` (default: no auth files, an empty certs.d). */
  registry?: Record<string, unknown>;
  /** The whole config document, as is (for schema tests). */
  rawConfig?: unknown;
  json?: boolean;
}

let caseNo = 0;
async function check(image: string, setup: Setup) {
  const dir = join(work, `case-${++caseNo}`);
  mkdirSync(dir);
  const policy = join(dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ version: 1, default: 'reject', scopes: setup.scopes }, null, 2));
  const authFiles: string[] = [];
  if (setup.auths !== undefined) {
    const f = join(dir, 'auth.json');
    writeFileSync(f, JSON.stringify({ auths: setup.auths }, null, 2));
    authFiles.push(f);
  }
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify(setup.rawConfig ?? { registry: { authFiles, certsDir: emptyCerts, ...setup.registry } }, null, 2));
  const r = await sigguardCheck(['--config', config, '--policy', policy, ...(setup.json === false ? [] : ['--json']), image]);
  return { ...r, config, policy };
}

/** A certs.d folder: { "<host dir>": "hosts.toml text" }, plus files copied into host dirs. */
function certsDir(hosts: Record<string, string>, copies: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(work, 'certs.d-'));
  for (const [name, toml] of Object.entries(hosts)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'hosts.toml'), toml);
  }
  for (const [to, from] of Object.entries(copies)) copyFileSync(from, join(dir, to));
  return dir;
}

const signedBy = (extra: Record<string, unknown> = {}) => [
  { type: 'sigstoreSigned', keyPath: trusted.pub, signedIdentity: { type: 'matchRepository' }, ...extra },
];

function expectVerdict(r: Awaited<ReturnType<typeof check>>, decision: 'allow' | 'deny', code: string): void {
  expect(r.verdict, `stdout=${r.stdout} stderr=${r.stderr}`).toBeDefined();
  expect([r.verdict?.decision, r.verdict?.code], r.verdict?.reason).toEqual([decision, code]);
  expect(r.code).toBe(decision === 'allow' ? 0 : 1);
}

/** Request paths of manifests fetched by tag (not by digest) in a relay's log. */
const tagFetches = (p: AuthProxy) => p.requests.filter((l) => /\/manifests\/(?!sha256:)[^/?]+/.test(l));
const digestFetches = (p: AuthProxy) => p.requests.filter((l) => /\/manifests\/sha256:/.test(l));

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3);
  registry = await Registry.start();
  real = registry.host;
  const push = new Pusher(real);
  cosign = await Cosign.create();
  trusted = await cosign.keyPair('trusted');
  work = mkdtempSync(join(cosign.dir, 'access-'));
  emptyCerts = mkdtempSync(join(work, 'empty-certs.d-'));
  mkdirSync(join(work, 'pki'));
  pki = makePki(join(work, 'pki'));

  const img = async (repo: string) => {
    const p = await push.image(repo, 'v1', `${repo}:v1`);
    digests[repo] = p.digest;
    return `${real}/${repo}@${p.digest}`;
  };
  // a Sigstore bundle: names only the digest, so it verifies under any registry name
  await cosign.sign3(trusted.key, await img('bundle'));
  // a legacy signature as cosign writes it: docker-reference 127.0.0.1:REAL/legacy (a repository)
  await cosign.sign2(trusted.key, await img('legacy'));
  // a legacy signature naming a tagged reference on the real registry (cosign --sign-container-identity)
  const remap = await img('remap');
  const signed = await run(
    COSIGN2,
    ['sign', '--key', trusted.key, '--tlog-upload=false', '-y', '--sign-container-identity', `${real}/remap:v1`, remap],
    { env: { HOME: join(cosign.dir, 'home'), COSIGN_PASSWORD: '', COSIGN_YES: 'true' } },
  );
  if (signed.code !== 0) throw new Error(`cosign sign --sign-container-identity: ${signed.stderr.slice(-1500)}`);
}, 240_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  for (const d of deadPorts) await d.close();
  for (const r of extraRegistries) await r.stop();
  await registry?.stop();
});

describe('credentials from docker config.json (registry.authFiles)', () => {
  let bearer: AuthProxy;
  let accessToken: AuthProxy;
  let basic: AuthProxy;
  let anonymous: AuthProxy;
  beforeAll(async () => {
    bearer = await proxy({ auth: 'bearer', username: USER, password: PASS, refreshToken: REFRESH });
    accessToken = await proxy({ auth: 'bearer-access-token', username: USER, password: PASS });
    basic = await proxy({ auth: 'basic', username: USER, password: PASS });
    anonymous = await proxy({ auth: 'bearer', username: USER, password: PASS, anonymousToken: true });
  });
  const image = (p: AuthProxy) => `${p.host}/bundle@${digests.bundle}`;
  const scopes = (p: AuthProxy) => ({ [p.host]: signedBy() });

  it('the relay really demands auth (sanity: anonymous pull is refused)', async () => {
    for (const p of [bearer, basic]) {
      const res = await fetch(`http://${p.host}/v2/bundle/manifests/${digests.bundle}`);
      expect(res.status).toBe(401);
    }
  });

  it.each([
    ['Bearer', 'auth', (h: string) => ({ [h]: { auth: b64(`${USER}:${PASS}`) } })],
    ['Bearer', 'username/password', (h: string) => ({ [h]: { username: USER, password: PASS } })],
    ['Bearer', 'auth, key http://HOST', (h: string) => ({ [`http://${h}`]: { auth: b64(`${USER}:${PASS}`) } })],
    ['Bearer', 'username/password, key http://HOST', (h: string) => ({ [`http://${h}`]: { username: USER, password: PASS } })],
    ['Basic', 'auth', (h: string) => ({ [h]: { auth: b64(`${USER}:${PASS}`) } })],
    ['Basic', 'username/password, key http://HOST', (h: string) => ({ [`http://${h}`]: { username: USER, password: PASS } })],
  ] as const)('%s challenge, config.json with %s → allowed', async (scheme, _form, auths) => {
    const p = scheme === 'Bearer' ? bearer : basic;
    p.reset();
    const r = await check(image(p), { scopes: scopes(p), auths: auths(p.host) });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.digest).toBe(digests.bundle);
    if (scheme === 'Bearer') {
      expect(p.tokenRequests).toEqual([{ method: 'GET', who: USER, scope: 'repository:bundle:pull', service: 'proxy', status: 200 }]);
    } else {
      expect(p.tokenHits).toBe(0);
    }
  });

  it('Bearer token fetched once per run, not per request', async () => {
    bearer.reset();
    const auths = { [bearer.host]: { auth: b64(`${USER}:${PASS}`) } };
    const first = await check(image(bearer), { scopes: scopes(bearer), auths });
    expectVerdict(first, 'allow', 'ALLOWED');
    const apiRequests = bearer.requests.filter((l) => l.includes('/v2/bundle/'));
    expect(first.verdict?.registryRequests).toBeGreaterThanOrEqual(4);
    expect(apiRequests.length).toBeGreaterThanOrEqual(4);
    // one 401 to learn the challenge, then the token is reused for every later request
    expect(bearer.tokenHits).toBe(1);
    const second = await check(image(bearer), { scopes: scopes(bearer), auths });
    expectVerdict(second, 'allow', 'ALLOWED');
    expect(bearer.tokenHits).toBe(2);
  });

  it('token service answering access_token instead of token', async () => {
    accessToken.reset();
    const r = await check(image(accessToken), {
      scopes: scopes(accessToken),
      auths: { [accessToken.host]: { username: USER, password: PASS } },
    });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(accessToken.tokenHits).toBe(1);
  });

  it('identitytoken: a refresh-token grant (POST /token) → allowed', async () => {
    bearer.reset();
    const r = await check(image(bearer), { scopes: scopes(bearer), auths: { [`http://${bearer.host}`]: { identitytoken: REFRESH } } });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(bearer.tokenRequests).toEqual([
      { method: 'POST', who: 'refresh_token', scope: 'repository:bundle:pull', service: 'proxy', status: 200 },
    ]);
  });

  it('a wrong identitytoken → denied REGISTRY_ERROR', async () => {
    const r = await check(image(bearer), { scopes: scopes(bearer), auths: { [bearer.host]: { identitytoken: 'not-the-token' } } });
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
  });

  it.each(['Bearer', 'Basic'])('%s: no credentials configured → denied REGISTRY_ERROR, saying so', async (scheme) => {
    const p = scheme === 'Bearer' ? bearer : basic;
    const r = await check(image(p), { scopes: scopes(p), auths: { 'other.example:5000': { auth: b64(`${USER}:${PASS}`) } } });
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(r.verdict?.reason).toMatch(/requires authentication/);
    expect(r.verdict?.reason).toMatch(/no credentials are configured/);
    expect(r.verdict?.reason).toContain(p.host);
  });

  it('Bearer with an anonymous token that does not allow pulling, no credentials → denied, saying none are configured', async () => {
    anonymous.reset();
    const r = await check(image(anonymous), { scopes: scopes(anonymous) });
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(anonymous.tokenRequests.map((t) => [t.who, t.status])).toEqual([[undefined, 200]]);
    expect(r.verdict?.reason).toMatch(/requires authentication/);
    expect(r.verdict?.reason).toMatch(/no credentials are configured/);
  });

  it.each(['Bearer', 'Basic'])('%s: wrong password → denied REGISTRY_ERROR', async (scheme) => {
    const p = scheme === 'Bearer' ? bearer : basic;
    const r = await check(image(p), { scopes: scopes(p), auths: { [p.host]: { auth: b64(`${USER}:wrong`) } } });
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(r.verdict?.reason).not.toMatch(/no credentials are configured/);
    expect(r.verdict?.reason).not.toContain('wrong');
  });

  it("credentials are per registry host: another host's entry is not sent", async () => {
    basic.reset();
    const r = await check(image(basic), { scopes: scopes(basic), auths: { [bearer.host]: { auth: b64(`${USER}:${PASS}`) } } });
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(r.verdict?.reason).toMatch(/no credentials are configured/);
  });
});

describe('containerd hosts.toml (registry.certsDir)', () => {
  let alias: string; // localhost:ALIASPORT, nothing listens there
  let aliasPort: number;
  beforeAll(async () => {
    aliasPort = await deadPort();
    alias = `localhost:${aliasPort}`;
  });
  const kindHosts = () => `server = "http://127.0.0.1:${aliasPort}"\n\n[host."http://${real}"]\n  capabilities = ["pull", "resolve"]\n`;

  it('Kind pattern: localhost:ALIAS is reached at the host entry → allowed (bundle)', async () => {
    const r = await check(`${alias}/bundle@${digests.bundle}`, {
      scopes: { [alias]: signedBy() },
      registry: { certsDir: certsDir({ [alias]: kindHosts() }) },
    });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.image).toBe(`${alias}/bundle@${digests.bundle}`);
  });

  it('Kind pattern, legacy signature naming the real registry: remapIdentity → allowed', async () => {
    const scopes = {
      [alias]: signedBy({
        signedIdentity: { type: 'remapIdentity', prefix: alias, signedPrefix: real },
        signatureFormats: ['legacy'],
      }),
    };
    const certs = certsDir({ [alias]: kindHosts() });
    const r = await check(`${alias}/remap@${digests.remap}`, { scopes, registry: { certsDir: certs } });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.signatures[0]).toMatchObject({ format: 'legacy', status: 'verified', dockerReference: `${real}/remap:v1` });
    // cosign's own signatures name a repository only, which remapIdentity (matchRepoDigestOrExact after remapping) never matches, as in containers/image
    const plain = await check(`${alias}/legacy@${digests.legacy}`, { scopes, registry: { certsDir: certs } });
    expectVerdict(plain, 'deny', 'IDENTITY_MISMATCH');
    // and matchRepository compares with the name as asked, not the endpoint it was fetched from
    const asked = await check(`${alias}/legacy@${digests.legacy}`, {
      scopes: { [alias]: signedBy({ signatureFormats: ['legacy'] }) },
      registry: { certsDir: certs },
    });
    expectVerdict(asked, 'deny', 'IDENTITY_MISMATCH');
  });

  it('without a hosts.toml for it, localhost:ALIAS is unreachable → denied REGISTRY_UNREACHABLE', async () => {
    const r = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() } });
    expectVerdict(r, 'deny', 'REGISTRY_UNREACHABLE');
    expect(r.verdict?.reason).toContain(alias);
  });

  it('_default/hosts.toml applies to a host without its own folder', async () => {
    const dflt = `[host."http://${real}"]\n  capabilities = ["pull", "resolve"]\n`;
    const r = await check(`${alias}/bundle@${digests.bundle}`, {
      scopes: { [alias]: signedBy() },
      registry: { certsDir: certsDir({ _default: dflt }) },
    });
    expectVerdict(r, 'allow', 'ALLOWED');
    // the host's own folder wins over _default
    const own = certsDir({ _default: dflt, [alias]: `server = "http://127.0.0.1:${aliasPort}"\n` });
    const r2 = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() }, registry: { certsDir: own } });
    expectVerdict(r2, 'deny', 'REGISTRY_UNREACHABLE');
  });

  describe('a mirror with a path', () => {
    let mirror: AuthProxy;
    beforeAll(async () => {
      // serves the registry API at /mirror/api/... and /mirror/v2/..., not at /v2
      mirror = await proxy({ prefixes: ['/mirror/api', '/mirror/v2'] });
    });
    const hostsWith = (url: string, overridePath?: boolean) =>
      `server = "http://127.0.0.1:${aliasPort}"\n\n[host."${url}"]\n  capabilities = ["pull", "resolve"]\n${overridePath ? '  override_path = true\n' : ''}`;

    it('override_path = true: the host URL is the whole API root', async () => {
      mirror.reset();
      const certs = certsDir({ [alias]: hostsWith(`http://${mirror.host}/mirror/api`, true) });
      const r = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() }, registry: { certsDir: certs } });
      expectVerdict(r, 'allow', 'ALLOWED');
      expect(mirror.requests.length).toBeGreaterThan(0);
      expect(mirror.requests.every((l) => l.startsWith(`GET /mirror/api/bundle/`))).toBe(true);
    });

    it('without override_path, /v2 is appended to the host URL path', async () => {
      mirror.reset();
      const certs = certsDir({ [alias]: hostsWith(`http://${mirror.host}/mirror`) });
      const r = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() }, registry: { certsDir: certs } });
      expectVerdict(r, 'allow', 'ALLOWED');
      expect(mirror.requests.every((l) => l.startsWith(`GET /mirror/v2/bundle/`))).toBe(true);
      // a URL path already ending in /v2 is not doubled
      mirror.reset();
      const certs2 = certsDir({ [alias]: hostsWith(`http://${mirror.host}/mirror/v2`) });
      const r2 = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() }, registry: { certsDir: certs2 } });
      expectVerdict(r2, 'allow', 'ALLOWED');
      expect(mirror.requests.every((l) => l.startsWith(`GET /mirror/v2/bundle/`))).toBe(true);
    });

    it('an API-root URL without override_path gets /v2 appended (and is not found there)', async () => {
      mirror.reset();
      const certs = certsDir({ [alias]: hostsWith(`http://${mirror.host}/mirror/api`) });
      const r = await check(`${alias}/bundle@${digests.bundle}`, { scopes: { [alias]: signedBy() }, registry: { certsDir: certs } });
      expect(r.verdict?.decision).toBe('deny');
      expect(r.code).toBe(1);
      // the image's manifest (and, asked with it, its signature tags and referrers): all under /mirror/api/v2
      expect(mirror.requests).toContainEqual(expect.stringMatching(/^GET \/mirror\/api\/v2\/bundle\/manifests\/sha256:/));
      expect(mirror.requests.filter((q) => !q.startsWith('GET /mirror/api/v2/bundle/'))).toEqual([]);
    });
  });

  describe('capabilities', () => {
    let pullOnly: AuthProxy;
    let resolver: AuthProxy;
    beforeAll(async () => {
      pullOnly = await proxy();
      resolver = await proxy();
    });

    it('a host with only "pull" is not asked to resolve tags; the next host is', async () => {
      pullOnly.reset();
      resolver.reset();
      const hosts =
        `server = "http://127.0.0.1:${aliasPort}"\n\n` +
        `[host."http://${pullOnly.host}"]\n  capabilities = ["pull"]\n\n` +
        `[host."http://${resolver.host}"]\n  capabilities = ["pull", "resolve"]\n`;
      const r = await check(`${alias}/bundle:v1`, {
        scopes: { [alias]: signedBy() },
        registry: { certsDir: certsDir({ [alias]: hosts }) },
      });
      expectVerdict(r, 'allow', 'ALLOWED');
      expect(r.verdict?.digest).toBe(digests.bundle);
      expect(tagFetches(pullOnly)).toEqual([]);
      expect(digestFetches(pullOnly).length).toBeGreaterThan(0);
      expect(tagFetches(resolver)).toContain('GET /v2/bundle/manifests/v1');
      expect(digestFetches(resolver)).toEqual([]);
    });

    it('a host with only "pull", then the server: the server resolves the tag', async () => {
      pullOnly.reset();
      const hosts = `server = "http://${real}"\n\n[host."http://${pullOnly.host}"]\n  capabilities = ["pull"]\n`;
      const r = await check(`${alias}/bundle:v1`, {
        scopes: { [alias]: signedBy() },
        registry: { certsDir: certsDir({ [alias]: hosts }) },
      });
      expectVerdict(r, 'allow', 'ALLOWED');
      expect(tagFetches(pullOnly)).toEqual([]);
      expect(digestFetches(pullOnly).length).toBeGreaterThan(0);
    });

    it('a mirror that does not have the image: the next host is tried, as containerd does', async () => {
      const empty = await Registry.start();
      extraRegistries.push(empty);
      const hosts = `server = "http://${real}"\n\n[host."http://${empty.host}"]\n  capabilities = ["pull", "resolve"]\n`;
      const r = await check(`${alias}/bundle:v1`, {
        scopes: { [alias]: signedBy() },
        registry: { certsDir: certsDir({ [alias]: hosts }) },
      });
      expectVerdict(r, 'allow', 'ALLOWED');
      expect(empty.requests().length).toBeGreaterThan(0);
    });
  });
});

describe('TLS', () => {
  let tlsRelay: AuthProxy;
  let name: string; // localhost:TLSPORT
  let otherPki: TestPki;
  beforeAll(async () => {
    tlsRelay = await proxy({ tls: { key: pki.key, cert: pki.cert } });
    name = `localhost:${tlsRelay.port}`;
    mkdirSync(join(work, 'pki-other'));
    otherPki = makePki(join(work, 'pki-other'), 'another test CA');
  });
  const image = () => `${name}/bundle@${digests.bundle}`;
  const scopes = () => ({ [name]: signedBy() });
  const server = () => `server = "https://${name}"\n`;

  it('the relay speaks TLS with a certificate of the test CA (sanity)', async () => {
    const r = await run('openssl', ['verify', '-CAfile', pki.caFile, join(work, 'pki', 'server.pem')]);
    expect(r.stdout).toContain('OK');
  });

  it('hosts.toml server https://, ca = "ca.pem" (relative to the host folder) → allowed', async () => {
    const certs = certsDir({ [name]: `${server()}ca = "ca.pem"\n` }, { [`${name}/ca.pem`]: pki.caFile });
    tlsRelay.reset();
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certs } });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(tlsRelay.requests.length).toBeGreaterThan(0);
  });

  it('ca as a list with an absolute path → allowed', async () => {
    const certs = certsDir({ [name]: `${server()}ca = ["${pki.caFile}"]\n` });
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certs } });
    expectVerdict(r, 'allow', 'ALLOWED');
  });

  it('without ca → denied REGISTRY_UNREACHABLE with the TLS reason', async () => {
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certsDir({ [name]: server() }) } });
    expectVerdict(r, 'deny', 'REGISTRY_UNREACHABLE');
    expect(r.verdict?.reason).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/);
  });

  it('another CA than the one that issued the certificate → denied REGISTRY_UNREACHABLE', async () => {
    const certs = certsDir({ [name]: `${server()}ca = ["${otherPki.caFile}"]\n` });
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certs } });
    expectVerdict(r, 'deny', 'REGISTRY_UNREACHABLE');
  });

  it('skip_verify = true → allowed', async () => {
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certsDir({ [name]: `${server()}skip_verify = true\n` }) } });
    expectVerdict(r, 'allow', 'ALLOWED');
  });

  it("the config's registry.caFiles for the host → allowed", async () => {
    const r = await check(image(), {
      scopes: scopes(),
      registry: { certsDir: certsDir({ [name]: server() }), caFiles: { [name]: [pki.caFile] } },
    });
    expectVerdict(r, 'allow', 'ALLOWED');
  });

  it('a [host] entry over https with its own ca, the server unreachable → allowed', async () => {
    const hosts = `server = "http://127.0.0.1:${await deadPort()}"\n\n[host."https://${name}"]\n  capabilities = ["pull", "resolve"]\n  ca = "ca.pem"\n`;
    const certs = certsDir({ [name]: hosts }, { [`${name}/ca.pem`]: pki.caFile });
    const r = await check(`${name}/bundle:v1`, { scopes: scopes(), registry: { certsDir: certs } });
    expectVerdict(r, 'allow', 'ALLOWED');
  });
});

describe('configuration errors', () => {
  const image = () => `${real}/bundle@${digests.bundle}`;
  const scopes = () => ({ [real]: signedBy() });

  it.each([
    [
      'an unknown field under registry',
      { registry: { certsDir: '/nonexistent', insecureRegistrys: ['x:5000'] } },
      /registry: unknown field "insecureRegistrys"/,
    ],
    ['an unknown top-level field', { registry: {}, registries: {} }, /unknown field "registries"/],
    ['caFiles not a map of lists', { registry: { caFiles: { 'x:5000': 'ca.pem' } } }, /registry\.caFiles/],
    ['an empty insecureRegistries entry', { registry: { insecureRegistries: [''] } }, /registry\.insecureRegistries/],
  ])('%s → exit 2 CONFIG_INVALID naming the file and the path', async (_what, rawConfig, why) => {
    const r = await check(image(), { scopes: scopes(), rawConfig });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(r.config);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/\[CONFIG_INVALID\]$/m);
  });

  it('an auth file that is not JSON → exit 2 CONFIG_INVALID naming it', async () => {
    const bad = join(work, 'bad-auth.json');
    writeFileSync(bad, '{"auths": {');
    const r = await check(image(), { scopes: scopes(), registry: { authFiles: [bad] } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^sigguard: auth file ${bad} is not JSON: .*\\[CONFIG_INVALID\\]\\n$`));
  });

  it('a missing auth file is skipped', async () => {
    const r = await check(image(), { scopes: scopes(), registry: { authFiles: [join(work, 'no-such-auth.json')] } });
    expectVerdict(r, 'allow', 'ALLOWED');
  });

  it.each([
    ['TOML syntax error', 'server = "http://127.0.0.1:1\n[host.\n', /cannot parse .*hosts\.toml/],
    [
      'unknown capability',
      `[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "fly"]\n`,
      /invalid .*hosts\.toml: host\."http:\/\/127\.0\.0\.1:1"\.capabilities\[1\]/,
    ],
    ['a missing ca file', `server = "https://127.0.0.1:1"\nca = "nosuch.pem"\n`, /cannot read CA file .*nosuch\.pem/],
  ])('a malformed hosts.toml (%s) → denied CONFIG_INVALID, exit 2, one line naming the file', async (_what, toml, why) => {
    const certs = certsDir({ [real]: toml });
    const file = join(certs, real, 'hosts.toml');
    const r = await check(image(), { scopes: scopes(), registry: { certsDir: certs } });
    expect([r.verdict?.decision, r.verdict?.code], r.verdict?.reason).toEqual(['deny', 'CONFIG_INVALID']);
    expect(r.code).toBe(2);
    expect(r.verdict?.reason).toMatch(why);
    expect(r.verdict?.reason).toContain(why.source.includes('nosuch') ? 'nosuch.pem' : file);
    expect(r.verdict?.reason).not.toContain('\n');
    const text = await check(image(), { scopes: scopes(), registry: { certsDir: certs }, json: false });
    expect(text.code).toBe(2);
    expect(text.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(text.stdout).toMatch(/\[CONFIG_INVALID\]\n$/);
  });
});
