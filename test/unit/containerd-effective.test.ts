/**
 * containerd's configuration as containerd loads it (load order, globs,
 * merge rules of 1.x and 2.x, the implicit runc handler) and the splices
 * install-node makes (JSON base specs, config.toml's imports), undone byte
 * for byte. The same shapes are checked against `containerd config dump` of
 * real 1.7 and 2.1 binaries in test/integration/install-node.test.ts.
 */
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConfigFs,
  type Table,
  effective,
  goClean,
  goGlob,
  loadOrder,
  resolveImports,
  semanticsFromVersion,
} from '../../src/installer/containerd-effective.js';
import { Overlay, checkNode, planInstall, planUninstall } from '../../src/installer/node-plan.js';
import { addHookText, addImportText, setTableKeyText, undoEdit } from '../../src/installer/text-edit.js';

function memFs(files: Record<string, string>): ConfigFs {
  return {
    read: (p) => files[p],
    list: (d) => [
      ...new Set(
        Object.keys(files)
          .filter((f) => posix.dirname(f) === d)
          .map((f) => posix.basename(f)),
      ),
    ],
    exists: (p) => p in files || Object.keys(files).some((f) => f.startsWith(`${p}/`)),
  };
}

const V2 = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes';
const V3 = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes';
const names = (e: ReturnType<typeof effective>) => e.handlers.map((h) => `${h.name}=${h.baseSpec ?? '-'}`);

describe('load order and imports (resolveImports, LoadConfig)', () => {
  it('cleans, joins relative imports to the importing file, globs only with *', () => {
    const fs = memFs({ '/e/c/conf.d/b.toml': '', '/e/c/conf.d/a.toml': '', '/e/c/conf.d/.h.toml': '', '/e/c/x?.toml': '' });
    expect(resolveImports('/e/c/config.toml', ['conf.d/*.toml', '/abs/../e/./c/z.toml', 'x?.toml'], fs)).toEqual([
      '/e/c/conf.d/.h.toml',
      '/e/c/conf.d/a.toml',
      '/e/c/conf.d/b.toml',
      '/e/c/z.toml',
      '/e/c/x?.toml',
    ]);
    expect(goClean('a//b/../c/')).toBe('a/c');
    expect(goGlob('/e/c/conf.d/[ab].toml', fs)).toEqual(['/e/c/conf.d/a.toml', '/e/c/conf.d/b.toml']);
    expect(goGlob('/e/c/conf.d/[^a].toml', fs)).toEqual(['/e/c/conf.d/b.toml']);
  });

  it('breadth first, each file once (circular imports), a missing plain import is an error', () => {
    const fs = memFs({
      '/c/main.toml': 'version = 3\nimports = ["a.toml", "b.toml"]\n',
      '/c/a.toml': 'imports = ["n.toml", "main.toml"]\n',
      '/c/b.toml': 'imports = ["a.toml"]\n',
      '/c/n.toml': '',
    });
    expect(loadOrder('/c/main.toml', fs).map((f) => f.path)).toEqual(['/c/main.toml', '/c/a.toml', '/c/b.toml', '/c/n.toml']);
    expect(() => loadOrder('/c/main.toml', memFs({ '/c/main.toml': 'imports = ["gone.toml"]' }))).toThrow(
      /gone.toml, imported by \/c\/main.toml, does not exist/,
    );
    expect(loadOrder('/c/main.toml', memFs({ '/c/main.toml': 'imports = ["none/*.toml"]' })).length).toBe(1);
  });
});

describe('merge rules', () => {
  const files = {
    '/c/config.toml': `version = 2\nimports = ["conf.d/*.toml"]\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "p"\n${V2}.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/a.json"\n`,
    '/c/conf.d/nv.toml': `version = 2\n${V2}.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n`,
  };

  it('1.x: a drop-in with a CRI section replaces the whole section (runc and sandbox_image are gone)', () => {
    const e = effective(loadOrder('/c/config.toml', memFs(files)), '1.x');
    expect(names(e)).toEqual(['nvidia=-']);
    expect(e.criSource).toBe('/c/conf.d/nv.toml');
    expect((e.plugins['io.containerd.grpc.v1.cri'] as Table).sandbox_image).toBeUndefined();
  });

  it('2.x: merged key by key; runc always exists; a v2 config stays at the v2 path (migrated later)', () => {
    const e = effective(loadOrder('/c/config.toml', memFs(files)), '2.x');
    expect(names(e)).toEqual(['nvidia=-', 'runc=/a.json']);
    expect(e.version).toBe(2);
    expect(e.runtimesPath).toEqual(['io.containerd.grpc.v1.cri', 'containerd', 'runtimes']);
    expect(e.handlers.find((h) => h.name === 'nvidia')!.definedIn).toEqual(['/c/conf.d/nv.toml']);
  });

  it('2.x: later values replace earlier ones, empty strings included; tables merge', () => {
    const fs = memFs({
      '/c/config.toml': `version = 3\nimports = ["b.toml"]\n${V3}.x]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/a.json"\n${V3}.y]\n  base_runtime_spec = "/y.json"\n`,
      '/c/b.toml': `${V3}.x]\n  base_runtime_spec = ""\n${V3}.y.options]\n  BinaryName = "/y"\n`,
    });
    const e = effective(loadOrder('/c/config.toml', fs), '2.x');
    expect(names(e)).toEqual(['runc=-', 'x=-', 'y=/y.json']);
    expect(e.handlers.find((h) => h.name === 'runc')!.implicit).toBe(true);
  });

  it('2.x: a file without a version has short plugin names migrated; 1.x: runc only when no runtimes table', () => {
    const fs = memFs({
      '/c/config.toml': 'version = 2\nimports = ["old.toml"]\n',
      '/c/old.toml': '[plugins.cri.containerd.runtimes.kata]\n  runtime_type = "io.containerd.kata.v2"\n',
    });
    expect(names(effective(loadOrder('/c/config.toml', fs), '2.x'))).toEqual(['kata=-', 'runc=-']);
    expect(names(effective(loadOrder('/c/config.toml', fs), '1.x'))).toEqual(['runc=-']);
    const noRuntimes = memFs({
      '/c/config.toml': 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "native"\n',
    });
    expect(names(effective(loadOrder('/c/config.toml', noRuntimes), '1.x'))).toEqual(['runc=-']);
  });

  it('1.x: untrusted_workload_runtime and default_runtime with a runtime_type are the handlers untrusted and default', () => {
    const fs = memFs({
      '/c/config.toml': `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.untrusted_workload_runtime]\n  runtime_type = "io.containerd.kata.v2"\n[plugins."io.containerd.grpc.v1.cri".containerd.default_runtime]\n  runtime_type = ""\n`,
    });
    expect(names(effective(loadOrder('/c/config.toml', fs), '1.x'))).toEqual(['runc=-', 'untrusted=-']);
    expect(names(effective(loadOrder('/c/config.toml', fs), '2.x'))).toEqual(['runc=-']);
  });

  it('2.x with merged version 2: the v3 containerd.runtimes wins when present (the CRI plugin migration)', () => {
    const fs = memFs({ '/c/config.toml': `version = 2\n${V2}.a]\n  runtime_type = "x"\n${V3}.b]\n  runtime_type = "x"\n` });
    expect(names(effective(loadOrder('/c/config.toml', fs), '2.x'))).toEqual(['b=-', 'runc=-']);
  });

  it('reads containerd --version lines', () => {
    expect(semanticsFromVersion('containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1')).toBe('1.x');
    expect(semanticsFromVersion('containerd github.com/containerd/containerd/v2 2.1.9+unknown')).toBe('2.x');
    expect(semanticsFromVersion('containerd containerd.io v1.6.33 d2d5')).toBe('1.x');
    expect(semanticsFromVersion('garbage')).toBeUndefined();
  });
});

const ENTRY = { path: '/usr/local/bin/sigguard', args: ['sigguard', 'hook'], timeout: 10 };

describe('JSON splices', () => {
  const cases: Record<string, string> = {
    'no hooks, 2-space': '{\n  "ociVersion": "1.1.0",\n  "process": {\n    "args": ["sh"]\n  }\n}\n',
    'hooks with another stage, tabs': '{\n\t"hooks": {\n\t\t"createContainer": [\n\t\t\t{"path": "/kind/x"}\n\t\t]\n\t},\n\t"z": 1\n}',
    'stage with an entry, 4-space':
      '{\n    "hooks": {\n        "createRuntime": [\n            {\n                "path": "/other"\n            }\n        ]\n    }\n}\n',
    'empty stage list, compact': '{"hooks":{"createRuntime":[]}}',
    'empty object': '{}',
    'an older sigguard entry': '{"hooks": {"createRuntime": [{"path": "/opt/sigguard", "args": ["sigguard", "hook", "--x"]}]}}',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`${name}: the hook first at createRuntime, everything else byte for byte, undone exactly`, () => {
      const r = addHookText(text, 'createRuntime', ENTRY);
      const parsed = JSON.parse(r.text);
      expect(parsed.hooks.createRuntime[0]).toEqual(ENTRY);
      expect(r.edit).toBeDefined();
      expect(undoEdit(r.text, r.edit!)).toBe(text);
      expect(addHookText(r.text, 'createRuntime', ENTRY).edit).toBeUndefined(); // idempotent
    });
  }
  it('keeps the layout of a pretty-printed file', () => {
    const r = addHookText(cases['no hooks, 2-space']!, 'createRuntime', ENTRY);
    expect(r.text).toBe(
      '{\n  "hooks": {\n    "createRuntime": [\n      {\n        "path": "/usr/local/bin/sigguard",\n        "args": [\n          "sigguard",\n          "hook"\n        ],\n        "timeout": 10\n      }\n    ]\n  },\n  "ociVersion": "1.1.0",\n  "process": {\n    "args": ["sh"]\n  }\n}\n',
    );
  });
  it('an undo finds its bytes elsewhere when the file moved around them, and refuses when they are gone', () => {
    const text = cases['no hooks, 2-space']!;
    const r = addHookText(text, 'createRuntime', ENTRY);
    expect(undoEdit(`\n${r.text}`, r.edit!)).toBe(`\n${text}`);
    expect(undoEdit(text, r.edit!)).toBeUndefined();
  });
  it('refuses a base spec that is not a JSON object', () => {
    expect(() => addHookText('[1]', 'createRuntime', ENTRY)).toThrow(/not a JSON object/);
    expect(() => addHookText('{"hooks": []}', 'createRuntime', ENTRY)).toThrow(/hooks is not an object/);
  });
});

describe('config.toml imports splice', () => {
  const cases: Record<string, string> = {
    'no imports, version first': '# operator comment\nversion = 2 # trailing\n\n[plugins."x"]\n  a = 1\n',
    'no version': '# only tables\n[debug]\n  level = "info"\n',
    'imports one line': 'version = 3\nimports = ["/etc/containerd/conf.d/*.toml"] # GPU\n[debug]\n',
    'imports multi-line with comments and trailing comma': 'version = 3\nimports = [\n  \'/a/*.toml\', # a\n  "/b.toml",\n  # done\n]\n',
    'imports empty': 'imports = []\nversion = 2\n',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`${name}: the drop-in imported last, undone byte for byte`, () => {
      const r = addImportText(text, '/etc/containerd/sigguard-handlers.toml');
      expect(undoEdit(r.text, r.edit)).toBe(text);
      expect(r.text.length - text.length).toBeLessThan(60);
    });
  }
  it('refuses what it cannot splice', () => {
    expect(() => addImportText('imports = "x"\n', '/s.toml')).toThrow(/imports is not a list/);
  });
});

describe('config.toml: a key under a handler’s own table (1.x)', () => {
  const T = ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'test-handler'];
  it('one line under the header, indented like the table’s keys; undone byte for byte', () => {
    const text = `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "x"\n\n    [plugins.'io.containerd.grpc.v1.cri' . containerd.runtimes."test-handler"] # Kind\n      runtime_type = "io.containerd.runc.v2"\n`;
    const r = setTableKeyText(text, T, 'base_runtime_spec', '/s.json')!;
    expect(r.text).toContain(`# Kind\n      base_runtime_spec = "/s.json"\n      runtime_type`);
    expect(undoEdit(r.text, r.edit)).toBe(text);
  });
  it('a missing table is appended; dotted-key and inline definitions are left to the drop-in', () => {
    const r = setTableKeyText('version = 2', T, 'base_runtime_spec', '/s.json', { runtime_type: 'io.containerd.runc.v2' })!;
    expect(r.text).toBe(
      'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/s.json"\n',
    );
    expect(
      setTableKeyText(
        '[plugins."io.containerd.grpc.v1.cri".containerd]\nruntimes.test-handler.runtime_type = "x"\n',
        T,
        'base_runtime_spec',
        '/s.json',
      ),
    ).toBeUndefined();
    expect(
      setTableKeyText(
        '[plugins."io.containerd.grpc.v1.cri".containerd]\nruntimes = { test-handler = { runtime_type = "x" } }\n',
        T,
        'base_runtime_spec',
        '/s.json',
      ),
    ).toBeUndefined();
    expect(
      setTableKeyText(
        `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]\nbase_runtime_spec = ""\n`,
        T,
        'base_runtime_spec',
        '/s.json',
      ),
    ).toBeUndefined();
  });
});

describe('planInstall / planUninstall / checkNode on an overlay', () => {
  const main = '/n/etc/containerd/config.toml';
  const base = (extra: Record<string, string>) => ({
    [main]: `# the operator's\nversion = 3\nimports = ["conf.d/*.toml"]\n\n${V3}.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/n/etc/containerd/cri-base.json"\n`,
    '/n/etc/containerd/cri-base.json':
      '{\n  "ociVersion": "1.1.0",\n  "hooks": {\n    "createContainer": [\n      { "path": "/kind/x" }\n    ]\n  }\n}\n',
    '/n/etc/containerd/conf.d/99-nvidia.toml': `version = 3\n${V3}.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n`,
    ...extra,
  });
  const opts = (semantics: '1.x' | '2.x') => ({
    config: main,
    semantics,
    dropIn: '/n/etc/containerd/sigguard-handlers.toml',
    specDir: '/n/etc/containerd',
    entry: ENTRY,
    defaultSpec: () => '{"ociVersion": "1.1.0"}',
  });

  it('2.x: the drop-in handler gets a base spec through sigguard’s drop-in; uninstall restores every byte', () => {
    const files = base({});
    const disk = memFs(files);
    const ov = new Overlay(disk);
    const { state, eff } = planInstall(ov, opts('2.x'));
    expect(names(eff)).toEqual(['nvidia=/n/etc/containerd/sigguard-base-nvidia.json', 'runc=/n/etc/containerd/cri-base.json']);
    expect(ov.read('/n/etc/containerd/conf.d/99-nvidia.toml')).toBe(files['/n/etc/containerd/conf.d/99-nvidia.toml']); // not touched
    expect(ov.read(main)).toContain('imports = ["conf.d/*.toml", "/n/etc/containerd/sigguard-handlers.toml"]');
    expect(checkNode(ov, main, '2.x', state.dropIn).handlers.every((h) => h.guarded)).toBe(true);

    // a handler added after install: --check names it
    ov.write('/n/etc/containerd/conf.d/50-kata.toml', `${V3}.kata]\n  runtime_type = "io.containerd.kata.v2"\n`);
    const c = checkNode(ov, main, '2.x', state.dropIn);
    expect(c.handlers.filter((h) => !h.guarded).map((h) => [h.name, h.why])).toEqual([['kata', 'it has no base_runtime_spec']]);
    ov.remove('/n/etc/containerd/conf.d/50-kata.toml');

    const after = new Overlay(
      memFs(
        Object.fromEntries([...Object.keys(files), ...ov.changes.keys()].map((k) => [k, ov.read(k)!]).filter(([, v]) => v !== undefined)),
      ),
    );
    planUninstall(after, state, (m) => {
      throw new Error(m);
    });
    for (const [f, text] of Object.entries(files)) expect(after.read(f)).toBe(text);
    expect(after.read('/n/etc/containerd/sigguard-handlers.toml')).toBeUndefined();
    expect(after.read('/n/etc/containerd/sigguard-base-nvidia.json')).toBeUndefined();
  });

  it('1.x: the drop-in carries the whole effective CRI section; --check reports it stale when its source changes', () => {
    const files = base({
      [main]: base({})[main]!.replace('version = 3', 'version = 2').replaceAll('io.containerd.cri.v1.runtime', 'io.containerd.grpc.v1.cri'),
    });
    files['/n/etc/containerd/conf.d/99-nvidia.toml'] =
      `version = 2\n${V2}.nvidia]\n  runtime_type = "io.containerd.runc.v2"\n${V2}.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/n/etc/containerd/cri-base.json"\n`;
    const ov = new Overlay(memFs(files));
    const { state, eff } = planInstall(ov, opts('1.x'));
    expect(eff.criSource).toBe('/n/etc/containerd/sigguard-handlers.toml');
    expect(names(eff)).toEqual(['nvidia=/n/etc/containerd/sigguard-base-nvidia.json', 'runc=/n/etc/containerd/cri-base.json']);
    expect(checkNode(ov, main, '1.x', state.dropIn).stale).toBeUndefined();
    ov.write(
      '/n/etc/containerd/conf.d/99-nvidia.toml',
      `${files['/n/etc/containerd/conf.d/99-nvidia.toml']}${V2}.nvidia.options]\n  BinaryName = "/usr/bin/nvidia-container-runtime"\n`,
    );
    expect(checkNode(ov, main, '1.x', state.dropIn).stale).toMatch(/differs from \/n\/etc\/containerd\/conf.d\/99-nvidia.toml/);
  });

  it('1.x with the CRI section in config.toml: base_runtime_spec lines there, no drop-in, nothing to go stale', () => {
    const text = `# Kind\nversion = 2\n${V2}.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/n/etc/containerd/cri-base.json"\n${V2}.test-handler]\n  runtime_type = "io.containerd.runc.v2"\n`;
    const files = { [main]: text, '/n/etc/containerd/cri-base.json': '{}' };
    const ov = new Overlay(memFs(files));
    const { state, eff } = planInstall(ov, opts('1.x'));
    expect(state.dropIn).toBeUndefined();
    expect(ov.read('/n/etc/containerd/sigguard-handlers.toml')).toBeUndefined();
    expect(names(eff)).toEqual(['runc=/n/etc/containerd/cri-base.json', 'test-handler=/n/etc/containerd/sigguard-base-test-handler.json']);
    expect(ov.read(main)).toBe(
      text.replace('.test-handler]\n', '.test-handler]\n  base_runtime_spec = "/n/etc/containerd/sigguard-base-test-handler.json"\n'),
    );
    expect(checkNode(ov, main, '1.x', '/n/etc/containerd/sigguard-handlers.toml').handlers.every((h) => h.guarded)).toBe(true);
    planUninstall(ov, state, (m) => {
      throw new Error(m);
    });
    expect(ov.read(main)).toBe(text);
    expect(ov.read('/n/etc/containerd/cri-base.json')).toBe('{}');
  });

  it('1.x: refuses when a file loading after the drop-in replaces the CRI section', () => {
    const files = {
      [main]: 'version = 2\nimports = ["a.toml"]\n',
      '/n/etc/containerd/a.toml': 'imports = ["b.toml"]\n',
      '/n/etc/containerd/b.toml': `${V2}.late]\n  runtime_type = "io.containerd.runc.v2"\n`,
    };
    expect(() => planInstall(new Overlay(memFs(files)), opts('1.x'))).toThrow(
      /cannot guard runtime handler late.*b.toml loads after the drop-in/,
    );
  });
});
