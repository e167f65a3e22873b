/**
 * install-hook on the base runtime specs containerd really uses: a plain
 * `ctr oci spec` (both containerd lines) and Kind's cri-base.json shape (its
 * own createContainer hook). Idempotent and exactly reversible.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sigguard } from '../support/cli.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const CTR = {
  '1.7': resolve(ROOT, '.tools/containerd-1.7/bin/ctr'),
  '2.1': resolve(ROOT, '.tools/containerd-2.1/bin/ctr'),
};

function baseSpec(version: '1.7' | '2.1', kind: boolean): string {
  const spec = JSON.parse(execFileSync(CTR[version], ['oci', 'spec']).toString());
  if (kind) spec.hooks = { createContainer: [{ path: '/kind/bin/mount-product-files.sh' }] };
  const file = join(tempDir('sigguard-spec-'), 'cri-base.json');
  writeFileSync(file, JSON.stringify(spec, null, 2));
  return file;
}

const read = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

describe.each([
  ['1.7', false],
  ['1.7', true],
  ['2.1', false],
  ['2.1', true],
] as const)('install-hook on containerd %s ctr oci spec (Kind shape: %s)', (version, kind) => {
  it('adds one createRuntime entry, keeps the rest, and is idempotent and reversible', async () => {
    const file = baseSpec(version, kind);
    const original = read(file);
    const first = await sigguard(['install-hook', '--base-spec', file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`sigguard hook added to ${file}\n`);
    const installed = read(file);
    expect(installed.hooks.createRuntime).toEqual([{ path: '/usr/local/bin/sigguard', args: ['sigguard', 'hook'], timeout: 10 }]);
    if (kind) expect(installed.hooks.createContainer).toEqual([{ path: '/kind/bin/mount-product-files.sh' }]);
    expect({ ...installed, hooks: undefined }).toEqual({ ...original, hooks: undefined });

    const second = await sigguard(['install-hook', '--base-spec', file]);
    expect(second.stdout).toBe(`sigguard hook already in ${file}\n`);
    expect(read(file)).toEqual(installed);

    const removed = await sigguard(['install-hook', '--base-spec', file, '--uninstall']);
    expect(removed.stdout).toBe(`sigguard hook removed from ${file}\n`);
    expect(read(file)).toEqual(original);
    const again = await sigguard(['install-hook', '--base-spec', file, '--uninstall']);
    expect(again.stdout).toBe(`sigguard hook was not in ${file}\n`);
    expect(read(file)).toEqual(original);
  });
});

describe('install-hook details', () => {
  it('takes another binary path and extra hook flags, replacing its own older entry', async () => {
    const file = baseSpec('2.1', true);
    await sigguard(['install-hook', '--base-spec', file]);
    await sigguard(['install-hook', '--base-spec', file, '--path', '/opt/sigguard/sigguard', '--', '--deadline', '5']);
    expect(read(file).hooks.createRuntime).toEqual([
      { path: '/opt/sigguard/sigguard', args: ['sigguard', 'hook', '--deadline', '5'], timeout: 10 },
    ]);
  });

  it('keeps a foreign createRuntime hook and goes before it', async () => {
    const file = baseSpec('2.1', false);
    const spec = read(file);
    spec.hooks = { createRuntime: [{ path: '/usr/bin/other-hook', args: ['other-hook'] }] };
    writeFileSync(file, JSON.stringify(spec));
    await sigguard(['install-hook', '--base-spec', file]);
    expect(read(file).hooks.createRuntime.map((h: { path: string }) => h.path)).toEqual(['/usr/local/bin/sigguard', '/usr/bin/other-hook']);
    await sigguard(['install-hook', '--base-spec', file, '--uninstall']);
    expect(read(file).hooks).toEqual({ createRuntime: [{ path: '/usr/bin/other-hook', args: ['other-hook'] }] });
  });

  it.each([
    [['install-hook'], /needs one of --base-spec FILE or --hooks-dir DIR/],
    [['install-hook', '--base-spec', '/nonexistent.json'], /cannot read base spec \/nonexistent\.json: ENOENT/],
  ])('%j exits 2 with one line', async (args, why) => {
    const r = await sigguard(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
  });

  it('the hooks.d template is oci-hooks(5) with exactly one stage', () => {
    const t = JSON.parse(readFileSync(resolve(ROOT, 'hook-config/hooks.d/sigguard.json'), 'utf8'));
    expect(t).toMatchObject({ version: '1.0.0', when: { always: true }, stages: ['createRuntime'] });
    expect(t.hook.timeout).toBeGreaterThan(8); // above the hook's own 8 s deadline
  });
});
