/**
 * Bounded work and where credentials go (issue 10, items 4, 5, 7): signatures
 * and referrers examined in listing order, the first 128, surplus artifacts
 * never a refusal; the verification's byte budget; slow, endless and
 * redirecting responses; credentials by each endpoint's own host, never to a
 * clear-text realm or across a redirect; ambiguous manifests; registry text
 * with control characters. The real docker-registry and real cosign where a
 * registry behaves; a small misbehaving relay (test/support/fault-proxy.ts)
 * for what a real registry will not do.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sigguard, sigguardCheck } from '../support/cli.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { Cosign } from '../support/cosign.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import {
  type ImageIndexJson,
  type LegacySignatureLayer,
  type OciDescriptor,
  Pusher,
  editLegacySignatures,
  sha256,
} from '../support/push.js';
import { Registry } from '../support/registry.js';
import { makePki } from '../support/tls.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let registry: Registry;
let real: string;
let push: Pusher;
let cosign: Cosign;
let trusted: { key: string; pub: string };
let other: { key: string; pub: string };
let work: string;
let emptyCerts: string;
const digests: Record<string, string> = {};
const proxies: FaultProxy[] = [];

async function proxy(
  opts: { basic?: { username: string; password: string }; challenge?: string; tls?: { key: string; cert: string } } = {},
): Promise<FaultProxy> {
  const p = await FaultProxy.start({ upstream: real, ...opts });
  proxies.push(p);
  return p;
}

interface Setup {
  /** Scopes; default: every registry host needs a signature by the trusted key. */
  scopes?: Record<string, unknown[]>;
  auths?: Record<string, unknown>;
  registry?: Record<string, unknown>;
  json?: boolean;
  deadline?: string;
}

let caseNo = 0;
async function check(image: string, setup: Setup = {}) {
  const dir = join(work, `case-${++caseNo}`);
  mkdirSync(dir);
  const policy = join(dir, 'policy.json');
  const host = image.slice(0, image.indexOf('/'));
  const scopes = setup.scopes ?? {
    [host]: [{ type: 'sigstoreSigned', keyPath: trusted.pub, signedIdentity: { type: 'matchRepository' } }],
  };
  writeFileSync(policy, JSON.stringify({ version: 1, default: 'reject', scopes }, null, 2));
  const authFiles: string[] = [];
  if (setup.auths !== undefined) {
    const f = join(dir, 'auth.json');
    writeFileSync(f, JSON.stringify({ auths: setup.auths }, null, 2));
    authFiles.push(f);
  }
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ registry: { authFiles, certsDir: emptyCerts, ...setup.registry } }, null, 2));
  const r = await sigguardCheck([
    '--config',
    config,
    '--policy',
    policy,
    ...(setup.json === false ? [] : ['--json', '--explain']),
    ...(setup.deadline ? ['--deadline', setup.deadline] : []),
    image,
  ]);
  return { ...r, config, policy };
}

function expectVerdict(r: Awaited<ReturnType<typeof check>>, decision: 'allow' | 'deny', code: string): void {
  expect(r.verdict, `stdout=${r.stdout} stderr=${r.stderr}`).toBeDefined();
  expect([r.verdict?.decision, r.verdict?.code], r.verdict?.reason).toEqual([decision, code]);
  expect(r.code).toBe(decision === 'allow' ? 0 : 1);
}

/** Writes `chunk` for as long as the client reads; `sent.bytes` counts what was handed to the socket. */
function endless(res: import('node:http').ServerResponse, chunk: string | Buffer, sent = { bytes: 0 }): { bytes: number } {
  const size = Buffer.byteLength(chunk);
  const pump = () => {
    while (!res.destroyed) {
      sent.bytes += size;
      if (!res.write(chunk)) break;
    }
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
  return sent;
}

/**
 * The most a server can have written past what its client read on a loopback connection: the
 * kernel's send and receive buffers at their largest (sysctl), and a MiB for Node's own. A client
 * that cut a response at its cap has read at most the cap, so the server wrote at most this more.
 */
function pastWhatWasRead(): number {
  const max = (f: string) => Number(readFileSync(f, 'utf8').trim().split(/\s+/).pop());
  return max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem') + 1024 * 1024;
}

/**
 * Writes `byte` once a second, ending after `count` bytes with a body that is no manifest. The
 * check's deadline comes first (the drip starts after the check does, and lasts `count` s): a
 * refusal other than DEADLINE_EXCEEDED means the deadline did not end the read.
 */
function drip(res: import('node:http').ServerResponse, byte: string, count = 20): void {
  let left = count;
  const t = setInterval(() => {
    if (res.destroyed) clearInterval(t);
    else if (--left > 0) res.write(byte);
    else {
      clearInterval(t);
      res.end(byte);
    }
  }, 1000);
  res.on('close', () => clearInterval(t));
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The descriptors cosign 3 listed in the referrers tag index of an image. */
async function referrerEntries(repo: string, digest: string): Promise<OciDescriptor[]> {
  const idx = await push.getManifest<ImageIndexJson>(repo, digest.replace(':', '-'));
  return idx.json.manifests;
}

/** Writes the referrers tag index of an image with these entries. */
async function setReferrers(repo: string, digest: string, manifests: unknown[]): Promise<void> {
  await push.manifest(repo, digest.replace(':', '-'), { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, OCI_INDEX);
}

/** The referrer entries of the trusted key's bundle and the other key's, per repository. */
const referrers: Record<string, { good: OciDescriptor; bad: OciDescriptor }> = {};
async function trustedAndOther(repo: string, _digest: string): Promise<{ good: OciDescriptor; bad: OciDescriptor }> {
  return referrers[repo]!;
}

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3);
  registry = await Registry.start();
  real = registry.host;
  push = new Pusher(real);
  cosign = await Cosign.create();
  trusted = await cosign.keyPair('trusted');
  other = await cosign.keyPair('other');
  work = mkdtempSync(join(cosign.dir, 'limits-'));
  emptyCerts = mkdtempSync(join(work, 'empty-certs.d-'));

  const img = async (repo: string) => {
    const p = await push.image(repo, 'v1', `${repo}:v1`);
    digests[repo] = p.digest;
    return `${real}/${repo}@${p.digest}`;
  };
  // legacy: another key's signature, then the trusted one (cosign appends a layer)
  for (const repo of ['legacy-first', 'legacy-last', 'legacy-many']) {
    const ref = await img(repo);
    await cosign.sign2(other.key, ref);
    await cosign.sign2(trusted.key, ref);
  }
  // bundles: another key's bundle, then the trusted one, as referrers (tag schema on registry 2.8)
  for (const repo of ['bundle-first', 'bundle-last', 'proxied', 'redirected', 'mirrored']) {
    const ref = await img(repo);
    await cosign.sign3(other.key, ref);
    const [bad] = await referrerEntries(repo, digests[repo]!);
    await cosign.sign3(trusted.key, ref);
    const good = (await referrerEntries(repo, digests[repo]!)).find((e) => e.digest !== bad?.digest);
    if (bad === undefined || good === undefined)
      throw new Error(`${repo}: expected two bundles listed as referrers, the other key's and the trusted one`);
    referrers[repo] = { good, bad };
  }
}, 300_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await registry?.stop();
});

describe('signatures examined in listing order, the first 128', () => {
  const spread = (layers: LegacySignatureLayer[], trustedAt: number, total: number) => {
    const [bad, good] = layers as [LegacySignatureLayer, LegacySignatureLayer];
    const out = Array.from({ length: total - 1 }, () => bad);
    out.splice(trustedAt, 0, good);
    return out;
  };

  it('a .sig image with 200 layers, the trusted signature first → allowed, the surplus noted', async () => {
    await editLegacySignatures(push, 'legacy-first', digests['legacy-first']!, (l) => spread(l, 0, 200));
    const r = await check(`${real}/legacy-first@${digests['legacy-first']}`);
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/lists 200 signature artifacts: only the first 128 were examined/);
  });

  it('a .sig image with 200 layers, the trusted signature 200th → denied, saying only 128 were examined', async () => {
    await editLegacySignatures(push, 'legacy-last', digests['legacy-last']!, (l) => spread(l, 199, 200));
    const r = await check(`${real}/legacy-last@${digests['legacy-last']}`);
    expectVerdict(r, 'deny', 'UNTRUSTED_SIGNER');
    expect(r.verdict?.reason).toMatch(
      /^no signature by a trusted key \(128 found, keys: .*\) \(.*lists 200 signature artifacts: only the first 128 were examined\)$/,
    );
  });

  it('a .sig image with 1,500 layers (past what its schema would take), the trusted signature first → allowed', async () => {
    await editLegacySignatures(push, 'legacy-many', digests['legacy-many']!, (l) => spread(l, 0, 1500));
    const r = await check(`${real}/legacy-many@${digests['legacy-many']}`);
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/lists 1500 signature artifacts: only the first 128 were examined/);
  });

  it('200 referrers, the trusted bundle first → allowed', async () => {
    const d = digests['bundle-first']!;
    const { good, bad } = await trustedAndOther('bundle-first', d);
    await setReferrers('bundle-first', d, [good, ...Array.from({ length: 199 }, () => bad)]);
    const r = await check(`${real}/bundle-first@${d}`);
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/lists 200 signature artifacts: only the first 128 were examined/);
  });

  it('200 referrers, the trusted bundle 200th → denied with the reason', async () => {
    const d = digests['bundle-last']!;
    const { good, bad } = await trustedAndOther('bundle-last', d);
    await setReferrers('bundle-last', d, [...Array.from({ length: 199 }, () => bad), good]);
    const r = await check(`${real}/bundle-last@${d}`);
    expectVerdict(r, 'deny', 'UNTRUSTED_SIGNER');
    expect(r.verdict?.reason).toContain('only the first 128 were examined');
  });
});

describe('the byte budget of one verification', () => {
  /**
   * An index and its amd64 manifest, each with a .sig image of 128 layers of 64 KiB (the
   * payload cap) and 128 referrers with a 96 KiB bundle (the bundle cap), every listing padded
   * near its 4 MiB cap: ~64 MiB asked for, more than the 48 MiB budget (a single-platform
   * image's listings fit it whole). The trusted signature is the platform's referrer `trustedAt`,
   * in the listing that takes longest to fetch.
   */
  async function budgetImage(repo: string, trustedAt: number): Promise<string> {
    const image = await push.image(repo, 'v1', `${repo}:v1`);
    const index = await push.index(repo, 'multi', [{ pushed: image, arch: 'amd64' }]);
    await cosign.sign3(trusted.key, `${real}/${repo}@${image.digest}`);
    const [good] = await referrerEntries(repo, image.digest);
    const pad = { pad: 'p'.repeat(4 * 1024 * 1024 - 64 * 1024) };
    const junkPayload = Buffer.alloc(64 * 1024 - 64, 'x');
    const empty = await push.blob(repo, Buffer.from('{}'));
    const bundle = await push.blob(repo, Buffer.alloc(96 * 1024 - 64, ' '));
    for (const subject of [image, index]) {
      await cosign.sign2(other.key, `${real}/${repo}@${subject.digest}`);
      await editLegacySignatures(push, repo, subject.digest, (l) =>
        Array.from({ length: 128 }, () => ({ layer: { ...l[0]!.layer }, payload: junkPayload })),
      );
      const sig = await push.getManifest(repo, `${subject.digest.replace(':', '-')}.sig`);
      await push.manifest(repo, `${subject.digest.replace(':', '-')}.sig`, { ...sig.json, annotations: pad }, OCI_MANIFEST);
      const m = await push.manifest(
        repo,
        `junk-${subject.digest.slice(7, 19)}`,
        {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: empty.size },
          layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: bundle.digest, size: bundle.size }],
          subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.bytes.length },
        },
        OCI_MANIFEST,
      );
      const entry = {
        mediaType: OCI_MANIFEST,
        digest: m.digest,
        size: m.bytes.length,
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      };
      const entries: unknown[] = Array.from({ length: subject === image ? 127 : 128 }, () => entry);
      if (subject === image) entries.splice(trustedAt, 0, good);
      await push.manifest(
        repo,
        subject.digest.replace(':', '-'),
        { schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, annotations: pad },
        OCI_INDEX,
      );
    }
    budgetRefs[repo] = `${real}/${repo}@${index.digest}`;
    return budgetRefs[repo];
  }
  const budgetRefs: Record<string, string> = {};

  it('64 MiB of signature material, the trusted bundle last among the platform manifest referrers → denied BUDGET_EXCEEDED', async () => {
    const r = await check(await budgetImage('budget-last', 127));
    expectVerdict(r, 'deny', 'BUDGET_EXCEEDED');
    expect(r.verdict?.reason).toMatch(/verification budget of 50331648 bytes spent/);
    expect(r.verdict?.notes?.join('\n')).toMatch(/signature artifacts not examined/);
  });

  it('the same, the trusted signature first → allowed: what was examined holds', async () => {
    const r = await check(await budgetImage('budget-first', 0));
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/signature artifacts not examined/);
  });

  it('peak RSS of such a verification stays under 256 MiB', async () => {
    const image = budgetRefs['budget-last']!;
    const dir = join(work, 'rss');
    mkdirSync(dir);
    const policy = join(dir, 'policy.json');
    writeFileSync(
      policy,
      JSON.stringify({ version: 1, default: 'reject', scopes: { [real]: [{ type: 'sigstoreSigned', keyPath: trusted.pub }] } }),
    );
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ registry: { authFiles: [], certsDir: emptyCerts } }));
    const r = await run('/usr/bin/time', ['-v', SIGGUARD, 'check', '--config', config, '--policy', policy, image]);
    expect(r.stdout).toContain('[BUDGET_EXCEEDED]');
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
    console.log(`peak RSS of a verification asked for 64 MiB of signature material (48 MiB budget): ${Math.round(kb / 1024)} MiB`);
    expect(kb).toBeGreaterThan(0);
    expect(kb).toBeLessThan(256 * 1024);
  });
});

describe('slow, endless, huge and redirecting responses', () => {
  it('sanity: the relay passes a signed image through → allowed', async () => {
    const p = await proxy();
    expectVerdict(await check(`${p.host}/proxied@${digests.proxied}`), 'allow', 'ALLOWED');
  });

  it('a referrers API list larger than 4 MiB: the entries in its first 4 MiB are read → allowed, noted', async () => {
    const p = await proxy();
    const d = digests.proxied!;
    const { good } = await trustedAndOther('proxied', d);
    const filler = JSON.stringify({
      mediaType: OCI_MANIFEST,
      digest: `sha256:${'e'.repeat(64)}`,
      size: 600,
      artifactType: 'application/spdx+json',
    });
    p.overrides.push((_req, res, url) => {
      if (url.pathname !== `/v2/proxied/referrers/${d}`) return false;
      res.writeHead(200, { 'content-type': OCI_INDEX });
      res.write(`{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${JSON.stringify(good)}`);
      const chunk = `,${filler}`.repeat(1000);
      for (let i = 0; i < 40; i++) res.write(chunk); // ~6 MiB
      res.end(']}');
      return true;
    });
    const r = await check(`${p.host}/proxied@${d}`);
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/referrers API list .* is larger than 4194304 bytes/);
  });

  // "In time" is the check's own deadline: a list read to its end never ends, and the deadline
  // would refuse it (DEADLINE_EXCEEDED), so an allow is a cut read; the note names the cap it was
  // cut at, and what the relay could write stays within the cap and the socket buffers.
  it('an endless referrers API list: cut at 4 MiB → allowed in time', async () => {
    const p = await proxy();
    const d = digests.proxied!;
    const { good } = await trustedAndOther('proxied', d);
    const filler =
      `,${JSON.stringify({ mediaType: OCI_MANIFEST, digest: `sha256:${'e'.repeat(64)}`, size: 600, artifactType: 'application/spdx+json' })}`.repeat(
        1000,
      );
    const sent: Array<{ bytes: number }> = [];
    p.overrides.push((_req, res, url) => {
      if (url.pathname !== `/v2/proxied/referrers/${d}`) return false;
      res.writeHead(200, { 'content-type': OCI_INDEX });
      res.write(`{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${JSON.stringify(good)}`);
      sent.push(endless(res, filler));
      return true;
    });
    const r = await check(`${p.host}/proxied@${d}`, { deadline: '30' });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(r.verdict?.notes?.join('\n')).toMatch(/referrers API list .* is larger than 4194304 bytes/);
    expect(sent.length).toBeGreaterThan(0);
    for (const s of sent) expect(s.bytes, 'bytes the relay wrote into one endless list').toBeLessThan(4 * 1024 * 1024 + pastWhatWasRead());
  });

  it('an endless .sig manifest spoils the legacy signatures, not the bundle → allowed', async () => {
    const p = await proxy();
    const d = digests.proxied!;
    p.overrides.push((_req, res, url) => {
      if (url.pathname !== `/v2/proxied/manifests/${d.replace(':', '-')}.sig`) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      res.write('{"schemaVersion":2,"layers":[');
      endless(res, Buffer.alloc(64 * 1024, ' '));
      return true;
    });
    const r = await check(`${p.host}/proxied@${d}`, { deadline: '10' });
    expectVerdict(r, 'allow', 'ALLOWED');
  });

  it('a listed referrer whose bundle blob the registry does not have: unreadable, the others judged → allowed', async () => {
    const p = await proxy();
    const d = digests.proxied!;
    const { good, bad } = await trustedAndOther('proxied', d);
    const badBlob = (await push.getManifest('proxied', bad.digest)).json.layers[0]!.digest;
    p.overrides.push((_req, res, url) => {
      if (url.pathname === `/v2/proxied/referrers/${d}`) {
        res.writeHead(200, { 'content-type': OCI_INDEX });
        res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [bad, good] }));
        return true;
      }
      if (url.pathname !== `/v2/proxied/blobs/${badBlob}`) return false;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
      return true;
    });
    const r = await check(`${p.host}/proxied@${d}`);
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(p.count(new RegExp(`/blobs/${badBlob}`))).toBe(1);
  });

  it('a manifest dripped at one byte a second → DEADLINE_EXCEEDED: the deadline ends the read, not the registry', async () => {
    const p = await proxy();
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith('/v2/drip/manifests/')) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      drip(res, '{');
      return true;
    });
    const r = await check(`${p.host}/drip@sha256:${'d'.repeat(64)}`, { deadline: '2' });
    expectVerdict(r, 'deny', 'DEADLINE_EXCEEDED');
    expect(r.verdict?.reason).toBe(`deadline exceeded while talking to ${p.host}`);
  });

  // A hook that outlived its deadline here would have read on until the drip ended (another
  // refusal), or been killed by a runtime's hook timeout (no decision line, no refusal line).
  it('the hook, a registry dripping: refused by its own deadline with DEADLINE_EXCEEDED and a decision-log line', async () => {
    const p = await proxy();
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith('/v2/drip/')) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      drip(res, ' ');
      return true;
    });
    const dir = join(work, 'hook-drip');
    mkdirSync(dir);
    const policy = join(dir, 'policy.json');
    writeFileSync(
      policy,
      JSON.stringify({ version: 1, default: 'reject', scopes: { [p.host]: [{ type: 'sigstoreSigned', keyPath: trusted.pub }] } }),
    );
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({ registry: { authFiles: [], certsDir: emptyCerts }, node: { containerdSocket: join(dir, 'no.sock') } }),
    );
    const log = join(dir, 'decisions.log');
    const image = `${p.host}/drip@sha256:${'d'.repeat(64)}`;
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: 'drip-1',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(image),
    });
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log, '--deadline', '2'], { input: state });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/: hook deadline of 2 s exceeded \[DEADLINE_EXCEEDED\]\n$/);
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(line).toMatchObject({ decision: 'deny', code: 'DEADLINE_EXCEEDED', containerId: 'drip-1' });
  });

  // "In time" as above: read to its end, the manifest would meet the deadline (DEADLINE_EXCEEDED).
  it('an endless manifest → refused at its size, in time', async () => {
    const p = await proxy();
    const d = digests.proxied!;
    const sent: Array<{ bytes: number }> = [];
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith('/v2/endless/manifests/')) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      sent.push(endless(res, Buffer.alloc(64 * 1024, ' ')));
      return true;
    });
    const r = await check(`${p.host}/endless@${d}`, { deadline: '30' });
    expectVerdict(r, 'deny', 'RESPONSE_TOO_LARGE');
    expect(r.verdict?.reason).toMatch(/larger than 4194304 bytes/);
    // the image's manifest and, looked up while it is read (verify-image.ts's discoverEarly), its .sig
    // tag's and its referrers tag's (asked with the referrers API): each cut at its cap
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(3);
    for (const s of sent)
      expect(s.bytes, 'bytes the relay wrote into an endless manifest').toBeLessThan(4 * 1024 * 1024 + pastWhatWasRead());
  });

  it('a redirect loop → REGISTRY_ERROR after 5 redirects', async () => {
    const p = await proxy();
    p.overrides.push((req, res, url) => {
      if (!url.pathname.startsWith('/v2/loop/')) return false;
      res.writeHead(302, { location: req.url ?? '/' });
      res.end();
      return true;
    });
    const r = await check(`${p.host}/loop@sha256:${'d'.repeat(64)}`);
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(r.verdict?.reason).toContain('more than 5 redirects');
    // the first request and 5 redirects, for the image's manifest (its signatures, looked up meanwhile, loop on their own paths)
    expect(p.count(/^\/v2\/loop\/manifests\/sha256:d+$/)).toBe(6);
  });

  it('a redirect to a file: URL → REGISTRY_BAD_RESPONSE', async () => {
    const p = await proxy();
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith('/v2/tofile/')) return false;
      res.writeHead(307, { location: 'file:///etc/shadow' });
      res.end();
      return true;
    });
    const r = await check(`${p.host}/tofile@sha256:${'d'.repeat(64)}`);
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
  });
});

describe('where credentials go', () => {
  it('a redirect to another host does not carry the Authorization', async () => {
    const blobs = await proxy();
    const p = await proxy({ basic: { username: 'alice', password: 'pw-upstream' } });
    p.overrides.push((req, res, url) => {
      if (!/^\/v2\/redirected\/blobs\//.test(url.pathname)) return false;
      res.writeHead(307, { location: `http://${blobs.host}${req.url}` });
      res.end();
      return true;
    });
    const r = await check(`${p.host}/redirected@${digests.redirected}`, { auths: { [p.host]: { auth: b64('alice:pw-upstream') } } });
    expectVerdict(r, 'allow', 'ALLOWED');
    expect(blobs.count(/\/blobs\//)).toBeGreaterThan(0);
    expect(blobs.seen.map((s) => s.authorization)).toEqual(blobs.seen.map(() => undefined));
    expect(p.seen.some((s) => s.authorization === basic('alice', 'pw-upstream'))).toBe(true);
  });

  const mirrorSetup = async () => {
    const upstream = await proxy({ basic: { username: 'up', password: 'pw-upstream' } });
    const mirror = await proxy({ basic: { username: 'mir', password: 'pw-mirror' } });
    const certs = mkdtempSync(join(work, 'certs.d-'));
    mkdirSync(join(certs, upstream.host));
    writeFileSync(
      join(certs, upstream.host, 'hosts.toml'),
      `server = "http://${upstream.host}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    return { upstream, mirror, certs };
  };

  it("a hosts.toml mirror is not given the upstream host's credentials", async () => {
    const { upstream, mirror, certs } = await mirrorSetup();
    const r = await check(`${upstream.host}/mirrored@${digests.mirrored}`, {
      auths: { [upstream.host]: { auth: b64('up:pw-upstream') } },
      registry: { certsDir: certs },
    });
    expect(mirror.seen.length).toBeGreaterThan(0);
    expect(mirror.seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    expectVerdict(r, 'deny', 'REGISTRY_ERROR');
    expect(r.verdict?.reason).toContain('no credentials are configured');
  });

  it('the mirror gets what is configured for the mirror → allowed', async () => {
    const { upstream, mirror, certs } = await mirrorSetup();
    const r = await check(`${upstream.host}/mirrored@${digests.mirrored}`, {
      auths: { [upstream.host]: { auth: b64('up:pw-upstream') }, [mirror.host]: { auth: b64('mir:pw-mirror') } },
      registry: { certsDir: certs },
    });
    expectVerdict(r, 'allow', 'ALLOWED');
    // what the mirror lacks (the .sig tag) is asked of the upstream next, with the upstream's own
    const sentTo = (p: FaultProxy) => [...new Set(p.seen.map((s) => s.authorization).filter(Boolean))];
    expect(sentTo(mirror)).toEqual([basic('mir', 'pw-mirror')]);
    expect(sentTo(upstream)).toEqual([basic('up', 'pw-upstream')]);
  });

  it('a token realm over plain http on a host not allowed plain http: credentials not sent → refused', async () => {
    const p = await proxy({ challenge: 'Bearer realm="http://realm.invalid/token",service="x"' });
    const r = await check(`${p.host}/proxied@${digests.proxied}`, { auths: { [p.host]: { auth: b64('alice:pw') } } });
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
    expect(r.verdict?.reason).toContain('plain-http token realm on realm.invalid');
  });

  it('a token realm over plain http on a host of insecureRegistries: credentials may go there (then: unreachable)', async () => {
    const p = await proxy({ challenge: 'Bearer realm="http://realm.invalid/token",service="x"' });
    const r = await check(`${p.host}/proxied@${digests.proxied}`, {
      auths: { [p.host]: { auth: b64('alice:pw') } },
      registry: { insecureRegistries: ['realm.invalid'] },
    });
    expectVerdict(r, 'deny', 'REGISTRY_UNREACHABLE');
    expect(r.verdict?.reason).toContain('realm.invalid');
  });

  it('a redirect from https to a plain-http host not allowed plain http → refused', async () => {
    mkdirSync(join(work, 'pki'));
    const pki = makePki(join(work, 'pki'));
    const p = await proxy({ tls: { key: pki.key, cert: pki.cert } });
    p.overrides.push((req, res) => {
      res.writeHead(302, { location: `http://blobs.invalid${req.url}` });
      res.end();
      return true;
    });
    const name = `localhost:${p.port}`;
    const certs = mkdtempSync(join(work, 'certs.d-'));
    mkdirSync(join(certs, name));
    writeFileSync(
      join(certs, name, 'hosts.toml'),
      `server = "https://${name}"
ca = "${pki.caFile}"
`,
    );
    const r = await check(`${name}/proxied@${digests.proxied}`, { registry: { certsDir: certs } });
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
    expect(r.verdict?.reason).toContain('redirected from https to plain http://blobs.invalid');
    // each request once (the manifest; its .sig tag, referrers API and referrers tag, looked up meanwhile), none followed to plain http
    expect(p.seen.length).toBeLessThanOrEqual(4);
    expect(new Set(p.seen.map((s) => s.path)).size).toBe(p.seen.length);
  });

  it('a token realm with another scheme → refused', async () => {
    const p = await proxy({ challenge: 'Bearer realm="ftp://127.0.0.1/token",service="x"' });
    const r = await check(`${p.host}/proxied@${digests.proxied}`, { auths: { [p.host]: { auth: b64('alice:pw') } } });
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
    expect(r.verdict?.reason).toContain('scheme ftp:');
  });
});

describe('ambiguous documents and registry text', () => {
  const serve = (p: FaultProxy, repo: string, body: Buffer, contentType: string) =>
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith(`/v2/${repo}/manifests/`)) return false;
      res.writeHead(200, { 'content-type': contentType, 'content-length': String(body.length) });
      res.end(body);
      return true;
    });

  it('a document with both manifests and layers → REGISTRY_BAD_RESPONSE', async () => {
    const p = await proxy();
    const m = await push.getManifest('proxied', digests.proxied!);
    const doc = Buffer.from(
      JSON.stringify({ ...m.json, manifests: [{ mediaType: OCI_MANIFEST, digest: digests.proxied, size: m.bytes.length }] }),
    );
    serve(p, 'ambiguous', doc, OCI_MANIFEST);
    const r = await check(`${p.host}/ambiguous@${sha256(doc)}`);
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
    expect(r.verdict?.reason).toContain('both "manifests" and "layers"');
  });

  it('a mediaType other than the Content-Type it was served with → REGISTRY_BAD_RESPONSE', async () => {
    const p = await proxy();
    const m = await push.getManifest('proxied', digests.proxied!);
    serve(p, 'mislabelled', m.bytes, OCI_INDEX);
    const r = await check(`${p.host}/mislabelled@${digests.proxied}`);
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
    expect(r.verdict?.reason).toContain(`declares mediaType ${OCI_MANIFEST} but was served as ${OCI_INDEX}`);
  });

  it('an index body under a manifest media type → REGISTRY_BAD_RESPONSE', async () => {
    const p = await proxy();
    const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    serve(p, 'indexbody', doc, OCI_MANIFEST);
    const r = await check(`${p.host}/indexbody@${sha256(doc)}`);
    expectVerdict(r, 'deny', 'REGISTRY_BAD_RESPONSE');
  });

  it('control characters in registry text never reach the one-line output', async () => {
    const p = await proxy();
    const evil = 'pwned\x1b[2J\x1b]0;title\x07\r\nFAKE: allowed\u2028\u202eexe.txt\u0000\u009b';
    p.overrides.push((_req, res, url) => {
      if (!url.pathname.startsWith('/v2/noisy/')) return false;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: evil }] }));
      return true;
    });
    const r = await check(`${p.host}/noisy@sha256:${'d'.repeat(64)}`, { json: false });
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stdout).toContain('pwned');
    expect(r.stdout).toContain('FAKE: allowed');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters in sigguard's output on purpose
    expect(r.stdout.trimEnd()).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(r.stdout).toMatch(/\[REGISTRY_ERROR\]\n$/);
  });
});
