/**
 * The hook's verdict cache and single flight, for correctness (never timing):
 * hits skip the registry, policy and key changes miss, refusals expire after
 * their back-off, untrusted or corrupt files are ignored and replaced,
 * stale-if-error honours maxStale, concurrent hooks verify once, and a dead
 * lock holder does not block.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageCachedVerdicts } from '../support/cache-clock.js';
import { sigguard } from '../support/cli.js';
import { runHook } from '../support/run-hook.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let policy: string;
let n = 0;

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  policy = w.policy('policy.yaml', standardPolicy(w));
}, 240_000);
afterAll(async () => w?.stop());

const state = (image: string) =>
  JSON.stringify({
    ociVersion: '1.2.0',
    id: `c${++n}`,
    status: 'creating',
    pid: 1,
    bundle: '/nonexistent',
    annotations: criAnnotations(image),
  });

const hook = (image: string, config: string, opts: { policy?: string; deadline?: string } = {}) =>
  runHook({
    config,
    policy: opts.policy ?? policy,
    log: join(w.cosign.dir, `cache-${n + 1}.log`),
    input: state(image),
    deadline: opts.deadline,
  });

const cacheDir = (config: string) => `${config}.cache`;
const entryFiles = (config: string) => readdirSync(cacheDir(config)).filter((f) => f.endsWith('.json'));
const repoRequests = (repo: string) => w.registry.requests().filter((r) => r.includes(`/v2/${repo}/`)).length;
/** The clock moved instead of waited for: every cached verdict of `config` made `ms` older. */
const age = (config: string, ms: number) => ageCachedVerdicts(cacheDir(config), ms);

describe('verdict cache', () => {
  it('a hit skips the registry: allowed while fresh even with the registry stopped', async () => {
    const config = w.config('hit.yaml');
    const first = await hook(w.ref('signed'), config);
    expect(first.d).toMatchObject({ decision: 'allow', cache: 'miss' });
    const before = repoRequests('signed');
    const second = await hook(w.ref('signed'), config);
    expect(second.d).toMatchObject({ decision: 'allow', cache: 'hit', code: 'ALLOWED', signer: first.d.signer });
    expect(repoRequests('signed')).toBe(before);
    await w.registry.stop();
    try {
      const third = await hook(w.ref('signed'), config);
      expect(third.code).toBe(0);
      expect(third.d).toMatchObject({ decision: 'allow', cache: 'hit' });
    } finally {
      await w.registry.start();
    }
  });

  it('the folder is root-only and the files 0600', () => {
    const config = w.config('hit.yaml');
    expect(statSync(cacheDir(config)).mode & 0o777).toBe(0o700);
    const files = entryFiles(config);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(statSync(join(cacheDir(config), f)).mode & 0o777).toBe(0o600);
  });

  it('a policy change or a key change is a miss', async () => {
    const config = w.config('change.yaml');
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('miss');
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('hit');
    const other = w.policy('changed-identity.yaml', standardPolicy(w).replace('matchRepository', 'matchRepoDigestOrExact'));
    const r = await hook(w.ref('signed'), config, { policy: other });
    expect(r.d).toMatchObject({ cache: 'miss', decision: 'deny', code: 'IDENTITY_MISMATCH' });
    const otherKey = w.policy('changed-key.yaml', standardPolicy(w).replace(w.trusted.pub, w.other.pub));
    const k = await hook(w.ref('signed'), config, { policy: otherKey });
    expect(k.d).toMatchObject({ cache: 'miss', decision: 'deny', code: 'UNTRUSTED_SIGNER' });
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('hit');
  });

  it('a refusal is served from the cache during its back-off (CrashLoop), and only then', async () => {
    const config = w.config('backoff.yaml', '  denyBackoffSeconds: 30\n');
    const first = await hook(w.ref('unsigned'), config);
    expect(first.code).toBe(1);
    expect(first.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'miss' });
    const before = repoRequests('unsigned');
    // the kubelet restarts the refused container at once: the refusal comes from the cache
    const again = await hook(w.ref('unsigned'), config);
    expect(again.code).toBe(1);
    expect(again.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'hit' });
    expect(repoRequests('unsigned')).toBe(before);
    // 29 s later: still inside the back-off
    age(config, 29_000);
    expect((await hook(w.ref('unsigned'), config)).d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'hit' });
    expect(repoRequests('unsigned')).toBe(before);
    // past it: asked again
    age(config, 2_000);
    expect((await hook(w.ref('unsigned'), config)).d).toMatchObject({ decision: 'deny', cache: 'miss' });
    expect(repoRequests('unsigned')).toBeGreaterThan(before);
  });

  it('a refusal served from the cache keeps its detail code (decision log)', async () => {
    const config = w.config('backoff-detail.yaml', '  denyBackoffSeconds: 30\n');
    const otherKey = w.policy('backoff-detail-key.yaml', standardPolicy(w).replace(w.trusted.pub, w.other.pub));
    const first = await hook(w.ref('signed'), config, { policy: otherKey });
    expect(first.d).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER', detailCode: 'SIGNATURE', cache: 'miss' });
    const again = await hook(w.ref('signed'), config, { policy: otherKey });
    expect(again.d).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER', detailCode: 'SIGNATURE', cache: 'hit' });
    // a refusal without a detail code logs none
    expect((await hook(w.ref('unsigned'), config)).d).not.toHaveProperty('detailCode');
  });

  it.each([
    ['corrupted', (f: string) => writeFileSync(f, '{not json')],
    [
      'another key inside',
      (f: string) => writeFileSync(f, readFileSync(f, 'utf8').replace(/"key":"[0-9a-f]{64}"/, `"key":"${'0'.repeat(64)}"`)),
    ],
    ['open to others (0644)', (f: string) => chmodSync(f, 0o644)],
    ['owned by another user', (f: string) => chownSync(f, 65534, 65534)],
  ])('a %s cache file is ignored and replaced', async (_name, spoil) => {
    const config = w.config(`spoil-${n}.yaml`);
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('miss');
    const [file] = entryFiles(config);
    spoil(join(cacheDir(config), file!));
    expect((await hook(w.ref('signed'), config)).d).toMatchObject({ decision: 'allow', cache: 'miss' });
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('hit');
  });

  it('an allowed verdict is not trusted for another repository holding the same digest', async () => {
    const config = w.config('repo.yaml');
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('miss');
    const elsewhere = `${w.registry.host}/elsewhere@${w.digests.signed}`;
    expect((await hook(elsewhere, config)).d).toMatchObject({ cache: 'miss', decision: 'deny' });
  });

  it('check --cache goes the way of the hook: its verification serves the hook, a hit asks no registry; --cache-dir moves the cache', async () => {
    const config = w.config('check.yaml');
    const check = async (...extra: string[]) => {
      const r = await sigguard(['check', '--json', '--explain', '--config', config, '--policy', policy, ...extra, w.ref('signed')]);
      return { ...r, v: JSON.parse(r.stdout) };
    };
    const first = await check('--cache');
    expect(first.code).toBe(0);
    expect(first.v).toMatchObject({ decision: 'allow', code: 'ALLOWED', cache: 'miss' });
    expect(first.v.requirements).toHaveLength(1);
    expect(first.v.requests.length).toBeGreaterThan(0);
    const before = repoRequests('signed');
    const second = await check('--cache');
    expect(second.v).toMatchObject({ decision: 'allow', code: 'ALLOWED', cache: 'hit', signer: first.v.signer, requests: [] });
    expect(repoRequests('signed')).toBe(before);
    expect((await hook(w.ref('signed'), config)).d).toMatchObject({ decision: 'allow', cache: 'hit' });
    // without --cache nothing is read or written
    expect((await check()).v).toMatchObject({ decision: 'allow' });
    expect((await check()).v.cache).toBeUndefined();
    const elsewhere = join(w.cosign.dir, 'check-dir.cache');
    expect((await check('--cache-dir', elsewhere)).v.cache).toBe('miss');
    expect((await check('--cache-dir', elsewhere)).v.cache).toBe('hit');
    expect(readdirSync(elsewhere).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const text = await sigguard(['check', '--cache', '--config', config, '--policy', policy, w.ref('signed')]);
    expect(text.stdout).toMatch(/^allowed .* \[ALLOWED\] \(cache: hit\)\n$/);
  });
});

describe('validated documents', () => {
  it('a policy is parsed and validated once per text; a changed text is read anew', async () => {
    const config = w.config('docs.yaml');
    const docs = join(cacheDir(config), 'docs');
    const p = w.policy('docs-policy.yaml', standardPolicy(w));
    expect((await hook(w.ref('signed'), config, { policy: p })).d.decision).toBe('allow');
    const first = readdirSync(docs).filter((f) => f.startsWith('policy-'));
    expect(first).toHaveLength(1);
    expect(statSync(join(docs, first[0]!)).mode & 0o777).toBe(0o600);
    expect((await hook(w.ref('signed'), config, { policy: p })).d.decision).toBe('allow');
    expect(readdirSync(docs).filter((f) => f.startsWith('policy-'))).toEqual(first);
    writeFileSync(p, standardPolicy(w).replace(w.trusted.pub, w.other.pub));
    expect((await hook(w.ref('signed'), config, { policy: p })).d).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
    expect(readdirSync(docs).filter((f) => f.startsWith('policy-'))).toHaveLength(2);
  });

  it('check keeps and reads validated documents as the hook does: the same policy text is validated once', async () => {
    const config = w.config('docs-check.yaml');
    const docs = join(cacheDir(config), 'docs');
    const p = w.policy('docs-check-policy.yaml', standardPolicy(w));
    const check = () => sigguard(['check', '--policy', p, '--config', config, w.ref('signed')]);
    expect((await check()).code).toBe(0);
    const first = readdirSync(docs).filter((f) => f.startsWith('policy-'));
    expect(first).toHaveLength(1);
    expect((await check()).code).toBe(0);
    expect(readdirSync(docs).filter((f) => f.startsWith('policy-'))).toEqual(first);
    // the key the policy names is read anew on every check: another key refuses at once
    writeFileSync(p, standardPolicy(w).replace(w.trusted.pub, w.other.pub));
    expect((await check()).stdout).toContain('[UNTRUSTED_SIGNER]');
    expect(readdirSync(docs).filter((f) => f.startsWith('policy-'))).toHaveLength(2);
  });

  it('a document cache file that is corrupt or open to others is not used', async () => {
    const config = w.config('docs-spoiled.yaml');
    const docs = join(cacheDir(config), 'docs');
    const p = w.policy('docs-spoiled-policy.yaml', standardPolicy(w));
    await hook(w.ref('signed'), config, { policy: p });
    const [doc] = readdirSync(docs).filter((f) => f.startsWith('policy-'));
    // a document that would accept everything, made readable by all: never trusted
    writeFileSync(
      join(docs, doc!),
      JSON.stringify({
        version: 1,
        mode: 'enforce',
        default: 'accept',
        exemptNamespaces: [],
        tagResolution: 'never',
        nonKubernetes: 'verify',
        scopes: {},
      }),
    );
    chmodSync(join(docs, doc!), 0o644);
    expect((await hook(w.ref('unsigned'), config, { policy: p })).d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
    writeFileSync(join(docs, doc!), '{truncated');
    chmodSync(join(docs, doc!), 0o600);
    expect((await hook(w.ref('signed'), config, { policy: p })).d).toMatchObject({ decision: 'allow' });
  });
});

describe('stale-if-error', () => {
  it('an expired allow still allows while the registry is down, within maxStale', async () => {
    const config = w.config('stale.yaml', '  ttlSeconds: 1\n  maxStaleSeconds: 3600\n');
    const off = w.config('stale-off.yaml', '  ttlSeconds: 1\n  maxStaleSeconds: 0\n');
    expect((await hook(w.ref('signed'), config)).d.cache).toBe('miss');
    expect((await hook(w.ref('signed'), off)).d.cache).toBe('miss');
    age(config, 1_500);
    age(off, 1_500);
    await w.registry.stop();
    try {
      const r = await hook(w.ref('signed'), config);
      expect(r.code).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', cache: 'stale' });
      expect(r.d.reason).toMatch(/unreachable.*allowed by the verdict of .*\(stale-if-error\)/);
      const o = await hook(w.ref('signed'), off);
      expect(o.code).toBe(1);
      expect(o.d).toMatchObject({ decision: 'deny', code: 'REGISTRY_UNREACHABLE', cache: 'miss' });
    } finally {
      await w.registry.start();
    }
  });

  it('a registry that never answers: the verification ends early enough for the stale allow to be served', async () => {
    const proxy = await FaultProxy.start({ upstream: w.registry.host });
    try {
      const image = `${proxy.host}/signed@${w.digests.signed}`;
      const p = w.policy(
        'stale-hang-policy.yaml',
        standardPolicy(w)
          .replace(`"${w.registry.host}"`, `"${proxy.host}"`)
          .replace('{type: matchRepository}', `{type: exactRepository, dockerRepository: "${w.registry.host}/signed"}`),
      );
      const config = w.config('stale-hang.yaml', '  ttlSeconds: 60\n  maxStaleSeconds: 3600\n');
      expect((await hook(image, config, { policy: p })).d).toMatchObject({ decision: 'allow', cache: 'miss' });
      age(config, 120_000);
      // every request is taken and never answered: only the deadline ends the verification
      proxy.overrides.push(() => new Promise<boolean>(() => {}));
      const r = await hook(image, config, { policy: p, deadline: '3' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', cache: 'stale' });
      expect(r.d.reason).toMatch(/deadline exceeded.*allowed by the verdict of .*\(stale-if-error\)/);
      // without an allow on file the same hang is a refusal by the hook's deadline
      const none = w.config('stale-hang-none.yaml', '  ttlSeconds: 60\n  maxStaleSeconds: 3600\n');
      const refused = await hook(image, none, { policy: p, deadline: '2' });
      expect(refused.code).toBe(1);
      expect(refused.d).toMatchObject({ decision: 'deny', code: 'DEADLINE_EXCEEDED' });
    } finally {
      await proxy.close();
    }
  });

  it('a refusal for the image itself is never overridden by a stale allow', async () => {
    // One registry address, one policy, one image: every start below has the same cache key, and the
    // cached allow is expired (TTL) but inside maxStale, so stale-if-error would apply to it.
    const proxy = await FaultProxy.start({ upstream: w.registry.host });
    try {
      const image = `${proxy.host}/signed@${w.digests.signed}`;
      // the signature names the repository at the registry's own address
      const p = w.policy(
        'stale-deny-policy.yaml',
        standardPolicy(w)
          .replace(`"${w.registry.host}"`, `"${proxy.host}"`)
          .replace('{type: matchRepository}', `{type: exactRepository, dockerRepository: "${w.registry.host}/signed"}`),
      );
      const config = w.config('stale-deny.yaml', '  ttlSeconds: 60\n  maxStaleSeconds: 3600\n');
      const first = await hook(image, config, { policy: p });
      expect(first.d, first.d.reason).toMatchObject({ decision: 'allow', cache: 'miss' });
      const [file] = entryFiles(config);
      age(config, 120_000);
      let mode: 'down' | 'unsigned' = 'down';
      proxy.overrides.push((_req, res, url) => {
        if (mode === 'down') {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}');
          return true;
        }
        // the registry is up and says the image has no signature any more (.sig tag and referrers gone)
        if (/\/manifests\/sha256-[0-9a-f]{64}(\.sig)?$|\/referrers\//.test(url.pathname)) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
          return true;
        }
        return false;
      });
      // control: the registry erroring, this very entry is used (same key, old enough, young enough)
      const stale = await hook(image, config, { policy: p });
      expect(stale.code).toBe(0);
      expect(stale.d).toMatchObject({ decision: 'allow', cache: 'stale' });
      expect(entryFiles(config)).toEqual([file]);
      // the registry answers, and its answer refuses the image: the stale allow may not win
      mode = 'unsigned';
      const refused = await hook(image, config, { policy: p });
      expect(refused.code).toBe(1);
      expect(refused.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'miss' });
      expect(refused.d.reason).not.toMatch(/stale-if-error/);
      expect(proxy.count(/\/manifests\/sha256-[0-9a-f]{64}\.sig$/)).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });
});

describe('single flight', () => {
  it('concurrent hooks on one digest make one verification, and all get the verdict', async () => {
    const config = w.config('burst.yaml');
    const one = w.config('burst-one.yaml');
    const r0 = repoRequests('signed-bundle');
    await hook(w.ref('signed-bundle'), one);
    const single = repoRequests('signed-bundle') - r0;
    expect(single).toBeGreaterThan(0);
    const before = repoRequests('signed-bundle');
    // A follower waits for a leader that ends before it, else for half of its deadline, then verifies
    // alone (correct, one more verification). The deadline counts from each process's start, and 12 single executables
    // starting at once on 2 cores take seconds: a long deadline keeps this about single flight,
    // not about how loaded the machine is.
    const results = await Promise.all(Array.from({ length: 12 }, () => hook(w.ref('signed-bundle'), config, { deadline: '40' })));
    expect(results.every((r) => r.code === 0 && r.d.decision === 'allow')).toBe(true);
    expect(results.filter((r) => r.d.cache === 'miss')).toHaveLength(1);
    expect(repoRequests('signed-bundle') - before).toBe(single);
  });

  it('a killed lock holder does not block the next start', async () => {
    const config = w.config('deadlock.yaml');
    const probe = await hook(w.ref('signed'), config);
    const [file] = entryFiles(config);
    const key = file!.replace('.json', '');
    writeFileSync(join(cacheDir(config), file!), '{}'); // force a miss
    const dead = spawn('true');
    await new Promise((r) => dead.on('exit', r));
    const lock = join(cacheDir(config), `${key}.lock`);
    writeFileSync(lock, `${dead.pid}\n`);
    const r = await hook(w.ref('signed'), config, { deadline: '30' });
    expect(r.d).toMatchObject({ decision: 'allow', cache: 'miss' });
    // The dead holder's lock was broken and this start led (a leader removes its lock when done).
    // Had it waited for the dead holder instead (a lock naming no deadline), it would have verified
    // alone after half its deadline (the same allow) and left the dead holder's lock in place.
    expect(existsSync(lock), "the dead holder's lock is still there: the start did not break it").toBe(false);
    expect(probe.code).toBe(0);
  });

  it('a live holder that never answers (its lock naming no deadline of its own) is waited for at most half the deadline', async () => {
    const config = w.config('stuck.yaml');
    await hook(w.ref('signed'), config);
    const [file] = entryFiles(config);
    const key = file!.replace('.json', '');
    writeFileSync(join(cacheDir(config), file!), '{}');
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(cacheDir(config), `${key}.lock`), `${holder.pid}\n`);
      const r = await hook(w.ref('signed'), config, { deadline: '2' });
      expect(r.code).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', cache: 'miss' });
      expect(r.d.durationMs).toBeGreaterThanOrEqual(900);
    } finally {
      holder.kill();
    }
  });
});

describe('sigguard cache list | clear', () => {
  it('lists and clears by digest', async () => {
    const config = w.config('cli.yaml');
    await hook(w.ref('signed'), config);
    await hook(w.ref('unsigned'), config);
    const list = await sigguard(['cache', 'list', '--config', config, '--json']);
    const entries = JSON.parse(list.stdout);
    expect(entries.map((e: { digest: string }) => e.digest).sort()).toEqual([w.digests.signed, w.digests.unsigned].sort());
    const cleared = await sigguard(['cache', 'clear', '--config', config, '--digest', w.digests.unsigned!]);
    expect(cleared.stdout).toMatch(/^removed 1 cached verdict from /);
    const after = JSON.parse((await sigguard(['cache', 'list', '--config', config, '--json'])).stdout);
    expect(after.map((e: { digest: string }) => e.digest)).toEqual([w.digests.signed]);
    expect((await sigguard(['cache', 'clear', '--config', config])).stdout).toMatch(/^removed 1 cached verdict/);
  });
});
