/**
 * sigguard agent's policy sync (src/agent/config-sync.ts): a mounted ConfigMap folder (laid out as
 * kubelet lays it out: ..data -> a timestamped folder, each name a link through ..data) kept in
 * step with /etc/sigguard. Attack cases: whatever arrives invalid, or drops the agent's own
 * exemption, or carries a private key, never replaces what is in force.
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_LINK, currentGeneration, syncConfig, unsyncConfig } from '../../src/agent/config-sync.js';
import { loadPolicy } from '../../src/policy/load.js';

let dir: string;
let cm: string;
let etc: string;
let n = 0;

const pub = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const policy = (opts: { exempt?: string[]; defaultRule?: string; keyPath?: string } = {}) =>
  [
    'version: 1',
    `default: ${opts.defaultRule ?? 'reject'}`,
    `exemptNamespaces: [${(opts.exempt ?? ['sigguard-system', 'kube-system']).join(', ')}]`,
    'scopes:',
    '  "registry.example/app":',
    '    - type: sigstoreSigned',
    `      keyPath: ${opts.keyPath ?? `${etc}/keys/cosign.pub`}`,
    '',
  ].join('\n');

/** Writes the ConfigMap as kubelet does: a new folder, then one rename of ..data. */
function publish(files: Record<string, string>): void {
  const ts = join(cm, `..2026_11_29_${++n}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(ts, name, '..'), { recursive: true });
    writeFileSync(join(ts, name), text);
  }
  symlinkSync(`..2026_11_29_${n}`, join(cm, '..data_tmp'));
  renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
  for (const top of new Set(Object.keys(files).map((f) => f.split('/')[0] as string))) {
    if (!existsSync(join(cm, top))) symlinkSync(`..data/${top}`, join(cm, top));
  }
}

const sync = (lastRefused?: string) => syncConfig({ sources: [cm], etc, namespace: 'sigguard-system' }, lastRefused);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-sync-'));
  cm = join(dir, 'configmap');
  etc = join(dir, 'etc-sigguard');
  mkdirSync(cm);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('sigguard agent: policy sync from a mounted ConfigMap', () => {
  it('applies a valid set in one swap; the hook loads the policy with its key from the new generation', async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'config.yaml': 'cache:\n  enabled: false\n' });
    const r = await sync();
    expect(r.result).toBe('applied');
    expect(readlinkSync(join(etc, 'policy.yaml'))).toBe(`${DATA_LINK}/policy.yaml`);
    expect(readlinkSync(join(etc, 'keys'))).toBe(`${DATA_LINK}/keys`);
    expect(currentGeneration(etc)).toBe(r.sha256);
    const p = await loadPolicy(join(etc, 'policy.yaml'));
    expect(p.exemptNamespaces).toContain('sigguard-system');
    expect((await sync()).result).toBe('unchanged');
  });

  it('refuses an invalid policy and keeps the one in force, byte for byte; refuses it once, not at every poll', async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    const before = readFileSync(join(etc, 'policy.yaml'), 'utf8');
    const gen = currentGeneration(etc);
    for (const bad of ['version: 1\ndefault: [accept\n', 'version: 1\ndefault: accept\nbogus: 1\n', 'not: a policy\n']) {
      publish({ 'policy.yaml': bad, 'keys/cosign.pub': pub() });
      const r = await sync();
      expect(r.result, bad).toBe('refused');
      expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toBe(before);
      expect(currentGeneration(etc)).toBe(gen);
      expect((await sync(r.sha256)).result).toBe('unchanged');
    }
  });

  it('refuses a policy whose key file is missing or not a key, as the hook would', async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    const gen = currentGeneration(etc);
    publish({ 'policy.yaml': policy({ keyPath: `${etc}/keys/other.pub` }), 'keys/cosign.pub': pub() });
    expect(await sync()).toMatchObject({ result: 'refused', error: expect.stringContaining('other.pub') });
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': 'not a key\n' });
    expect((await sync()).result).toBe('refused');
    expect(currentGeneration(etc)).toBe(gen);
    // the live key in force does not make a new set's missing key pass: the new set is checked on its own
    publish({ 'policy.yaml': policy() });
    expect((await sync()).result).toBe('refused');
  });

  it("refuses a policy that drops the agent's namespace from exemptNamespaces", async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    publish({ 'policy.yaml': policy({ exempt: ['kube-system'] }), 'keys/cosign.pub': pub() });
    const r = await sync();
    expect(r).toMatchObject({ result: 'refused', error: expect.stringContaining('sigguard-system') });
    expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toContain('sigguard-system');
  });

  it('refuses a private key, a missing policy, an invalid config and names that are sigguard’s own', async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    const gen = currentGeneration(etc);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const cases: Array<Record<string, string>> = [
      { 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'keys/cosign.key': key },
      { 'keys/cosign.pub': pub() },
      { 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'config.yaml': 'cache: {enabled: "yes please"}\n' },
      { 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'installed.json': '{}' },
      // the owed-restart marker: a ConfigMap key of that name would stand in for it (a restart owed forever, or lost)
      { 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'agent-restart-pending.json': '{}' },
    ];
    for (const files of cases) {
      rmSync(cm, { recursive: true });
      mkdirSync(cm);
      publish(files);
      expect((await sync()).result, Object.keys(files).join(',')).toBe('refused');
      expect(currentGeneration(etc)).toBe(gen);
      expect(existsSync(join(etc, 'keys/cosign.key'))).toBe(false);
    }
  });

  it('an agent killed between the ..data rename and its names’ links finishes them at its next pass: the node’s own policy does not stay in force', async () => {
    mkdirSync(etc);
    writeFileSync(join(etc, 'policy.yaml'), 'version: 1\ndefault: accept\nexemptNamespaces: [sigguard-system]\nscopes: {}\n');
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    const r = await sync();
    expect(r.result).toBe('applied');
    // the state a SIGKILL (OOM, node power loss) leaves after the ..data rename, before the links
    rmSync(join(etc, 'keys'));
    renameSync(join(etc, '..preagent', 'policy.yaml'), join(etc, 'policy.yaml'));
    rmSync(join(etc, '..preagent'), { recursive: true });
    symlinkSync('..data/gone.yaml', join(etc, 'gone.yaml')); // a name of the set before, not yet dropped
    expect((await sync()).result).toBe('unchanged');
    expect(readlinkSync(join(etc, 'policy.yaml'))).toBe(`${DATA_LINK}/policy.yaml`);
    expect(readlinkSync(join(etc, 'keys'))).toBe(`${DATA_LINK}/keys`);
    expect(existsSync(join(etc, 'gone.yaml'))).toBe(false);
    expect((await loadPolicy(join(etc, 'policy.yaml'))).default).not.toBe('accept');
    unsyncConfig(etc);
    expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toContain('default: accept'); // the node’s own, back
  });

  it('reads a ConfigMap kubelet is updating as one published version: a name added or dropped by the update, its link not yet made or removed', async () => {
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    // kubelet's atomic writer: ..data renamed to the new version first, the names' links after
    const midUpdate = (files: Record<string, string>) => {
      const ts = `..2026_11_29_${++n}`;
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(cm, ts, name, '..'), { recursive: true });
        writeFileSync(join(cm, ts, name), text);
      }
      symlinkSync(ts, join(cm, '..data_tmp'));
      renameSync(join(cm, '..data_tmp'), join(cm, DATA_LINK));
    };
    const v2 = { 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'config.yaml': 'cache:\n  enabled: false\n' };
    midUpdate(v2); // config.yaml not linked yet: before, the set without it was applied
    const r2 = await sync();
    expect(r2.result).toBe('applied');
    expect(readFileSync(join(etc, 'config.yaml'), 'utf8')).toBe(v2['config.yaml']);
    symlinkSync('..data/config.yaml', join(cm, 'config.yaml'));
    expect((await sync()).result).toBe('unchanged');
    const v3 = { 'policy.yaml': policy(), 'keys/cosign.pub': v2['keys/cosign.pub'] };
    midUpdate(v3); // config.yaml's link still there, dangling: before, refused (and counted) for it
    expect((await sync()).result).toBe('applied');
    expect(existsSync(join(etc, 'config.yaml'))).toBe(false);
  });

  it('reads a ConfigMap mounted below a source folder (deploy/: sigguard-keys at /sources/keys/keys) through its ..data too', async () => {
    publish({ 'policy.yaml': policy({ keyPath: `${etc}/keys/new.pub` }) });
    const keys = join(dir, 'keys-source', 'keys');
    mkdirSync(join(keys, '..v1'), { recursive: true });
    writeFileSync(join(keys, '..v1', 'cosign.pub'), pub());
    symlinkSync('..v1', join(keys, DATA_LINK));
    symlinkSync('..data/cosign.pub', join(keys, 'cosign.pub'));
    const both = () => syncConfig({ sources: [cm, join(dir, 'keys-source')], etc, namespace: 'sigguard-system' });
    expect((await both()).result).toBe('refused'); // no new.pub yet
    // kubelet mid-update: ..data names the version with new.pub, its link not made yet
    mkdirSync(join(keys, '..v2'));
    writeFileSync(join(keys, '..v2', 'new.pub'), pub());
    symlinkSync('..v2', join(keys, '..data_tmp'));
    renameSync(join(keys, '..data_tmp'), join(keys, DATA_LINK));
    expect((await both()).result).toBe('applied');
    expect(existsSync(join(etc, 'keys/new.pub'))).toBe(true);
    expect(existsSync(join(etc, 'keys/cosign.pub'))).toBe(false);
  });

  it('what it syncs is root’s alone to read: a Secret’s registry credentials (config.yaml’s authFiles) are no node user’s', async () => {
    const auths = '{"auths":{"registry.example":{"auth":"dXNlcjpzZWNyZXQ="}}}\n';
    publish({
      'policy.yaml': policy(),
      'keys/cosign.pub': pub(),
      'config.yaml': `registry:\n  authFiles: [${etc}/auth/config.json]\n`,
      'auth/config.json': auths,
    });
    expect((await sync()).result).toBe('applied');
    expect(readFileSync(join(etc, 'auth/config.json'), 'utf8')).toBe(auths);
    for (const f of ['auth/config.json', 'config.yaml', 'policy.yaml', 'keys/cosign.pub']) {
      expect(statSync(join(etc, f)).mode & 0o077, f).toBe(0);
    }
  });

  it('drops names a new set no longer has, keeps one older generation, and unsync puts the node’s own files back', async () => {
    mkdirSync(etc);
    writeFileSync(join(etc, 'policy.yaml'), 'the node’s own policy\n');
    writeFileSync(join(etc, 'installed.json'), '{"install-node":"state"}\n');
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub(), 'config.yaml': 'cache:\n  enabled: false\n' });
    expect((await sync()).result).toBe('applied');
    expect(lstatSync(join(etc, 'policy.yaml')).isSymbolicLink()).toBe(true);
    rmSync(cm, { recursive: true });
    mkdirSync(cm);
    publish({ 'policy.yaml': policy(), 'keys/cosign.pub': pub() });
    expect((await sync()).result).toBe('applied');
    expect(existsSync(join(etc, 'config.yaml'))).toBe(false);
    unsyncConfig(etc);
    expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toBe('the node’s own policy\n');
    expect(readFileSync(join(etc, 'installed.json'), 'utf8')).toBe('{"install-node":"state"}\n');
    expect(existsSync(join(etc, 'keys'))).toBe(false);
    expect(existsSync(join(etc, DATA_LINK))).toBe(false);
  });
});
