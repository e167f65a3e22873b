/**
 * The hook's own inputs: the OCI state and bundle, annotations, the verdict
 * cache and its lock files (forged in a folder others can write), and the
 * policy, config and key files it reads as root (writable by others: refused).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { legacyLayer, putImage, putIndex, putLegacy, simpleSigning } from '../artefacts.js';
import type { Case, Category, Ctx, Invocation } from '../harness.js';
import { criAnnotations, execute, keyPolicy, ociState, verdictField } from '../harness.js';
import { allow, deny, refOf, signLegacy, signedImage } from './util.js';

const NOBODY = 65534;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters (all but newline) in sigguard's output on purpose
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const hook = (_ctx: Ctx, image: string, more: Partial<Extract<Invocation, { kind: 'hook' }>> = {}): Invocation => ({
  kind: 'hook',
  state: ociState(criAnnotations(image)),
  ...more,
});

const cacheDirOf = (config: string): string => /^\s+dir: (.*)$/m.exec(readFileSync(config, 'utf8'))![1]!;

/** An unsigned image whose refusal was cached once; returns its cache key and the config. */
async function cachedRefusal(ctx: Ctx): Promise<{ ref: string; key: string; config: string; dir: string }> {
  const repo = ctx.repo('hk-unsigned');
  const m = putImage(ctx.reg, repo);
  const ref = refOf(ctx, repo, m);
  const config = ctx.writeConfig();
  const first = await execute(hook(ctx, ref, { config }), ctx);
  if (first.decision !== 'deny') throw new Error(`set-up: unsigned image allowed: ${first.code}`);
  const dir = cacheDirOf(config);
  const file = readdirSync(dir).find((f) => /^[0-9a-f]{64}\.json$/.test(f));
  if (!file) throw new Error('set-up: no cache entry written');
  return { ref, key: file.slice(0, 64), config, dir };
}

/** Rewrites the cached refusal into an allow, as an attacker with write access would. */
function forgeAllow(dir: string, key: string, into = dir): string {
  const entry = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8'));
  const forged = { ...entry, decision: 'allow', code: 'ALLOWED', reason: 'verified: forged', verifiedAt: Date.now() };
  const file = join(into, `${key}.json`);
  writeFileSync(file, JSON.stringify(forged), { mode: 0o600 });
  return file;
}

function forged(name: string, attack: string, spoil: (c: { dir: string; key: string; config: string }) => void): Case {
  return {
    name,
    attack,
    expect: deny('NO_SIGNATURE'),
    async run(ctx) {
      const c = await cachedRefusal(ctx);
      spoil(c);
      return hook(ctx, c.ref, { config: c.config });
    },
    verify: (out) => (verdictField(out.verdict, 'cache') === 'hit' ? ['the forged cache entry was used'] : []),
  };
}

/** A file the hook reads as root, made writable by others (or owned by another user). */
function unsafeFile(name: string, attack: string, make: (ctx: Ctx) => { policy?: string; config?: string; image: string }): Case {
  return {
    name,
    attack,
    expect: deny('POLICY_INVALID', 'CONFIG_INVALID'),
    run(ctx) {
      const { image, ...files } = make(ctx);
      return hook(ctx, image, files);
    },
  };
}

function acceptAllPolicy(ctx: Ctx, where = ctx.dir): string {
  const f = join(where, `accept-all-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, 'version: 1\ndefault: accept\n', { mode: 0o644 });
  return f;
}

function unsignedRef(ctx: Ctx): string {
  const repo = ctx.repo('hk-plain');
  return refOf(ctx, repo, putImage(ctx.reg, repo));
}

export const hookInputs: Category = {
  category: "the hook's own inputs",
  cases: [
    {
      name: 'control: a signed image by digest, no CRI socket',
      attack: 'none: an annotation naming a single manifest is verified as it is',
      expect: allow(),
      run: (ctx) => hook(ctx, signedImage(ctx, 'hk-signed').ref),
    },
    {
      name: 'annotation names an index, no CRI socket',
      attack: 'only the amd64 manifest is signed; which entry runs cannot be known',
      expect: deny('NODE_LOOKUP_FAILED', 'NODE_IMAGE_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('hk-index');
        const amd = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, amd);
        const idx = putIndex(ctx.reg, repo, [{ m: amd, platform: { os: 'linux', architecture: 'amd64' } }]);
        return hook(ctx, refOf(ctx, repo, idx));
      },
    },
    {
      name: 'annotation names a signed index, no CRI socket',
      attack: 'the index itself is signed, but the node may run an entry added by x86_64 confusion',
      expect: deny('NODE_LOOKUP_FAILED', 'NODE_IMAGE_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('hk-index2');
        const e = putImage(ctx.reg, repo);
        const idx = putIndex(ctx.reg, repo, [{ m: e, platform: { os: 'linux', architecture: 'amd64' } }]);
        signLegacy(ctx, repo, idx);
        return hook(ctx, refOf(ctx, repo, idx));
      },
    },
    {
      name: 'a bare tag, no CRI socket',
      attack: 'the tag would be resolved at the registry (time-of-check/time-of-use)',
      expect: deny('TAG_NOT_RESOLVABLE', 'NODE_LOOKUP_FAILED'),
      run(ctx) {
        const repo = ctx.repo('hk-tag');
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        signLegacy(ctx, repo, m);
        return hook(ctx, `${ctx.host}/${repo}:v1`);
      },
    },
    {
      name: 'state is not JSON',
      attack: 'garbage on stdin',
      expect: deny('INVALID_STATE'),
      run: () => ({ kind: 'hook', state: '{"ociVersion": "1.2.0", "annotations": {' }),
    },
    {
      name: 'state of 16 MiB',
      attack: 'an endless-looking annotation value',
      expect: deny('INVALID_STATE'),
      run: () => ({
        kind: 'hook',
        state: JSON.stringify({
          ociVersion: '1.2.0',
          id: 'x',
          status: 'creating',
          pid: 1,
          bundle: '/nonexistent',
          annotations: { a: 'x'.repeat(16 * 1024 * 1024) },
        }),
      }),
    },
    {
      name: 'no annotations, no bundle',
      attack: 'a container that names no image',
      expect: deny('MISSING_IMAGE', 'INVALID_STATE', 'NON_KUBERNETES_DENIED'),
      run: () => ({
        kind: 'hook',
        state: JSON.stringify({ ociVersion: '1.2.0', id: 'x', status: 'creating', pid: 1, bundle: '/nonexistent' }),
      }),
    },
    {
      name: "bundle's config.json is /dev/zero",
      attack: 'no annotations in the state; config.json is a symlink to an endless device',
      expect: deny('INVALID_STATE', 'MISSING_IMAGE'),
      run(ctx) {
        const b = join(ctx.dir, `bundle-zero-${Date.now()}`);
        mkdirSync(b);
        symlinkSync('/dev/zero', join(b, 'config.json'));
        return {
          kind: 'hook',
          state: JSON.stringify({ ociVersion: '1.2.0', id: 'x', status: 'creating', pid: 1, bundle: b }),
          deadline: 3,
        };
      },
    },
    {
      name: "bundle's config.json is a FIFO nobody writes",
      attack: 'reading it would block for ever',
      expect: deny('INVALID_STATE', 'MISSING_IMAGE', 'DEADLINE_EXCEEDED'),
      run(ctx) {
        const b = join(ctx.dir, `bundle-fifo-${Date.now()}`);
        mkdirSync(b);
        execFileSync('mkfifo', [join(b, 'config.json')]);
        return {
          kind: 'hook',
          state: JSON.stringify({ ociVersion: '1.2.0', id: 'x', status: 'creating', pid: 1, bundle: b }),
          deadline: 3,
        };
      },
    },
    ...['kube-system ', 'KUBE-SYSTEM', 'kube-system\u0000'].map(
      (ns): Case => ({
        name: `exempt namespace spoof ${JSON.stringify(ns)}`,
        attack: 'a namespace that looks like the exempt kube-system',
        expect: deny('NO_SIGNATURE'),
        run(ctx) {
          const policy = ctx.writePolicy(keyPolicy(ctx, 'exemptNamespaces: [kube-system]\n'));
          return { kind: 'hook', state: ociState(criAnnotations(unsignedRef(ctx), ns)), policy };
        },
      }),
    ),
    {
      name: 'pod-injected CRI-O annotations on a containerd container',
      attack: 'pod annotations passed through (pod_annotations) claim a CRI-O sandbox and a signed image; containerd runs an unsigned one',
      expect: deny('NO_SIGNATURE'),
      run(ctx) {
        const signed = signedImage(ctx, 'hk-inject-signed').ref;
        const annotations = {
          'io.kubernetes.cri-o.ContainerType': 'sandbox',
          'io.kubernetes.cri-o.ImageName': signed,
          'io.kubernetes.cri-o.Image': signed,
          ...criAnnotations(unsignedRef(ctx)),
        };
        return { kind: 'hook', state: ociState(annotations) };
      },
    },
    {
      name: 'image annotation with control characters',
      attack: 'an ANSI escape and a newline in the image name (log and kubelet event injection)',
      expect: deny('INVALID_REFERENCE', 'MISSING_IMAGE', 'INVALID_STATE'),
      run: (ctx) => hook(ctx, `${ctx.host}/app\u001b[2K\nsigguard: allowed everything`),
      verify: (out) =>
        CONTROL.test(out.stderr.replace(/\n$/, '')) || CONTROL.test(out.reason) ? ['control characters reached stderr or the log'] : [],
    },
    forged('forged allow in a world-writable cache folder', 'cache folder chmod 0777; the refusal rewritten as an allow', (c) => {
      forgeAllow(c.dir, c.key);
      chmodSync(c.dir, 0o777);
    }),
    forged('forged allow in a world-writable sticky cache folder', 'cache folder 1777', (c) => {
      forgeAllow(c.dir, c.key);
      chmodSync(c.dir, 0o1777);
    }),
    forged('forged allow file owned by another user', 'entry chown nobody, 0600', (c) =>
      chownSync(forgeAllow(c.dir, c.key), NOBODY, NOBODY),
    ),
    forged('forged allow file writable by others', 'entry 0666 in the root-only folder', (c) => chmodSync(forgeAllow(c.dir, c.key), 0o666)),
    forged(
      'cache folder replaced by a symlink to an attacker folder',
      'the folder is a link to a nobody-owned folder holding a forged allow',
      (c) => {
        const evil = `${c.dir}.evil`;
        mkdirSync(evil, { mode: 0o700 });
        forgeAllow(c.dir, c.key, evil);
        chownSync(evil, NOBODY, NOBODY);
        renameSync(c.dir, `${c.dir}.old`);
        symlinkSync(evil, c.dir);
      },
    ),
    {
      name: 'lock file held by a live process (pid 1)',
      attack: 'a planted <key>.lock naming pid 1: the hook must not wait past its deadline',
      expect: deny('NO_SIGNATURE'),
      async run(ctx) {
        const c = await cachedRefusal(ctx);
        const config = ctx.writeConfig();
        const dir = cacheDirOf(config);
        mkdirSync(dir, { mode: 0o700, recursive: true });
        writeFileSync(join(dir, `${c.key}.lock`), '1\n', { mode: 0o600 });
        return hook(ctx, c.ref, { config, deadline: 3 });
      },
    },
    {
      name: 'lock file is a FIFO in a world-writable cache folder',
      attack: 'reading the lock would block the hook for ever',
      expect: deny('NO_SIGNATURE'),
      async run(ctx) {
        const c = await cachedRefusal(ctx);
        const config = ctx.writeConfig();
        const dir = cacheDirOf(config);
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, 0o777);
        execFileSync('mkfifo', [join(dir, `${c.key}.lock`)]);
        return hook(ctx, c.ref, { config, deadline: 3 });
      },
    },
    unsafeFile('world-writable policy saying default: accept', 'policy 0666', (ctx) => {
      const p = acceptAllPolicy(ctx);
      chmodSync(p, 0o666);
      return { policy: p, image: unsignedRef(ctx) };
    }),
    unsafeFile('policy owned by nobody', 'policy chown 65534, 0644', (ctx) => {
      const p = acceptAllPolicy(ctx);
      chownSync(p, NOBODY, NOBODY);
      return { policy: p, image: unsignedRef(ctx) };
    }),
    unsafeFile('policy in a folder others can write (no sticky bit)', 'folder 0777', (ctx) => {
      const d = join(ctx.dir, `open-${Date.now()}`);
      mkdirSync(d);
      chmodSync(d, 0o777);
      return { policy: acceptAllPolicy(ctx, d), image: unsignedRef(ctx) };
    }),
    unsafeFile('policy is a symlink to a file owned by nobody', 'link to a nobody-owned accept-all policy', (ctx) => {
      const p = acceptAllPolicy(ctx);
      chownSync(p, NOBODY, NOBODY);
      const link = `${p}.link.yaml`;
      symlinkSync(p, link);
      return { policy: link, image: unsignedRef(ctx) };
    }),
    unsafeFile('trusted key writable by others', 'the key file 0666 (anyone may swap in their own key)', (ctx) => {
      const repo = ctx.repo('hk-key');
      const m = putImage(ctx.reg, repo);
      putLegacy(ctx.reg, repo, m.digest, [legacyLayer(ctx.attacker, simpleSigning(`${ctx.host}/${repo}`, m.digest))]);
      const key = join(ctx.dir, `swapped-${Date.now()}.pub`);
      writeFileSync(key, ctx.attacker.pubPem, { mode: 0o644 });
      chmodSync(key, 0o666);
      const policy = ctx.writePolicy(
        `version: 1\ndefault: reject\nscopes:\n  "${ctx.host}":\n    - type: sigstoreSigned\n      keyPath: ${key}\n      signedIdentity: {type: matchRepository}\n`,
      );
      return { policy, image: refOf(ctx, repo, m) };
    }),
    unsafeFile('config writable by others', 'config 0666 (could point the cache at an attacker folder)', (ctx) => {
      const config = ctx.writeConfig();
      chmodSync(config, 0o666);
      return { config, image: unsignedRef(ctx) };
    }),
    unsafeFile('JSON policy with a duplicate "default" key', '{"default":"reject", ..., "default":"accept"}', (ctx) => {
      const p = join(ctx.dir, `dup-${Date.now()}.json`);
      writeFileSync(p, '{"version": 1, "default": "reject", "scopes": {}, "default": "accept"}', { mode: 0o644 });
      return { policy: p, image: unsignedRef(ctx) };
    }),
  ],
};
