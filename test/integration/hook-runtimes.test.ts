/**
 * The built sigguard as the createRuntime hook of real runtimes: runc and
 * crun run OCI bundles carrying containerd's CRI annotations; images live in
 * the local registry, signed by the real cosign.
 */
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { sigguard } from '../support/cli.js';
import { criAnnotations, makeBundle, runBundle } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { deadPort } from '../support/ports.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let policy: string;
let config: string;
let logDir: string;
let slow: Server;
let slowHost: string;
let n = 0;

beforeAll(async () => {
  requireTools(SIGGUARD, '/usr/sbin/runc', '/usr/bin/crun');
  w = await makeWorld();
  policy = w.policy('policy.yaml', standardPolicy(w));
  config = w.config('config.yaml');
  logDir = w.cosign.dir;
  slow = createServer(() => {
    /* never answers */
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const a = slow.address();
  slowHost = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}, 240_000);

afterAll(async () => {
  await w?.stop();
  slow?.close();
});

function lastDecision(log: string): DecisionRecord {
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

async function start(
  runtime: 'runc' | 'crun',
  opts: { image?: string; annotations?: Record<string, string>; policy?: string; extraArgs?: string[]; marker?: string },
) {
  const log = join(logDir, `decisions-${runtime}-${++n}.log`);
  const bundle = makeBundle({
    marker: opts.marker ?? 'started',
    ...(opts.annotations ? { annotations: opts.annotations } : opts.image ? { annotations: criAnnotations(opts.image) } : {}),
    hook: {
      path: SIGGUARD,
      args: ['sigguard', 'hook', '--config', config, '--policy', opts.policy ?? policy, '--log', log, ...(opts.extraArgs ?? [])],
    },
  });
  const r = await runBundle(runtime, bundle);
  return { ...r, log };
}

describe.each(['runc', 'crun'] as const)('%s runs sigguard as its createRuntime hook', (runtime) => {
  it('signed (legacy): the container runs', async () => {
    const r = await start(runtime, { image: w.ref('signed'), marker: 'signed-ran' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('signed-ran\n');
    expect(lastDecision(r.log)).toMatchObject({
      decision: 'allow',
      code: 'ALLOWED',
      digest: w.digests.signed,
      namespace: 'default',
      pod: 'demo',
      container: 'app',
    });
  });

  it('signed (bundle): the container runs', async () => {
    const r = await start(runtime, { image: w.ref('signed-bundle') });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(r.log)).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
  });

  const refusals: Array<
    [string, () => { image?: string; annotations?: Record<string, string>; policy?: string; extraArgs?: string[] }, string, RegExp]
  > = [
    ['unsigned', () => ({ image: w.ref('unsigned') }), 'NO_SIGNATURE', /no legacy or bundle signature found/],
    ['signed by another key', () => ({ image: w.ref('otherkey') }), 'UNTRUSTED_SIGNER', /no signature by a trusted key \(1 found, keys: /],
    [
      'a bare tag with no runtime to ask which digest runs',
      () => ({ image: `${w.registry.host}/signed:v1` }),
      'NODE_LOOKUP_FAILED',
      /cannot ask the runtime at \/run\/containerd\/containerd\.sock: no such socket/,
    ],
    ['no annotations at all (nonKubernetes: verify)', () => ({ annotations: {} }), 'MISSING_IMAGE', /names no image/],
    [
      'a CRI container without an image annotation',
      () => ({ annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-namespace': 'default' } }),
      'MISSING_IMAGE',
      /name no image/,
    ],
    [
      'a missing policy',
      () => ({ image: w.ref('signed'), policy: '/nonexistent/policy.yaml' }),
      'POLICY_INVALID',
      /cannot read policy \/nonexistent\/policy\.yaml/,
    ],
  ];
  it.each(refusals)('%s: refused', async (_name, opts, code, reason) => {
    const r = await start(runtime, opts());
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    const d = lastDecision(r.log);
    expect(d).toMatchObject({ decision: 'deny', code, enforced: true });
    expect(d.reason).toMatch(reason);
    if (runtime === 'runc') {
      // runc carries sigguard's one line into its own error, intact
      expect(r.stderr).toContain(`stderr: sigguard: denied `);
      expect(r.stderr).toContain(`[${code}]\\n`);
    } else {
      expect(r.stderr).toMatch(/error executing hook .* \(exit code: 1\)/);
    }
  });

  it('the refusal line names the image, the digest and the reason', async () => {
    const r = await start(runtime, { image: w.ref('unsigned') });
    const line = `sigguard: denied ${w.registry.host}/unsigned@${w.digests.unsigned}: no legacy or bundle signature found [NO_SIGNATURE]`;
    if (runtime === 'runc') expect(r.stderr).toContain(`stderr: ${line}\\n`);
    expect(lastDecision(r.log).msg).toBe(`denied ${w.registry.host}/unsigned@${w.digests.unsigned}`);
  });

  it('registry down: refused with the reason', async () => {
    const dead = await deadPort(); // held until the end: nobody can start listening there meanwhile
    try {
      const p = w.policy(
        `down-${runtime}.yaml`,
        `version: 1\nscopes:\n  "${dead.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n`,
      );
      const r = await start(runtime, { image: `${dead.host}/app@${w.digests.signed}`, policy: p });
      expect(r.code).not.toBe(0);
      expect(lastDecision(r.log)).toMatchObject({ decision: 'deny', code: 'REGISTRY_UNREACHABLE' });
    } finally {
      await dead.close();
    }
  });

  it('hook deadline exceeded: refused within the deadline', async () => {
    const p = w.policy(
      `slow-${runtime}.yaml`,
      `version: 1\nscopes:\n  "${slowHost}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n`,
    );
    const r = await start(runtime, { image: `${slowHost}/app@${w.digests.signed}`, policy: p, extraArgs: ['--deadline', '1'] });
    expect(r.code).not.toBe(0);
    // the slow registry never answers: a hook that waited for it would be killed by the runtime's
    // hook timeout and write no decision; this refusal is the hook returning on its own deadline
    expect(lastDecision(r.log)).toMatchObject({ decision: 'deny', code: 'DEADLINE_EXCEEDED' });
  });

  it('exempt namespace: runs without verification', async () => {
    const r = await start(runtime, { annotations: criAnnotations(w.ref('unsigned'), 'kube-system', 'coredns', 'coredns') });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(r.log)).toMatchObject({ decision: 'allow', code: 'EXEMPT_NAMESPACE', namespace: 'kube-system' });
  });

  it('pod sandbox (pause) container: runs', async () => {
    const a = { ...criAnnotations('registry.k8s.io/pause:3.10'), 'io.kubernetes.cri.container-type': 'sandbox' };
    const r = await start(runtime, { annotations: a });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(r.log)).toMatchObject({ decision: 'allow', code: 'SANDBOX_CONTAINER' });
  });

  it('mode: warn lets an unsigned container run and logs the refusal', async () => {
    const p = w.policy(`warn-${runtime}.yaml`, standardPolicy(w, 'mode: warn\n'));
    const r = await start(runtime, { image: w.ref('unsigned'), policy: p });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(r.log)).toMatchObject({ decision: 'deny', enforced: false, code: 'NO_SIGNATURE', level: 40 });
  });

  it('tagResolution: registry lets a bare tag be resolved at the registry when the runtime cannot be asked', async () => {
    const p = w.policy(`tags-${runtime}.yaml`, standardPolicy(w, 'tagResolution: registry\n'));
    const r = await start(runtime, { image: `${w.registry.host}/signed:v1`, policy: p });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(r.log)).toMatchObject({ decision: 'allow', digest: w.digests.signed });
  });
});

describe('sigguard hook on its own', () => {
  const state = (extra: object = {}) =>
    JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle: '/nonexistent', ...extra });

  it.each([
    ['', /not JSON \(empty\)/],
    ['{"ociVersion": "1.0.2"', /not JSON/],
    ['{"ociVersion": "1.0.2", "status": "creating", "bundle": "/x"}', /invalid: id/],
    [state({ bundle: 'relative/path' }), /not an absolute path/],
    [state(), /no annotations and \/nonexistent\/config\.json cannot be read \(ENOENT\)/],
  ])('malformed state %j: refused with INVALID_STATE', async (input, why) => {
    const log = join(logDir, `direct-${++n}.log`);
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log], { input });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sigguard: denied container .*\[INVALID_STATE\]\n$/);
    expect(lastDecision(log)).toMatchObject({ decision: 'deny', code: 'INVALID_STATE' });
    expect(lastDecision(log).reason).toMatch(why);
  });

  it('reads the annotations from <bundle>/config.json when the state has none (crun-style state)', async () => {
    const bundle = makeBundle({ marker: 'x', annotations: criAnnotations(w.ref('signed')) });
    const log = join(logDir, `direct-${++n}.log`);
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log], {
      input: state({ bundle, status: 'created', root: '/run/crun' }),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(lastDecision(log)).toMatchObject({ decision: 'allow', digest: w.digests.signed, containerId: 'c1' });
  });

  it('an oversized state is refused', async () => {
    const log = join(logDir, `direct-${++n}.log`);
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log], {
      input: state({ annotations: { big: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(r.code).toBe(1);
    expect(lastDecision(log).reason).toMatch(/larger than 1048576 bytes/);
  });

  it('an unwritable log does not change the decision, and says so', async () => {
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', '/proc/version/decisions.log'], {
      input: state({ annotations: criAnnotations(w.ref('unsigned')) }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write decision log/);
    expect(r.stderr).toMatch(/denied .*\[NO_SIGNATURE\]/);
  });
});
