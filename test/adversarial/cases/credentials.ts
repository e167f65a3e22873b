/**
 * Credential leakage: credentials go to the endpoint they are configured for
 * (a mirror gets the mirror's, never the upstream's), to a token realm only
 * over https or to a host itself allowed plain http, never to a realm of
 * another scheme, and never across a redirect to another host.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { deadPort } from '../../support/ports.js';
import { legacyLayer, putImage, putLegacy, simpleSigning } from '../artefacts.js';
import type { Case, Category, Ctx } from '../harness.js';
import { LyingRegistry, misbehave } from '../lying-registry.js';
import { allow, check, deny, refOf, signLegacy } from './util.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const UP = basic('upstream-user', 'upstream-secret');
const MIRROR = basic('mirror-user', 'mirror-secret');
/** This machine's name: resolves to loopback (/etc/hosts), but is neither loopback by name nor an insecure registry. */
const NODE_NAME = hostname();

async function server(ctx: Ctx, bind = '127.0.0.1'): Promise<LyingRegistry> {
  const r = await new LyingRegistry(bind).start();
  ctx.servers.push(r);
  return r;
}

/** A loopback host:port nothing listens on, held until the case's servers stop (nobody else can listen there meanwhile). */
async function deadHost(ctx: Ctx): Promise<string> {
  const d = await deadPort();
  ctx.servers.push({ stop: () => d.close() });
  return d.host;
}

/** A config with these auths entries (host -> Authorization value) and optional hosts.toml files. */
function config(ctx: Ctx, auths: Record<string, string | { identitytoken: string }>, hosts: Record<string, string> = {}): string {
  const dir = join(
    ctx.dir,
    `creds-${Object.keys(auths)
      .join('_')
      .replace(/[^a-z0-9]/gi, '')}-${Math.random().toString(36).slice(2)}`,
  );
  mkdirSync(dir, { recursive: true });
  const authFile = join(dir, 'auth.json');
  const entries = Object.fromEntries(
    Object.entries(auths).map(([h, v]) => [h, typeof v === 'string' ? { auth: v.replace(/^Basic /, '') } : v]),
  );
  writeFileSync(authFile, JSON.stringify({ auths: entries }), { mode: 0o600 });
  for (const [host, toml] of Object.entries(hosts)) {
    mkdirSync(join(dir, 'certs.d', host), { recursive: true });
    writeFileSync(join(dir, 'certs.d', host, 'hosts.toml'), toml);
  }
  return ctx.writeConfig(`registry:\n  authFiles: [${authFile}]\n  certsDir: ${join(dir, 'certs.d')}\n`);
}

const policyFor = (ctx: Ctx, host: string) =>
  ctx.writePolicy(`version: 1
default: reject
scopes:
  "${host}":
    - type: sigstoreSigned
      keyPath: ${ctx.trustedPub}
      signedIdentity: {type: matchRepository}
`);

/** Problems when any request `reg` saw carried one of `secrets` (or any Authorization, with `any`). */
function leaked(reg: LyingRegistry, what: string, secrets: string[] | 'any'): string[] {
  const bad = reg.requests.filter((r) => {
    const a = r.headers.authorization;
    if (a === undefined) return false;
    return secrets === 'any' ? true : secrets.some((s) => a.includes(s.replace(/^Basic /, '')) || a === s);
  });
  return bad.length
    ? [`${what} received credentials: ${bad.map((r) => `${r.method} ${r.url} [${r.headers.authorization}]`).join(', ')}`]
    : [];
}

/** An image signed for `host`/`repo`, stored in `reg`. */
function signedIn(ctx: Ctx, reg: LyingRegistry, host: string, repo: string) {
  const m = putImage(reg, repo);
  const save = ctx.reg;
  (ctx as { reg: LyingRegistry }).reg = reg;
  try {
    signLegacy({ ...ctx, host } as Ctx, repo, m);
  } finally {
    (ctx as { reg: LyingRegistry }).reg = save;
  }
  return m;
}

/** A registry needing a Bearer token from `realm`; the token service gives one only for UP's Basic credentials. */
async function bearerCase(ctx: Ctx, realm: (token: LyingRegistry) => string, creds: string | { identitytoken: string } = UP) {
  const token = await server(ctx);
  token.on('/token', (req, res) => {
    const ok = req.headers.authorization === UP;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(ok ? '{"token":"granted"}' : '{"errors":[{"code":"UNAUTHORIZED"}]}');
  });
  const reg = await server(ctx);
  reg.auth = { challenge: `Bearer realm="${realm(token)}",service="adv"`, accept: ['Bearer granted'] };
  const m = signedIn(ctx, reg, reg.host, 'app');
  const inv = check(refOf({ ...ctx, host: reg.host } as Ctx, 'app', m), {
    policy: policyFor(ctx, reg.host),
    config: config(ctx, { [reg.host]: creds }),
  });
  ctx.shared.lastToken = token;
  return inv;
}

export const credentials: Category = {
  category: 'credential leakage',
  cases: [
    {
      name: "mirror without credentials of its own gets none of the upstream's",
      attack: 'hosts.toml mirror for an upstream with credentials; the mirror asks for Basic auth',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_UNREACHABLE'),
      async run(ctx) {
        const mirror = await server(ctx);
        mirror.auth = { challenge: 'Basic realm="mirror"', accept: [MIRROR] };
        const upstream = await deadHost(ctx);
        ctx.shared.mirror = mirror;
        return check(`${upstream}/app@sha256:${'4'.repeat(64)}`, {
          policy: policyFor(ctx, upstream),
          config: config(
            ctx,
            { [upstream]: UP },
            { [upstream]: `server = "http://${upstream}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n` },
          ),
        });
      },
      verify: (_o, ctx) => [
        ...leaked(ctx.shared.mirror!, 'the mirror', 'any'),
        ...(ctx.shared.mirror!.requests.length ? [] : ['the mirror was never asked']),
      ],
    },
    {
      name: "mirror with its own credentials gets those, not the upstream's",
      attack: 'the mirror and the upstream each have credentials; the mirror serves the signed image',
      expect: allow(),
      async run(ctx) {
        const mirror = await server(ctx);
        const upstream = await deadHost(ctx);
        mirror.auth = { challenge: 'Basic realm="mirror"', accept: [MIRROR] };
        const m = signedIn(ctx, mirror, upstream, 'app');
        ctx.shared.mirror2 = mirror;
        return check(`${upstream}/app@${m.digest}`, {
          policy: policyFor(ctx, upstream),
          config: config(
            ctx,
            { [upstream]: UP, [mirror.host]: MIRROR },
            { [upstream]: `server = "http://${upstream}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n` },
          ),
        });
      },
      verify: (_o, ctx) => leaked(ctx.shared.mirror2!, 'the mirror', [UP]),
    },
    {
      name: 'token realm over plain http on a host not allowed plain http',
      attack: 'Bearer realm="http://<hostname>:PORT/token" (resolves to loopback, but is neither loopback by name nor insecure)',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_BAD_RESPONSE'),
      run: (ctx) => bearerCase(ctx, (t) => `http://${NODE_NAME}:${t.port}/token`),
      verify: (_o, ctx) => leaked(ctx.shared.lastToken!, 'the http realm', 'any'),
    },
    {
      name: 'identity token posted to a plain-http realm',
      attack: 'an identitytoken credential; realm http://<hostname>:PORT/token',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_BAD_RESPONSE'),
      run: (ctx) => bearerCase(ctx, (t) => `http://${NODE_NAME}:${t.port}/token`, { identitytoken: 'refresh-secret' }),
      verify: (_o, ctx) => {
        const posts = ctx.shared.lastToken!.requests.filter((r) => r.method === 'POST');
        return [
          ...leaked(ctx.shared.lastToken!, 'the http realm', 'any'),
          ...(posts.length ? ['the identity token was POSTed over plain http'] : []),
        ];
      },
    },
    {
      name: 'token realm with an ftp:// scheme',
      attack: 'Bearer realm="ftp://127.0.0.1/token"',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_BAD_RESPONSE'),
      run: (ctx) => bearerCase(ctx, (t) => `ftp://127.0.0.1:${t.port}/token`),
      verify: (_o, ctx) => leaked(ctx.shared.lastToken!, 'the realm', 'any'),
    },
    {
      name: 'token realm redirects to another host',
      attack: 'the realm answers 302 to localhost:PORT (another origin) hoping the Basic credentials follow',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_BAD_RESPONSE'),
      async run(ctx) {
        const elsewhere = await server(ctx);
        elsewhere.on('/stolen', misbehave.answer(401, '{}', { 'content-type': 'application/json' }));
        const inv = await bearerCase(ctx, (t) => `http://127.0.0.1:${t.port}/token`);
        ctx.shared.lastToken!.on('/token', misbehave.redirect(`http://localhost:${elsewhere.port}/stolen`));
        ctx.shared.elsewhere = elsewhere;
        return inv;
      },
      verify: (_o, ctx) => leaked(ctx.shared.elsewhere!, 'the redirect target of the realm', 'any'),
    },
    {
      name: 'token realm file:///etc/shadow',
      attack: 'Bearer realm="file:///etc/shadow"',
      expect: deny('REGISTRY_ERROR', 'REGISTRY_BAD_RESPONSE'),
      run: (ctx) => bearerCase(ctx, () => 'file:///etc/shadow'),
    },
    {
      name: 'control: realm over http on loopback gets the credentials',
      attack: 'none: a loopback realm may be plain http',
      expect: allow(),
      run: (ctx) => bearerCase(ctx, (t) => `http://127.0.0.1:${t.port}/token`),
    },
    {
      name: 'Authorization dropped on a redirect to another host',
      attack: 'the registry (Basic auth) redirects the signature blob to localhost:PORT (another origin)',
      expect: allow(),
      async run(ctx) {
        const reg = await server(ctx);
        const cdn = await server(ctx);
        reg.auth = { challenge: 'Basic realm="reg"', accept: [UP] };
        // a payload with annotations: fetched (cosign's bare payload is built without a fetch, discovery/known-payload.ts)
        const m = putImage(reg, 'app');
        putLegacy(reg, 'app', m.digest, [
          legacyLayer(ctx.trusted, simpleSigning(`${reg.host}/app`, m.digest, { optional: { creator: 'ci' } })),
        ]);
        // every blob goes through the CDN, which serves what the registry holds
        reg.on(
          (p, req) => p.includes('/blobs/') && req.headers.authorization === UP,
          (req, res) => {
            res.writeHead(307, { location: `http://localhost:${cdn.port}${req.url}` });
            res.end();
          },
        );
        cdn.on('/blobs/', (req, res) => {
          const b = reg.blob((req.url ?? '').split('/blobs/')[1]!.split('?')[0]!);
          res.writeHead(b ? 200 : 404, { 'content-length': String(b?.length ?? 0) });
          res.end(b);
        });
        ctx.shared.cdn = cdn;
        return check(`${reg.host}/app@${m.digest}`, { policy: policyFor(ctx, reg.host), config: config(ctx, { [reg.host]: UP }) });
      },
      verify: (_o, ctx) => [
        ...leaked(ctx.shared.cdn!, 'the redirect target', 'any'),
        ...(ctx.shared.cdn!.requests.length ? [] : ['the redirect was never followed']),
      ],
    },
    {
      name: 'credentials for another port of the same host are not sent',
      attack: 'auths has 127.0.0.1:OTHER; the registry on 127.0.0.1:PORT asks for Basic auth',
      expect: deny('REGISTRY_ERROR'),
      async run(ctx) {
        const reg = await server(ctx);
        reg.auth = { challenge: 'Basic realm="reg"', accept: [UP] };
        ctx.shared.portReg = reg;
        return check(`${reg.host}/app@sha256:${'5'.repeat(64)}`, {
          policy: policyFor(ctx, reg.host),
          config: config(ctx, { [await deadHost(ctx)]: UP }),
        });
      },
      verify: (_o, ctx) => leaked(ctx.shared.portReg!, 'the registry', 'any'),
    },
    {
      name: 'token service that drips its answer',
      attack: 'the realm answers one byte every 300 ms',
      expect: deny('DEADLINE_EXCEEDED'),
      async run(ctx) {
        const inv = await bearerCase(ctx, (t) => `http://127.0.0.1:${t.port}/token`);
        ctx.shared.lastToken!.on('/token', misbehave.slowDrip(300, 'application/json'));
        return { ...inv, deadline: 2 };
      },
    },
  ] satisfies Case[],
};
