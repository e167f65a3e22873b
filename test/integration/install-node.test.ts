/**
 * install-node on containerd configurations as Kind and containerd write
 * them: the hook reaches the base spec of every runtime handler, a handler
 * without one gets one, containerd itself still reads the result, and
 * --uninstall takes back exactly what install did.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { sigguard } from '../support/cli.js';
import { ROOT } from '../support/paths.js';

const BIN = { '1.7': resolve(ROOT, '.tools/containerd-1.7/bin'), '2.1': resolve(ROOT, '.tools/containerd-2.1/bin') };

function setup(version: '1.7' | '2.1', toml: (dir: string) => string, withKindSpec: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-node-'));
  mkdirSync(join(dir, 'etc/containerd'), { recursive: true });
  const config = join(dir, 'etc/containerd/config.toml');
  writeFileSync(config, toml(dir));
  if (withKindSpec) {
    const spec = JSON.parse(execFileSync(join(BIN[version], 'ctr'), ['oci', 'spec']).toString());
    spec.hooks = { createContainer: [{ path: '/kind/bin/mount-product-files.sh' }] };
    writeFileSync(join(dir, 'etc/containerd/cri-base.json'), JSON.stringify(spec, null, 2));
  }
  return { dir, config, state: join(dir, 'etc/sigguard/installed.json') };
}

const install = (version: '1.7' | '2.1', s: ReturnType<typeof setup>, extra: string[] = []) =>
  sigguard(['install-node', '--containerd-config', s.config, '--state', s.state, '--ctr', join(BIN[version], 'ctr'), ...extra]);

const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const toml = (f: string) => parseToml(readFileSync(f, 'utf8'));

/** containerd itself must still read the configuration. */
function containerdReads(version: '1.7' | '2.1', config: string): string {
  return execFileSync(join(BIN[version], 'containerd'), ['--config', config, 'config', 'dump'], { encoding: 'utf8' });
}

const kind17 = (dir: string) => `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "${dir}/etc/containerd/cri-base.json"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]
  runtime_type = "io.containerd.runc.v2"
`;
const kind21 = (dir: string) => `version = 3
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "${dir}/etc/containerd/cri-base.json"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.gvisor]
  runtime_type = "io.containerd.runsc.v1"
`;

describe.each([
  ['1.7', kind17],
  ['2.1', kind21],
] as const)('containerd %s, Kind-shaped configuration', (version, toml17or21) => {
  it('hooks every handler, gives one a base spec, and uninstalls exactly', async () => {
    const s = setup(version, toml17or21, true);
    const beforeConfig = toml(s.config);
    const beforeSpec = json(join(s.dir, 'etc/containerd/cri-base.json'));
    const r = await install(version, s);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sigguard hook in 2 runtime handlers/);
    const cfg = toml(s.config) as any;
    const runtimes = version === '1.7' ? cfg.plugins['io.containerd.grpc.v1.cri'].containerd.runtimes : cfg.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes;
    const other = version === '1.7' ? 'test-handler' : 'gvisor';
    expect(runtimes.runc.base_runtime_spec).toBe(`${s.dir}/etc/containerd/cri-base.json`);
    expect(runtimes[other].base_runtime_spec).toBe(`${s.dir}/etc/containerd/sigguard-base-${other}.json`);
    for (const f of [runtimes.runc.base_runtime_spec, runtimes[other].base_runtime_spec]) {
      expect(json(f).hooks.createRuntime).toEqual([{ path: '/usr/local/bin/sigguard', args: ['sigguard', 'hook'], timeout: 10 }]);
    }
    expect(json(runtimes.runc.base_runtime_spec).hooks.createContainer).toEqual([{ path: '/kind/bin/mount-product-files.sh' }]);
    expect(containerdReads(version, s.config)).toContain('sigguard-base-');

    expect((await install(version, s)).code).toBe(0); // idempotent
    expect(toml(s.config)).toEqual(cfg);

    const u = await install(version, s, ['--uninstall']);
    expect(u.code, u.stderr).toBe(0);
    expect(toml(s.config)).toEqual(beforeConfig);
    expect(json(join(s.dir, 'etc/containerd/cri-base.json'))).toEqual(beforeSpec);
    expect(existsSync(`${s.dir}/etc/containerd/sigguard-base-${other}.json`)).toBe(false);
    expect(existsSync(s.state)).toBe(false);
    containerdReads(version, s.config);
  });
});

describe('install-node edge cases', () => {
  it('an empty version 3 config: containerd’s implicit runc handler is made explicit, then removed again', async () => {
    const s = setup('2.1', () => 'version = 3\n', false);
    const r = await install('2.1', s, ['--path', '/opt/sigguard', '--', '--deadline', '5']);
    expect(r.code, r.stderr).toBe(0);
    const cfg = toml(s.config) as any;
    const spec = cfg.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc.base_runtime_spec;
    expect(json(spec).hooks.createRuntime[0]).toEqual({ path: '/opt/sigguard', args: ['sigguard', 'hook', '--deadline', '5'], timeout: 10 });
    expect(containerdReads('2.1', s.config)).toContain(spec);
    await install('2.1', s, ['--uninstall']);
    expect((toml(s.config) as any).plugins['io.containerd.cri.v1.runtime'].containerd.runtimes).toEqual({});
    expect(existsSync(spec)).toBe(false);
  });

  it('refuses a version 1 config with the reason, exit 2', async () => {
    const s = setup('1.7', () => '[plugins.cri]\n', false);
    const r = await install('1.7', s);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config version \(none, i\.e\. 1\) is not supported/);
  });
});
