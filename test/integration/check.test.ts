/**
 * `sigguard check` against a real registry (Debian's docker-registry) with
 * real cosign signatures (cosign 2.5.0 legacy, cosign 3.1.1 bundles), each
 * case compared with `cosign verify --key` on the same image.
 */
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { Cosign, type CosignReason } from '../support/cosign.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import { Pusher, copyManifest, editLegacySignatures } from '../support/push.js';
import { deadPort } from '../support/ports.js';
import { Registry } from '../support/registry.js';

let registry: Registry;
let cosign: Cosign;
let push: Pusher;
let trusted: { key: string; pub: string };
let other: { key: string; pub: string };
let policy: string;
let host: string;
let misbehaving: Server;
let badHost: string;
const digests: Record<string, string> = {};

async function check(image: string, extra: string[] = []) {
  return sigguardCheck(['--policy', policy, '--json', ...extra, image]);
}

function startMisbehaving(): Promise<Server> {
  const wrongContent = Buffer.from(
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:' +
      'e'.repeat(64) +
      '","size":1},"layers":[]}',
  );
  const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/v2/mismatch/manifests/')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(wrongContent);
    } else if (url.startsWith('/v2/huge/manifests/')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(huge.length) });
      res.end(huge);
    } else if (url.startsWith('/v2/hugechunked/manifests/')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      for (let i = 0; i < 5; i++) res.write(Buffer.alloc(1024 * 1024, 0x20));
      res.end();
    } else if (url.startsWith('/v2/hangsig/') && !url.startsWith('/v2/hangsig/manifests/sha256:')) {
      // the manifest is refused at once (404 below), the signature lookups never answered
    } else if (url.startsWith('/v2/slow/')) {
      // never answers: the deadline must end it
    } else if (url.startsWith('/v2/error/')) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3);
  registry = await Registry.start();
  host = registry.host;
  push = new Pusher(host);
  cosign = await Cosign.create();
  trusted = await cosign.keyPair('trusted');
  other = await cosign.keyPair('other');
  misbehaving = await startMisbehaving();
  const addr = misbehaving.address();
  badHost = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  const img = async (repo: string, tag = 'v1', marker = `${repo}:${tag}`) => {
    const p = await push.image(repo, tag, marker);
    digests[repo] = p.digest;
    return `${host}/${repo}@${p.digest}`;
  };
  // signed by the trusted key, each format
  await cosign.sign2(trusted.key, await img('legacy'));
  await cosign.sign3(trusted.key, await img('bundle'));
  // both formats on one image
  const both = await img('both');
  await cosign.sign2(trusted.key, both);
  await cosign.sign3(trusted.key, both);
  // another key
  await cosign.sign2(other.key, await img('otherkey'));
  await cosign.sign3(other.key, await img('otherkey3'));
  // unsigned
  await img('unsigned');
  // a signature whose payload names another digest: A's .sig served as B's
  const a = await img('swap', 'a', 'swap-a');
  const aDigest = digests.swap!;
  await cosign.sign2(trusted.key, a);
  await img('swap', 'b', 'swap-b');
  await copyManifest(push, 'swap', `${aDigest.replace(':', '-')}.sig`, 'swap', `${digests.swap!.replace(':', '-')}.sig`);
  digests.swapA = aDigest;
  // the legacy image and its signature copied into another repository
  await copyManifest(push, 'legacy', digests.legacy!, 'copied', 'v1');
  await copyManifest(push, 'legacy', `${digests.legacy!.replace(':', '-')}.sig`, 'copied', `${digests.legacy!.replace(':', '-')}.sig`);
  // tampered payload, garbage signature annotation
  await cosign.sign2(trusted.key, await img('tampered'));
  await editLegacySignatures(push, 'tampered', digests.tampered!, (ls) =>
    ls.map(({ layer, payload }) => ({
      layer,
      payload: Buffer.from(payload.toString().replace('"optional":null', '"optional":{"x":"y"}')),
    })),
  );
  await cosign.sign2(trusted.key, await img('garbage'));
  await editLegacySignatures(push, 'garbage', digests.garbage!, (ls) =>
    ls.map(({ layer, payload }) => ({
      layer: { ...layer, annotations: { 'dev.cosignproject.cosign/signature': '%%% not base64 %%%' } },
      payload,
    })),
  );
  // several signatures, one good
  const several = await img('several');
  await cosign.sign2(other.key, several);
  await cosign.sign2(trusted.key, several);
  // multi-arch: index signed; only the platform manifest signed
  const amd = await push.image('multi', 'amd64', 'multi-amd64', 'amd64');
  const arm = await push.image('multi', 'arm64', 'multi-arm64', 'arm64');
  const idx = await push.index('multi', 'v1', [
    { pushed: amd, arch: 'amd64' },
    { pushed: arm, arch: 'arm64' },
  ]);
  digests.multi = idx.digest;
  await cosign.sign2(trusted.key, `${host}/multi@${idx.digest}`);
  const amd2 = await push.image('multiplat', 'amd64', 'multiplat-amd64', 'amd64');
  const arm2 = await push.image('multiplat', 'arm64', 'multiplat-arm64', 'arm64');
  const idx2 = await push.index('multiplat', 'v1', [
    { pushed: amd2, arch: 'amd64' },
    { pushed: arm2, arch: 'arm64' },
  ]);
  digests.multiplat = idx2.digest;
  digests.multiplatPlatform = process.arch === 'arm64' ? arm2.digest : amd2.digest;
  await cosign.sign3(trusted.key, `${host}/multiplat@${digests.multiplatPlatform}`);
  // a bundle-only image under a legacy-only requirement
  await cosign.sign3(trusted.key, await img('legacyonly'));

  policy = join(cosign.dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1
default: reject
scopes:
  "${host}":
    - type: sigstoreSigned
      keyPath: ${trusted.pub}
      signedIdentity: {type: matchRepository}
  "${host}/legacyonly":
    - type: sigstoreSigned
      keyPath: ${trusted.pub}
      signedIdentity: {type: matchRepository}
      signatureFormats: [legacy]
  "${host}/accepted":
    - type: insecureAcceptAnything
  "${host}/rejected":
    - type: reject
  "${badHost}":
    - type: sigstoreSigned
      keyPath: ${trusted.pub}
`,
  );
}, 240_000);

afterAll(async () => {
  await registry?.stop();
  misbehaving?.close();
});

describe('sigguard check agrees with cosign verify', () => {
  const ref = (repo: string) => `${host}/${repo}@${digests[repo]}`;
  it.each([
    // repo, cosign version to compare, expected decision, code, cosign's reason for the same image
    ['legacy', 2, 'allow', 'ALLOWED', 'accepted'],
    ['bundle', 3, 'allow', 'ALLOWED', 'accepted'],
    ['both', 3, 'allow', 'ALLOWED', 'accepted'],
    ['otherkey', 2, 'deny', 'UNTRUSTED_SIGNER', 'invalid-signature'],
    ['otherkey3', 3, 'deny', 'UNTRUSTED_SIGNER', 'invalid-signature'],
    ['unsigned', 2, 'deny', 'NO_SIGNATURE', 'no-signatures'],
    ['unsigned', 3, 'deny', 'NO_SIGNATURE', 'no-signatures'],
    ['swap', 2, 'deny', 'DIGEST_MISMATCH', 'digest-mismatch'],
    ['tampered', 2, 'deny', 'UNTRUSTED_SIGNER', 'invalid-signature'],
    ['garbage', 2, 'deny', 'MALFORMED_SIGNATURE', 'malformed'],
    ['several', 2, 'allow', 'ALLOWED', 'accepted'],
    ['multi', 2, 'allow', 'ALLOWED', 'accepted'],
  ] as const satisfies readonly (readonly [string, 2 | 3, string, string, CosignReason])[])(
    '%s (cosign %i): %s %s, cosign %s',
    async (repo, version, decision, code, cosignReason) => {
      const image = ref(repo);
      const [ours, theirs] = await Promise.all([check(image), cosign.verify(version, trusted.pub, image)]);
      expect(ours.verdict, ours.stderr).toBeDefined();
      expect(ours.verdict?.decision, ours.verdict?.reason).toBe(decision);
      expect(ours.verdict?.code).toBe(code);
      expect(ours.code).toBe(decision === 'allow' ? 0 : 1);
      expect(ours.verdict?.digest).toBe(digests[repo]);
      // what cosign accepts sigguard accepts; what cosign rejects sigguard rejects, for the same reason
      expect(theirs.ok, theirs.stderr).toBe(decision === 'allow');
      expect(theirs.reason, theirs.stderr).toBe(cosignReason);
    },
  );

  it('a signature on the platform manifest counts for the index (cosign: only on that manifest digest)', async () => {
    const ours = await check(`${host}/multiplat@${digests.multiplat}`);
    expect(ours.verdict, ours.stderr).toMatchObject({ decision: 'allow', code: 'ALLOWED', digest: digests.multiplat });
    expect(ours.verdict?.platformDigest).toBe(digests.multiplatPlatform);
    expect((await cosign.verify(3, trusted.pub, `${host}/multiplat@${digests.multiplatPlatform}`)).ok).toBe(true);
    expect((await cosign.verify(3, trusted.pub, `${host}/multiplat@${digests.multiplat}`)).reason).toBe('no-signatures');
  });

  it('the one intended difference: a signature copied with its image into another repository', async () => {
    const image = `${host}/copied@${digests.legacy}`;
    expect((await cosign.verify(2, trusted.pub, image)).ok).toBe(true);
    const ours = await check(image);
    expect(ours.verdict?.code).toBe('IDENTITY_MISMATCH');
    expect(ours.verdict?.reason).toContain(`${host}/legacy`);
    expect(ours.code).toBe(1);
  });
});

describe('sigguard check reasons', () => {
  it('names the trusted keys when no signature is by one', async () => {
    const r = await check(`${host}/otherkey@${digests.otherkey}`);
    expect(r.verdict?.reason).toMatch(/^no signature by a trusted key \(1 found, keys: .*trusted\/cosign\.pub SHA256:[0-9a-f]{16}\)$/);
  });

  it('prints one line with the verdict, the digest and the reason', async () => {
    const r = await sigguard(['check', '--policy', policy, `${host}/unsigned:v1`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`denied ${host}/unsigned@${digests.unsigned}: no legacy or bundle signature found [NO_SIGNATURE]\n`);
  });

  it('resolves a tag at the registry and says which signature held (--explain)', async () => {
    const r = await sigguard(['check', '--policy', policy, '--explain', `${host}/legacy:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`allowed ${host}/legacy@${digests.legacy}: verified: legacy signature by`);
    expect(r.stdout).toContain(`scope:    ${host}\n`);
    expect(r.stdout).toMatch(/- legacy on sha256:[0-9a-f]{64} \(sha256-[0-9a-f]{64}\.sig layer 0\)\n\s+verified signer=/);
  });

  it('a bundle does not satisfy a legacy-only requirement', async () => {
    const r = await check(`${host}/legacyonly@${digests.legacyonly}`);
    expect(r.verdict?.code).toBe('NO_SIGNATURE');
    expect(r.verdict?.reason).toBe('no legacy signature found');
  });

  it('accept and reject scopes decide without the registry', async () => {
    const a = await check(`${host}/accepted/anything:v1`);
    expect([a.code, a.verdict?.code, a.verdict?.scope]).toEqual([0, 'POLICY_ACCEPT', `${host}/accepted`]);
    const r = await check(`${host}/rejected/anything:v1`);
    expect([r.code, r.verdict?.code]).toEqual([1, 'POLICY_REJECT']);
    const d = await check('quay.io/somewhere/else:v1');
    expect([d.code, d.verdict?.code, d.verdict?.scope]).toEqual([1, 'POLICY_REJECT', '']);
  });

  it('an image that does not exist is denied', async () => {
    const r = await check(`${host}/nosuch:v1`);
    expect([r.code, r.verdict?.code]).toEqual([1, 'IMAGE_NOT_FOUND']);
  });
});

describe('sigguard check fails closed on registry faults', () => {
  it('registry down', async () => {
    const dead = await deadPort(); // held until the end: nobody can start listening there meanwhile
    try {
      const port = dead.port;
      const p2 = join(cosign.dir, 'down.yaml');
      writeFileSync(p2, `version: 1\nscopes:\n  "127.0.0.1:${port}":\n    - type: sigstoreSigned\n      keyPath: ${trusted.pub}\n`);
      const r = await sigguard(['check', '--policy', p2, '--json', `127.0.0.1:${port}/app:v1`]);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ decision: 'deny', code: 'REGISTRY_UNREACHABLE' });
      expect(JSON.parse(r.stdout).reason).toContain('ECONNREFUSED');
      expect((await cosign.verify(2, trusted.pub, `127.0.0.1:${port}/app:v1`)).reason).toBe('registry-unreachable');
    } finally {
      await dead.close();
    }
  });

  it.each([
    ['mismatch', 'CONTENT_MISMATCH'],
    ['huge', 'RESPONSE_TOO_LARGE'],
    ['hugechunked', 'RESPONSE_TOO_LARGE'],
    ['error', 'REGISTRY_ERROR'],
  ])('content fault %s → %s', async (repo, code) => {
    const r = await check(`${badHost}/${repo}@sha256:${'d'.repeat(64)}`);
    expect(r.code).toBe(1);
    expect(r.verdict).toMatchObject({ decision: 'deny', code });
  });

  it('exits once it has decided, with requests still in flight that never end (its connections are left to the exit)', async () => {
    // the manifest's 404 decides while the .sig tag and the referrers are still asked: check must
    // exit with its verdict then, not wait for them (the deadline, 30 s, is far beyond the runner's 15 s)
    const r = await sigguard(['check', '--policy', policy, '--json', '--deadline', '30', `${badHost}/hangsig@sha256:${'d'.repeat(64)}`], {
      timeoutMs: 15_000,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ decision: 'deny' });
    expect(JSON.parse(r.stdout).code).not.toBe('DEADLINE_EXCEEDED');
  });

  it('a registry that never answers is cut off by the deadline', async () => {
    const r = await check(`${badHost}/slow@sha256:${'d'.repeat(64)}`, ['--deadline', '1']);
    expect(r.code).toBe(1);
    expect(r.verdict).toMatchObject({ decision: 'deny', code: 'DEADLINE_EXCEEDED' });
  });
});

describe('usage and configuration errors exit 2', () => {
  it.each([
    [['check'], /exactly one IMAGE/],
    [['check', 'Upper/Case'], /lowercase/],
    [['check', '--bogus', 'x'], /Unknown option/],
    [['frobnicate'], /unknown command/],
  ])('%j', async (args, why) => {
    const r = await sigguard(
      args.includes('check') && !args.includes('--bogus') && args.length > 1 ? ['check', '--policy', policy, ...args.slice(1)] : args,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a missing policy', async () => {
    const r = await sigguard(['check', '--policy', '/nonexistent/policy.yaml', 'busybox']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('sigguard: cannot read policy /nonexistent/policy.yaml: no such file [POLICY_INVALID]\n');
  });

  it('policy validate', async () => {
    const ok = await sigguard(['policy', 'validate', policy]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/is valid: 5 scopes, 3 keys/);
  });
});
