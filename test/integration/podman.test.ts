/**
 * podman finds sigguard through a hooks.d folder (oci-hooks(5)), as CRI-O
 * does, and runs it at createRuntime. podman's own containers may fail here
 * afterwards on resource limits (the sandbox): the decision log is the proof.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { run, sigguard } from '../support/cli.js';
import { BUSYBOX, SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';
import { tempDir } from '../support/temp.js';

let w: World;
let dir: string;
let hooks: string;
let log: string;
const IMAGE = 'localhost/sigguard-podman-test:1';

const podman = (args: string[]) =>
  run('podman', ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--hooks-dir', hooks, '--runtime', 'runc', ...args], {
    timeoutMs: 120_000,
  });

function lastDecision(): DecisionRecord {
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

beforeAll(async () => {
  requireTools(SIGGUARD, '/usr/bin/podman');
  w = await makeWorld();
  dir = tempDir('sigguard-podman-');
  hooks = join(dir, 'hooks.d');
  log = join(dir, 'decisions.log');
  const policy = w.policy('podman-policy.yaml', standardPolicy(w, 'nonKubernetes: deny\n'));
  const r = await sigguard(['install-hook', '--hooks-dir', hooks, '--path', SIGGUARD, '--', '--policy', policy, '--log', log]);
  expect(r.code, r.stderr).toBe(0);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  symlinkSync('busybox', join(rootfs, 'bin/true'));
  execFileSync('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  const imp = await podman(['import', join(dir, 'rootfs.tar'), IMAGE]);
  expect(imp.code, imp.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await w?.stop();
  await podman(['rm', '--all', '--force']);
});

const annotated = (image: string) => [
  '--annotation',
  'io.kubernetes.cri.container-type=container',
  '--annotation',
  `io.kubernetes.cri.image-name=${image}`,
  '--annotation',
  'io.kubernetes.cri.sandbox-namespace=default',
];

describe('podman --hooks-dir runs sigguard', () => {
  it('the generated hooks.d file is the template with this binary', () => {
    const h = JSON.parse(readFileSync(join(hooks, 'sigguard.json'), 'utf8'));
    expect(h).toMatchObject({ version: '1.0.0', stages: ['createRuntime'], when: { always: true }, hook: { path: SIGGUARD, timeout: 10 } });
    expect(h.hook.args.slice(0, 2)).toEqual(['sigguard', 'hook']);
  });

  it('an unsigned image is refused, with sigguard’s line in podman’s error', async () => {
    const r = await podman(['run', '--rm', ...annotated(w.ref('unsigned')), IMAGE, '/bin/true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`sigguard: denied ${w.ref('unsigned')}: no legacy or bundle signature found [NO_SIGNATURE]`);
    expect(lastDecision()).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
  });

  it('a signed image is allowed by the hook', async () => {
    await podman(['run', '--rm', ...annotated(w.ref('signed')), IMAGE, '/bin/true']);
    expect(lastDecision()).toMatchObject({ decision: 'allow', code: 'ALLOWED', digest: w.digests.signed });
  });

  it('a plain podman container (no Kubernetes annotations) follows nonKubernetes: deny', async () => {
    const r = await podman(['run', '--rm', IMAGE, '/bin/true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[NON_KUBERNETES_DENIED]');
    expect(lastDecision()).toMatchObject({ decision: 'deny', code: 'NON_KUBERNETES_DENIED' });
  });
});

describe('podman runs the hooks.d entry that sigguard crio-policy generates', () => {
  it('the generated file, pointed at this build, makes podman run sigguard', async () => {
    const out = join(dir, 'crio-out');
    const policy = w.policy('podman-crio-policy.yaml', standardPolicy(w, 'nonKubernetes: deny\n'));
    const g = await sigguard(['crio-policy', '--policy', policy, '--out', out, '--containers-image-version', '5.23']);
    expect(g.code, g.stderr).toBe(0);
    const generated = JSON.parse(readFileSync(join(out, 'hooks.d/sigguard.json'), 'utf8'));
    // on a node the entry names /usr/local/bin/sigguard and its default files; here, this build and the test's
    const genHooks = join(dir, 'generated-hooks.d');
    mkdirSync(genHooks, { recursive: true });
    const genLog = join(dir, 'generated-decisions.log');
    writeFileSync(
      join(genHooks, 'sigguard.json'),
      JSON.stringify({
        ...generated,
        hook: { ...generated.hook, path: SIGGUARD, args: [...generated.hook.args, '--policy', policy, '--log', genLog] },
      }),
    );
    const r = await run(
      'podman',
      [
        '--root',
        join(dir, 'storage'),
        '--runroot',
        join(dir, 'run'),
        '--hooks-dir',
        genHooks,
        '--runtime',
        'runc',
        'run',
        '--rm',
        ...annotated(w.ref('unsigned')),
        IMAGE,
        '/bin/true',
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[NO_SIGNATURE]');
    const last = JSON.parse(readFileSync(genLog, 'utf8').trim().split('\n').pop()!);
    expect(last).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
  });
});
