/**
 * The single executable (build/out/sigguard, `make build`) end to end: each command loads the
 * modules it needs from the four bundles (main, fast, docs, cold: build/split.mjs) and works
 * against a real registry with real cosign signatures. Each start that validates a document
 * for the first time loads the docs bundle; each that needs @sigstore, CEL, TOML or another
 * command the cold one, which takes zod and YAML from the docs bundle.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../support/cli.js';
import { hookState } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { type World, makeWorld } from '../support/world.js';
import { tempDir } from '../support/temp.js';

const SEA = join(ROOT, 'build/out/sigguard');
let w: World;
let n = 0;
/** A policy trusting the trusted key for the registry, with text of its own (never in the document cache yet). */
const freshPolicy = (extra = '') =>
  w.policy(
    `sea-policy-${++n}.yaml`,
    `# ${n} ${Date.now()}\nversion: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n${extra}`,
  );
const freshConfig = (extra = '') => w.config(`sea-config-${++n}.yaml`, `# ${n} ${Date.now()}\n${extra}`);
const sea = (args: string[], input?: string) =>
  run(SEA, args, { env: { SIGGUARD_TRACE: '1' }, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
/** The OCI state of a container of the signed image (no CRI socket: the annotation's digest is used). */
const state = (id: string) => hookState(id, w.ref('signed'));
const loaded = (stderr: string) => ['fast', 'docs', 'cold'].filter((b) => stderr.includes(`${b} bundle compiled`));

beforeAll(async () => {
  expect(existsSync(SEA), `${SEA} missing: make build`).toBe(true);
  w = await makeWorld();
}, 120_000);
afterAll(() => w?.stop());

describe('the single executable, every command', () => {
  it('check: nothing cached (fast, docs), then documents cached (fast only); legacy and bundle signatures; refusals', async () => {
    const policy = freshPolicy();
    const config = freshConfig();
    const first = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed')]);
    expect(first.code, first.stderr).toBe(0);
    expect(loaded(first.stderr)).toEqual(['fast', 'docs']);
    const again = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed')]);
    expect(again.code, again.stderr).toBe(0);
    expect(loaded(again.stderr)).toEqual(['fast']);
    const bundle = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed-bundle')]);
    expect(bundle.code, bundle.stderr).toBe(0);
    for (const repo of ['unsigned', 'otherkey']) {
      const r = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref(repo)]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/INTERNAL_ERROR|cannot load/);
    }
  }, 120_000);

  it('check with a hosts.toml (TOML and its schema: the docs bundle, not the cold one), documents cached or not', async () => {
    const certs = tempDir('sigguard-sea-certs-');
    mkdirSync(join(certs, w.registry.host));
    writeFileSync(join(certs, w.registry.host, 'hosts.toml'), `server = "http://${w.registry.host}"\n# ${Date.now()}\n`);
    const policy = freshPolicy();
    const config = freshConfig(`registry:\n  certsDir: ${certs}\n`);
    // the documents validated first (the policy, the config and the registry's hosts.toml): nothing but the fast bundle
    const prime = await sea(['cache', 'prime', '--policy', policy, '--config', config]);
    expect(prime.code, prime.stderr).toBe(0);
    const r = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed')]);
    expect(r.code, r.stderr).toBe(0);
    expect(loaded(r.stderr)).toEqual(['fast']);
    // a hosts.toml changed since: validated by the verification, from the docs bundle
    writeFileSync(join(certs, w.registry.host, 'hosts.toml'), `server = "http://${w.registry.host}"\n# changed ${Date.now()}\n`);
    const changed = await sea(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed')]);
    expect(changed.code, changed.stderr).toBe(0);
    expect(loaded(changed.stderr)).toEqual(['fast', 'docs']);
  }, 60_000);

  it('hook: nothing cached, then its verdict cached', async () => {
    const policy = freshPolicy();
    const config = freshConfig(`node:\n  containerdSocket: /nonexistent/sigguard-sea.sock\n`);
    const log = join(w.cosign.dir, `sea-decisions-${n}.log`);
    const first = await sea(['hook', '--policy', policy, '--config', config, '--log', log], state('c1'));
    expect(first.code, first.stderr).toBe(0);
    const warm = await sea(['hook', '--policy', policy, '--config', config, '--log', log], state('c2'));
    expect(warm.code, warm.stderr).toBe(0);
    expect(loaded(warm.stderr)).toEqual([]);
    const decisions = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).decision);
    expect(decisions).toEqual(['allow', 'allow']);
  }, 60_000);

  it('hooks starting together with an invalid policy (schema, a key that is not one): each refuses with its error, in time, nothing kept', async () => {
    const config = freshConfig(`node:\n  containerdSocket: /nonexistent/sigguard-sea.sock\n`);
    const notAKey = join(w.cosign.dir, 'not-a-key.pub');
    writeFileSync(notAKey, '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    const cases: Array<[string, RegExp]> = [
      [w.policy(`sea-invalid-${++n}.yaml`, `# ${Date.now()}\nversion: 1\ndefault: maybe\n`), /default.*\[POLICY_INVALID\]/],
      [
        w.policy(
          `sea-badkey-${++n}.yaml`,
          `# ${Date.now()}\nversion: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${notAKey}\n`,
        ),
        /not-a-key\.pub.*\[POLICY_INVALID\]/,
      ],
    ];
    for (const [policy, reason] of cases) {
      const log = join(w.cosign.dir, `sea-invalid-${++n}.log`);
      const started = Date.now();
      const runs = await Promise.all(
        Array.from({ length: 6 }, (_, i) => sea(['hook', '--policy', policy, '--config', config, '--log', log], state(`bad-${i}`))),
      );
      // each refused by the policy itself within its deadline (8 s from its own start; a deadline refusal would name DEADLINE)
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const r of runs) {
        expect(r.code, r.stderr).toBe(1);
        expect(
          r.stderr
            .split('\n')
            .filter((l) => l.startsWith('sigguard: '))
            .join('\n'),
        ).toMatch(reason);
      }
      const codes = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).code);
      expect(codes).toEqual(Array(6).fill('POLICY_INVALID'));
    }
    // the configuration is kept (world.ts: its cache folder is the file's name + .cache), neither policy
    const kept = readdirSync(join(`${config}.cache`, 'docs'));
    expect(kept.filter((f) => f.startsWith('policy-'))).toEqual([]);
  }, 60_000);

  it('policy validate (valid, invalid), cache prime, cache list', async () => {
    const ok = await sea(['policy', 'validate', freshPolicy()]);
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await sea(['policy', 'validate', w.policy('sea-bad.yaml', 'version: 1\ndefault: maybe\n')]);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toMatch(/POLICY_INVALID/);
    const config = freshConfig();
    const prime = await sea(['cache', 'prime', '--policy', freshPolicy(), '--config', config]);
    expect(prime.code, prime.stderr).toBe(0);
    const list = await sea(['cache', 'list', '--config', config]);
    expect(list.code, list.stderr).toBe(0);
  }, 60_000);

  it('crio-policy, install-hook --help, trust status, verify-bundle usage, version', async () => {
    const out = tempDir('sigguard-sea-crio-');
    const crio = await sea(['crio-policy', '--policy', freshPolicy(), '--out', out]);
    expect(crio.code, crio.stderr).toBe(0);
    // no per-command --help: a usage error, not a module that failed to load
    const help = await sea(['install-hook', '--help']);
    expect(help.code).toBe(2);
    expect(help.stderr).toMatch(/\[USAGE\]/);
    const hooks = tempDir('sigguard-sea-hooks-');
    const install = await sea(['install-hook', '--hooks-dir', hooks, '--path', SEA]);
    expect(install.code, install.stderr).toBe(0);
    const uninstall = await sea(['install-hook', '--hooks-dir', hooks, '--uninstall']);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const trust = await sea(['trust', 'status', '--out', join(out, 'none.json')]);
    expect(trust.code).toBe(1);
    expect(trust.stderr).toMatch(/TRUST_STALE/);
    const vb = await sea(['verify-bundle', '--bundle', '/nonexistent/b.json', '--key', w.trusted.pub, 'sha256:' + 'a'.repeat(64)]);
    expect(vb.stderr).not.toMatch(/INTERNAL_ERROR|cannot load/);
    const v = await sea(['version']);
    expect(v.code).toBe(0);
  }, 60_000);
});
