/**
 * install-node against real containerd 1.7 and 2.1:
 *
 * - the model of containerd's configuration (main file + imports, merged by
 *   each line's rules) agrees with `containerd config dump` on many shapes,
 *   and after install-node the dump shows every handler with a base spec that
 *   runs sigguard; --uninstall leaves every file byte for byte as it was
 *   (comments, layout, JSON indentation), and no other tool's file is touched;
 * - on a running containerd node, a pod whose RuntimeClass handler is defined
 *   in an imported drop-in (as GPU toolkits install theirs) is refused with an
 *   unsigned image once installed; a handler added after install is reported
 *   by `install-node --check` (exit 1) and guarded by the next install.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ContainerdNode,
  RUNC,
  containerdBins,
  launch,
  nodeMounts,
  nodeProcesses,
  prepareNode,
  restartNode,
  stopNode,
} from '../support/node/containerd-node.js';
import { Kubelet } from '../support/node/kubelet.js';
import { effective, isTable, loadOrder } from '../../src/installer/containerd-effective.js';
import { type Run, sigguard } from '../support/cli.js';
import { ROOT, SIGGUARD, requireTools } from '../support/paths.js';
import { snapshot } from '../support/snapshot.js';
import { tableAt } from '../support/toml.js';
import { type World, makeWorld } from '../support/world.js';
import { tempDir } from '../support/temp.js';

type Version = '1.7' | '2.1';
const VERSIONS = ['1.7', '2.1'] as const;
const SEM = { '1.7': '1.x', '2.1': '2.x' } as const;
const CRI = { '1.7': 'io.containerd.grpc.v1.cri', '2.1': 'io.containerd.cri.v1.runtime' } as const;
const HOOK = { path: '/usr/local/bin/sigguard', args: ['sigguard', 'hook'], timeout: 10 };

/** A runtime table's base_runtime_spec ('' when it has none). */
const baseSpecOf = (runtime: unknown): string => {
  const spec = isTable(runtime) ? runtime.base_runtime_spec : undefined;
  return typeof spec === 'string' ? spec : '';
};

/** The handlers `containerd config dump` shows, with their base specs. */
function dumpHandlers(version: Version, config: string): Record<string, string> {
  const dump = execFileSync(containerdBins(version).containerd, ['--config', config, 'config', 'dump'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ctr = tableAt(parseToml(dump), 'plugins', CRI[version], 'containerd') ?? {};
  const out: Record<string, string> = Object.fromEntries(
    Object.entries(tableAt(ctr, 'runtimes') ?? {}).map(([k, v]) => [k, baseSpecOf(v)]),
  );
  // 1.7's CRI plugin makes handlers of these deprecated tables when they have a runtime_type (config.go, ValidatePluginConfig)
  if (version === '1.7') {
    for (const [table, name] of [
      ['untrusted_workload_runtime', 'untrusted'],
      ['default_runtime', 'default'],
    ] as const) {
      if (tableAt(ctr, table)?.runtime_type) out[name] = baseSpecOf(ctr[table]);
    }
  }
  return out;
}

/** What the model says, in the same shape. */
function modelHandlers(version: Version, config: string): Record<string, string> {
  return Object.fromEntries(effective(loadOrder(config), SEM[version]).handlers.map((h) => [h.name, h.baseSpec ?? '']));
}

const installNode = (version: Version, config: string, state: string, extra: string[] = []): Promise<Run> =>
  sigguard(['install-node', '--containerd-config', config, '--state', state, '--ctr', containerdBins(version).ctr, ...extra]);

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text.replaceAll('$D', dir));
  }
}

const h = (version: Version, name: string, body = 'runtime_type = "io.containerd.runc.v2"') =>
  `[plugins."${CRI[version]}".containerd.runtimes.${name}]\n  ${body}\n`;
const spec = (hooks?: object) =>
  `${JSON.stringify({ ociVersion: '1.1.0', process: { cwd: '/' }, ...(hooks ? { hooks } : {}) }, null, 4)}\n`;

/** Configuration shapes, each a tree under etc/containerd with config.toml as the main file. */
function shapes(version: Version): Record<string, Record<string, string>> {
  const v = version === '1.7' ? 2 : 3;
  const s: Record<string, Record<string, string>> = {
    'a GPU drop-in through a glob, comments everywhere': {
      'config.toml': `# the operator's config\nversion = ${v} # keep\nimports = ["conf.d/*.toml"] # GPU toolkit\n\n# the default handler\n${h(version, 'runc', 'runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "$D/cri-base.json" # Kind')}\n${h(version, 'plain')}`,
      'cri-base.json': spec({ createContainer: [{ path: '/kind/bin/mount-product-files.sh' }] }),
      // 1.x replaces the CRI section with a drop-in's: GPU toolkits for 1.x write it whole
      'conf.d/99-nvidia.toml': `# nvidia-ctk\nversion = ${v}\n${version === '1.7' ? `${h(version, 'runc', 'runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "$D/cri-base.json"')}${h(version, 'plain')}` : ''}${h(version, 'nvidia')}[plugins."${CRI[version]}".containerd.runtimes.nvidia.options]\n  BinaryName = "/usr/bin/nvidia-container-runtime"\n`,
      'conf.d/README': 'not a toml: not imported\n',
    },
    'the CRI section in config.toml itself (Kind), odd quoting and comments': {
      'config.toml': `# Kind\nversion = ${v}\n\n[plugins.'${CRI[version]}'.containerd]\n  default_runtime_name = "runc" # runc\n\n  [plugins."${CRI[version]}".containerd.runtimes.runc]\n    runtime_type = "io.containerd.runc.v2"\n    base_runtime_spec = "$D/cri-base.json"\n\n  [ plugins . "${CRI[version]}" . containerd . runtimes . "test-handler" ] # RuntimeClass tests\n    runtime_type = "io.containerd.runc.v2"\n\n    [plugins."${CRI[version]}".containerd.runtimes.test-handler.options]\n      SystemdCgroup = false\n`,
      'cri-base.json': `${JSON.stringify({ ociVersion: '1.1.0', hooks: { createContainer: [{ path: '/kind/bin/mount-product-files.sh' }] } }, null, '\t')}\n`,
    },
    'nested imports, relative and absolute, a later file with the same handler': {
      'config.toml': `version = ${v}\nimports = ["a.toml", "$D/c.toml"]\n`,
      'a.toml': `imports = ["sub/b.toml"]\n${h(version, 'kata', 'runtime_type = "io.containerd.kata.v2"\n  base_runtime_spec = "$D/kata.json"')}`,
      'sub/b.toml': h(version, 'kata', 'runtime_type = "io.containerd.kata.v2"\n  privileged_without_host_devices = true'),
      'c.toml': h(version, 'gvisor', 'runtime_type = "io.containerd.runsc.v1"'),
      'kata.json': spec(),
    },
    'an empty main file': { 'config.toml': `version = ${v}\n` },
    'handlers only in a drop-in with a character class glob': {
      'config.toml': `version = ${v}\nimports = ["d/[0-9]*.toml"]\n[debug]\n  level = "info"\n`,
      'd/10-a.toml': h(version, 'a'),
      'd/x-b.toml': h(version, 'b'),
    },
  };
  if (version === '1.7') {
    s['1.x: the deprecated untrusted_workload_runtime and default_runtime tables are handlers too'] = {
      'config.toml': `version = 2\nimports = ["u.toml"]\n`,
      'u.toml': `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.untrusted_workload_runtime]\n  runtime_type = "io.containerd.kata.v2"\n[plugins."io.containerd.grpc.v1.cri".containerd.default_runtime]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "$D/d.json"\n`,
      'd.json': spec(),
    };
  }
  if (version === '2.1') {
    s['2.x: a later empty base_runtime_spec clears one'] = {
      'config.toml': `version = 3\nimports = ["z.toml"]\n${h(version, 'runc', 'base_runtime_spec = "$D/cri-base.json"')}${h(version, 'other', 'base_runtime_spec = "$D/cri-base.json"')}`,
      'z.toml': `version = 3\n${h(version, 'other', 'base_runtime_spec = ""')}`,
      'cri-base.json': spec(),
    };
    s['2.x: a version 2 main file and a drop-in without a version, short plugin name'] = {
      'config.toml': `version = 2\nimports = ["old.toml"]\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.v2h]\n  runtime_type = "io.containerd.runc.v2"\n`,
      'old.toml': '[plugins.cri.containerd.runtimes.legacy]\n  runtime_type = "io.containerd.runc.v2"\n',
    };
  }
  return s;
}

beforeAll(() => {
  requireTools(SIGGUARD, ...VERSIONS.flatMap((v) => [containerdBins(v).containerd, containerdBins(v).ctr]));
});

describe.each(VERSIONS)('containerd %s: configuration', (version) => {
  for (const [name, files] of Object.entries(shapes(version))) {
    it(`${name}: the model agrees with config dump; install guards every handler, --check, uninstall byte for byte`, async () => {
      const dir = tempDir('sigguard-node-');
      const etc = join(dir, 'etc/containerd');
      writeTree(etc, files);
      const config = join(etc, 'config.toml');
      const state = join(dir, 'etc/sigguard/installed.json');
      expect(modelHandlers(version, config)).toEqual(dumpHandlers(version, config));
      const before = snapshot(etc);

      const r = await installNode(version, config, state);
      if (version === '1.7' && name.startsWith('nested')) {
        // 1.x: sub/b.toml loads last (breadth first) and replaces the CRI section: no drop-in can follow it
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/cannot guard runtime handler kata: .*sub\/b.toml loads after the drop-in/);
        expect(snapshot(etc)).toEqual(before);
        return;
      }
      expect(r.code, r.stderr).toBe(0);
      const dumped = dumpHandlers(version, config);
      expect(Object.keys(dumped).sort()).toEqual(Object.keys(modelHandlers(version, config)).sort());
      expect(modelHandlers(version, config)).toEqual(dumped);
      for (const [handler, file] of Object.entries(dumped)) {
        expect(file, handler).not.toBe('');
        expect(JSON.parse(readFileSync(file, 'utf8')).hooks.createRuntime[0], `${handler}: ${file}`).toEqual(HOOK);
      }
      // no file of another tool changed; config.toml only by the import line
      const during = snapshot(etc);
      for (const [f, text] of Object.entries(before)) {
        if (f === 'config.toml' || f.endsWith('.json')) continue;
        expect(during[f], f).toBe(text);
      }
      const c = await installNode(version, config, state, ['--check']);
      expect(c.code, c.stdout + c.stderr).toBe(0);
      expect(c.stdout).toMatch(/^all \d+ runtime handlers? of .* run sigguard/);

      expect((await installNode(version, config, state)).code).toBe(0); // again: same bytes
      expect(snapshot(etc)).toEqual(during);

      const u = await installNode(version, config, state, ['--uninstall']);
      expect(u.code, u.stderr).toBe(0);
      expect(u.stderr).toBe('');
      expect(snapshot(etc)).toEqual(before);
      expect(existsSync(state)).toBe(false);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  it('a handler added after install: --check names it and exits 1; the next install guards it', async () => {
    const dir = tempDir('sigguard-node-');
    const etc = join(dir, 'etc/containerd');
    writeTree(etc, shapes(version)['a GPU drop-in through a glob, comments everywhere']!);
    const config = join(etc, 'config.toml');
    const state = join(dir, 'etc/sigguard/installed.json');
    const before = snapshot(etc);
    expect((await installNode(version, config, state)).code).toBe(0);
    // 2.x: any new drop-in; 1.x: the tool rewrites the drop-in that holds the CRI section
    const late = version === '2.1' ? 'conf.d/50-late.toml' : 'conf.d/99-nvidia.toml';
    const lateText = version === '2.1' ? h(version, 'late') : `${readFileSync(join(etc, late), 'utf8')}${h(version, 'late')}`;
    const original = before[late];
    writeFileSync(join(etc, late), lateText);
    const c = await installNode(version, config, state, ['--check']);
    expect(c.code).toBe(1);
    if (version === '2.1')
      expect(c.stdout).toMatch(/^unguarded runtime handler late: it has no base_runtime_spec \(defined in .*50-late.toml\)$/m);
    else expect(c.stdout).toMatch(/drop-in .* differs from .*99-nvidia.toml now/);
    expect((await installNode(version, config, state)).code).toBe(0);
    expect((await installNode(version, config, state, ['--check'])).code).toBe(0);
    expect(dumpHandlers(version, config).late).toMatch(/sigguard-base-late.json$/);
    expect((await installNode(version, config, state, ['--uninstall'])).code).toBe(0);
    if (original === undefined) rmSync(join(etc, late));
    else writeFileSync(join(etc, late), original);
    expect(snapshot(etc)).toEqual(before);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--check without an install: every handler unguarded, exit 1', async () => {
    const dir = tempDir('sigguard-node-');
    writeTree(join(dir, 'etc/containerd'), shapes(version)['nested imports, relative and absolute, a later file with the same handler']!);
    const c = await installNode(version, join(dir, 'etc/containerd/config.toml'), join(dir, 'state.json'), [
      '--check',
      '--containerd',
      containerdBins(version).containerd,
    ]);
    expect(c.code).toBe(1);
    if (version === '2.1') expect(c.stdout).toMatch(/^unguarded runtime handler gvisor: it has no base_runtime_spec/m);
    expect(c.stdout).toMatch(/^unguarded runtime handler kata: .*(no sigguard hook|no base_runtime_spec)/m);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('install-node edge cases', () => {
  it('refuses a version 1 config with the reason, exit 2', async () => {
    const dir = tempDir('sigguard-node-');
    writeFileSync(join(dir, 'config.toml'), '[plugins.cri]\n');
    const r = await installNode('1.7', join(dir, 'config.toml'), join(dir, 'state.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config version \(none, i\.e\. 1\) is not supported/);
  });

  it('a symlinked config.toml given by a relative path: the link stays, paths written are absolute, uninstall byte for byte', async () => {
    const dir = tempDir('sigguard-node-');
    writeTree(dir, { 'real/config.toml': `# mine\nversion = 3\n${h('2.1', 'x')}` });
    symlinkSync('real/config.toml', join(dir, 'config.toml'));
    const before = snapshot(join(dir, 'real'));
    const args = ['install-node', '--containerd-config', 'config.toml', '--state', 'state.json', '--ctr', containerdBins('2.1').ctr];
    const r = await sigguard(args, { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(dir, 'config.toml')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real/config.toml'), 'utf8')).toContain(
      `imports = [${JSON.stringify(join(dir, 'sigguard-handlers.toml'))}]`,
    );
    expect(dumpHandlers('2.1', join(dir, 'config.toml'))).toEqual({
      runc: join(dir, 'sigguard-base-runc.json'),
      x: join(dir, 'sigguard-base-x.json'),
    });
    expect((await sigguard([...args, '--uninstall'], { cwd: dir })).code).toBe(0);
    expect(lstatSync(join(dir, 'config.toml')).isSymbolicLink()).toBe(true);
    expect(snapshot(join(dir, 'real'))).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(['config.toml', 'real']);
  });

  it('an install by an earlier sigguard (its state, config.toml re-serialised) is still uninstalled; install asks for that first', async () => {
    const dir = tempDir('sigguard-node-');
    const hooked = spec({ createRuntime: [HOOK] });
    writeTree(dir, {
      'config.toml': `version = 3\n\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\nruntime_type = "io.containerd.runc.v2"\nbase_runtime_spec = "$D/sigguard-base-runc.json"\n`,
      'sigguard-base-runc.json': hooked,
      'state.json': JSON.stringify({
        containerdConfig: join(dir, 'config.toml'),
        records: [
          { handler: 'runc', specFile: join(dir, 'sigguard-base-runc.json'), createdSpec: true, setBaseSpec: true, createdHandler: true },
        ],
      }),
    });
    const again = await installNode('2.1', join(dir, 'config.toml'), join(dir, 'state.json'));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/from an earlier sigguard: run install-node --uninstall with it first/);
    const u = await installNode('2.1', join(dir, 'config.toml'), join(dir, 'state.json'), ['--uninstall']);
    expect(u.code, u.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['config.toml']);
    expect(
      tableAt(
        parseToml(readFileSync(join(dir, 'config.toml'), 'utf8')),
        'plugins',
        'io.containerd.cri.v1.runtime',
        'containerd',
        'runtimes',
      ),
    ).toEqual({});
  });

  it('refuses a missing import (containerd would not start) and changes nothing', async () => {
    const dir = tempDir('sigguard-node-');
    writeFileSync(join(dir, 'config.toml'), 'version = 3\nimports = ["gone.toml"]\n');
    const r = await installNode('2.1', join(dir, 'config.toml'), join(dir, 'state.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/gone.toml, imported by .*config.toml, does not exist/);
    expect(readdirSync(dir)).toEqual(['config.toml']);
  });
});

// ---- pods on a running node -----------------------------------------------------------------

let w: World;
afterAll(async () => {
  await w?.stop();
});

describe.each(VERSIONS)('containerd %s node: RuntimeClass handlers from drop-ins', (version) => {
  let node: ContainerdNode;
  let kubelet: Kubelet;
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    requireTools(RUNC, containerdBins(version).shim);
    w ??= await makeWorld();
    dir = mkdtempSync('/tmp/sgi-');
    node = await prepareNode({ version, registryHost: w.registry.host, aliasHost: w.registry.host, dir, layout: 'kind' });
    await launch(node);
    kubelet = new Kubelet(node);
  }, 120_000);

  afterAll(async () => {
    if (!node) return;
    const errors = kubelet ? await kubelet.cleanup() : [];
    kubelet?.close();
    const forced = await stopNode(node);
    console.log(`containerd ${version}: cleanup errors ${JSON.stringify(errors)}, forced ${JSON.stringify(forced)}`);
    expect(nodeProcesses(node)).toEqual([]);
    if (nodeMounts(node).length === 0 && !process.env.SIGGUARD_KEEP_NODE) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const pod = (image: string, runtimeHandler: string) =>
    kubelet.runPod({ image, name: `pod-${++n}`, namespace: 'default', runtimeHandler });

  it('a handler from an imported drop-in and one added after install refuse unsigned images; uninstall is byte-exact', async () => {
    const etc = dirname(node.config);
    const opts = `[plugins."${CRI[version]}".containerd.runtimes.%s.options]\n  BinaryName = ${JSON.stringify(RUNC)}\n  Root = ${JSON.stringify(node.runcRoot)}\n  SystemdCgroup = false\n`;
    const handler = (name: string) => `${h(version, name)}${opts.replace('%s', name)}`;
    // the GPU toolkit's way: an import line in config.toml, its handler in conf.d/
    const main = readFileSync(node.config, 'utf8');
    writeFileSync(
      node.config,
      main.replace(/^version = \d\n/m, (l) => `${l}imports = ["conf.d/*.toml"]\n`),
    );
    const criSection =
      version === '1.7'
        ? main.slice(main.indexOf('[plugins."io.containerd.grpc.v1.cri"]'), main.indexOf('[plugins."io.containerd.nri.v1.nri"]'))
        : '';
    mkdirSync(join(etc, 'conf.d'));
    writeFileSync(
      join(etc, 'conf.d/99-gpu.toml'),
      `# the GPU toolkit's drop-in\nversion = ${version === '1.7' ? 2 : 3}\n${criSection}\n${handler('gpu')}`,
    );
    await restartNode(node);
    const unsigned = w.ref('unsigned');
    const signed = w.ref('signed');
    // before install: the drop-in's handler runs anything
    expect((await pod(unsigned, 'gpu')).ok).toBe(true);

    const before = snapshot(etc);
    const sg = join(dir, 'sigguard');
    const log = join(sg, 'decisions.log');
    const config = join(dir, 'sigguard-config.yaml');
    writeFileSync(
      config,
      `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${join(sg, 'cache')}\n`,
    );
    const policy = w.policy(
      `handlers-${version}.yaml`,
      `version: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
    );
    const state = join(dir, 'etc/sigguard/installed.json');
    const install = (extra: string[] = []) =>
      installNode(version, node.config, state, [
        '--containerd',
        containerdBins(version).containerd,
        '--path',
        join(ROOT, 'bin/sigguard'),
        ...extra,
        '--',
        '--policy',
        policy,
        '--log',
        log,
        '--config',
        config,
      ]);
    const r = await install();
    expect(r.code, r.stderr).toBe(0);
    console.log(`containerd ${version}: ${r.stdout.trim()}`);
    await restartNode(node);

    for (const handlerName of ['runc', 'test-handler', 'gpu']) {
      const denied = await pod(unsigned, handlerName);
      expect(denied.ok, `${handlerName}: unsigned ran`).toBe(false);
      expect(denied.stage).toBe('start');
      expect(denied.error).toContain('[NO_SIGNATURE]');
      const ok = await pod(signed, handlerName);
      expect(ok.ok, `${handlerName}: ${ok.error}`).toBe(true);
    }

    // a handler added after install
    const lateFile = version === '2.1' ? 'conf.d/50-late.toml' : 'conf.d/99-gpu.toml';
    const lateBefore = before[lateFile];
    writeFileSync(join(etc, lateFile), `${lateBefore ?? `version = 3\n`}\n${handler('late')}`);
    await restartNode(node);
    const c = await install(['--check']);
    expect(c.code, c.stdout).toBe(1);
    console.log(`containerd ${version}: --check after a handler was added:\n${c.stdout.trim()}`);
    const early = await pod(unsigned, 'late');
    // 2.x: the new handler exists and is unguarded until the next install (what --check is for);
    // 1.x: sigguard's drop-in still holds the CRI section it copied, so containerd has no `late` yet
    if (version === '2.1') expect(early.ok).toBe(true);
    else expect(early.error).toMatch(/no runtime for "late"/);
    expect((await install()).code).toBe(0);
    expect((await install(['--check'])).code).toBe(0);
    await restartNode(node);
    const late = await pod(unsigned, 'late');
    expect(late.ok).toBe(false);
    expect(late.error).toContain('[NO_SIGNATURE]');
    expect((await pod(signed, 'late')).ok).toBe(true);

    const u = await installNode(version, node.config, state, ['--uninstall']);
    expect(u.code, u.stderr).toBe(0);
    if (lateBefore === undefined) rmSync(join(etc, lateFile));
    else writeFileSync(join(etc, lateFile), lateBefore);
    expect(snapshot(etc)).toEqual(before);
    expect(statSync(node.config).isFile()).toBe(true);
    await restartNode(node);
    expect((await pod(unsigned, 'gpu')).ok).toBe(true);
  }, 240_000);
});
