/**
 * sigguard agent on a CRI-O node (`--runtime crio`), its files under a node root of the test's
 * (`--crio-root`), CRI-O's CRI socket a stand-in that answers (test/support/fake-crio.ts), the
 * restart mechanism a command that leaves a mark:
 *
 * - the hooks.d file names the executable the agent installed; policy.json, registries.d and the
 *   crio.conf.d drop-in are what `sigguard crio-policy` generates for the policy in force;
 * - a second pass changes nothing and restarts nothing; a policy change regenerates the files
 *   (the two enforcers never drift) without a restart (crio.conf.d unchanged);
 * - a refused policy leaves the CRI-O files of the policy in force; --uninstall puts every file back.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigMapVolume } from '../support/agent-node.js';
import { run, sigguard } from '../support/cli.js';
import { FakeCrio } from '../support/fake-crio.js';
import { ROOT } from '../support/paths.js';
import { snapshot } from '../support/snapshot.js';

const SEA = join(ROOT, 'build/out/sigguard-linux-amd64');
let dir: string;
let root: string;
let etc: string;
let cm: ConfigMapVolume;
let crio: FakeCrio;
let mark: string;

function policy(repo: string, exempt = 'sigguard-system, kube-system'): string {
  return `version: 1\ndefault: reject\nexemptNamespaces: [${exempt}]\nscopes:\n  "registry.example/${repo}":\n    - type: sigstoreSigned\n      keyPath: ${etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`;
}

const agent = (extra: string[] = []) =>
  run(
    join(ROOT, 'bin/sigguard'),
    [
      'agent',
      '--runtime',
      'crio',
      '--crio-root',
      root,
      '--socket',
      crio.socket,
      '--source',
      cm.dir,
      '--etc',
      etc,
      '--install-path',
      join(dir, 'opt/sigguard/bin/sigguard'),
      '--binary',
      SEA,
      '--log',
      join(dir, 'decisions.log'),
      '--restart',
      `command:${JSON.stringify(['touch', mark])}`,
      '--once',
      '--host-root',
      '/', // the node is this machine (no crio process to take the root of)
      ...extra,
    ],
    { timeoutMs: 60_000 },
  );

let pub: string;
let before: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync('/tmp/sgc-');
  root = join(dir, 'node');
  etc = join(dir, 'etc/sigguard');
  mark = join(dir, 'restarted');
  cm = new ConfigMapVolume(join(dir, 'cm'));
  crio = await FakeCrio.start();
  pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  // the node before: another tool's registries.d file, and a hooks.d file from a hand install
  mkdirSync(join(root, 'etc/containers/registries.d'), { recursive: true });
  writeFileSync(join(root, 'etc/containers/registries.d/default.yaml'), 'docker:\n  quay.io:\n    use-sigstore-attachments: false\n');
  mkdirSync(join(root, 'usr/share/containers/oci/hooks.d'), { recursive: true });
  writeFileSync(join(root, 'usr/share/containers/oci/hooks.d/sigguard.json'), '{"hand": "installed"}\n');
  before = snapshot(root);
});

afterAll(async () => {
  await crio?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sigguard agent on a CRI-O node', () => {
  it('writes hooks.d and crio-policy’s files, regenerates them on a policy change, restarts only for crio.conf.d, uninstalls exactly', async () => {
    cm.publish({ 'policy.yaml': policy('app'), 'keys/cosign.pub': pub });
    const r = await agent();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(existsSync(mark)).toBe(true); // the crio.conf.d drop-in was new: CRI-O restarted (reloaded)
    const hook = JSON.parse(readFileSync(join(root, 'usr/share/containers/oci/hooks.d/sigguard.json'), 'utf8'));
    expect(hook.hook.path).toBe(join(dir, 'opt/sigguard/bin/sigguard'));
    expect(hook.hook.args).toEqual([
      'sigguard',
      'hook',
      '--policy',
      `${etc}/policy.yaml`,
      '--config',
      `${etc}/config.yaml`,
      '--log',
      join(dir, 'decisions.log'),
    ]);
    expect(hook.stages).toEqual(['createRuntime']);
    // the same files as sigguard crio-policy makes for the policy in force
    const out = join(dir, 'crio-out');
    const gen = await sigguard(['crio-policy', '--policy', join(etc, 'policy.yaml'), '--out', out]);
    expect(gen.code, gen.stderr).toBe(0);
    for (const [generated, onNode] of [
      ['policy.json', 'etc/crio/sigguard/policy.json'],
      ['registries.d/sigguard.yaml', 'etc/containers/registries.d/sigguard.yaml'],
      ['crio.conf.d/10-sigguard.conf', 'etc/crio/crio.conf.d/10-sigguard.conf'],
    ]) {
      expect(readFileSync(join(root, onNode as string), 'utf8'), onNode).toBe(readFileSync(join(out, generated as string), 'utf8'));
    }
    expect(readFileSync(join(root, 'etc/crio/sigguard/policy.json'), 'utf8')).toContain('registry.example/app');
    expect(existsSync(join(root, 'etc/crio/sigguard/policies/sigguard-system.json'))).toBe(true);
    expect(readFileSync(join(root, 'etc/containers/registries.d/default.yaml'), 'utf8')).toBe(
      before['etc/containers/registries.d/default.yaml'],
    );

    // again: nothing changes, nothing restarts
    rmSync(mark);
    const again = await agent();
    expect(again.code).toBe(0);
    expect(existsSync(mark)).toBe(false);

    // a policy change: the CRI-O files follow it; crio.conf.d unchanged, so no restart
    expect(existsSync(join(root, 'etc/crio/sigguard/policies/kube-system.json'))).toBe(true);
    cm.publish({ 'policy.yaml': policy('other', 'sigguard-system'), 'keys/cosign.pub': pub });
    expect((await agent()).code).toBe(0);
    // kube-system no longer exempt: its namespace policy goes, or CRI-O would keep exempting it
    expect(existsSync(join(root, 'etc/crio/sigguard/policies/kube-system.json'))).toBe(false);
    expect(existsSync(join(root, 'etc/crio/sigguard/policies/sigguard-system.json'))).toBe(true);
    const json = readFileSync(join(root, 'etc/crio/sigguard/policy.json'), 'utf8');
    expect(json).toContain('registry.example/other');
    expect(json).not.toContain('registry.example/app');
    expect(existsSync(mark)).toBe(false);

    // a refused policy (drops the agent's exemption): the CRI-O files of the policy in force stay
    cm.publish({ 'policy.yaml': 'version: 1\ndefault: accept\n', 'keys/cosign.pub': pub });
    const refused = await agent();
    expect(refused.stdout).toContain('refused');
    expect(readFileSync(join(root, 'etc/crio/sigguard/policy.json'), 'utf8')).toBe(json);

    // uninstall: the node as it was (the hand-installed hooks.d file back)
    const u = await agent(['--uninstall']);
    expect(u.code, u.stdout + u.stderr).toBe(0);
    expect(snapshot(root)).toEqual(before);
  }, 240_000);
});
