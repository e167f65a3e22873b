/**
 * README's reason codes that had no test of their own: REGISTRY_BAD_RESPONSE (a registry's answer
 * that does not fit the OCI schema or is ambiguous), TAG_NOT_RESOLVABLE (a bare tag where the
 * policy forbids resolving tags), and the hook's usage errors, which exit 2 (and so refuse the
 * container too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { verifyWithConfig } from '../../src/engine/session.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let proxy: FaultProxy;
/**
 * What the proxy answers for the `signed` image's tag, by test (by tag: for a digest, other bytes
 * are CONTENT_MISMATCH before anything reads them).
 */
let manifestAnswer: ((res: import('node:http').ServerResponse, real: { body: string; type: string }) => void) | undefined;

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  proxy = await FaultProxy.start({ upstream: w.registry.host });
  proxy.overrides.push(async (req, res, url) => {
    if (manifestAnswer === undefined || url.pathname !== '/v2/signed/manifests/v1') return false;
    const real = await fetch(`http://${w.registry.host}${url.pathname}`, { headers: { accept: req.headers.accept ?? '*/*' } });
    manifestAnswer(res, { body: await real.text(), type: real.headers.get('content-type') ?? '' });
    return true;
  });
}, 240_000);

afterAll(async () => {
  await proxy?.close();
  await w?.stop();
});

const proxyPolicy = () =>
  w.policy(
    'bad-response-policy.yaml',
    standardPolicy(w)
      .replace(`"${w.registry.host}"`, `"${proxy.host}"`)
      .replace('{type: matchRepository}', `{type: exactRepository, dockerRepository: "${w.registry.host}/signed"}`),
  );

describe('REGISTRY_BAD_RESPONSE: the registry answers, but not with an image manifest sigguard can read unambiguously', () => {
  const send = (res: import('node:http').ServerResponse, type: string, body: string) => {
    res.writeHead(200, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
  const cases: [string, (res: import('node:http').ServerResponse, real: { body: string; type: string }) => void, RegExp][] = [
    ['not JSON', (res, real) => send(res, real.type, '<html>maintenance</html>'), /not JSON/],
    ['a JSON array', (res, real) => send(res, real.type, '[]'), /not a JSON object/],
    [
      'both "manifests" and "layers"',
      (res, real) => send(res, real.type, JSON.stringify({ ...JSON.parse(real.body), manifests: [] })),
      /both "manifests" and "layers"/,
    ],
    [
      'a mediaType other than its Content-Type',
      (res, real) => send(res, 'application/vnd.docker.distribution.manifest.v2+json', real.body),
      /declares mediaType .* but was served as/,
    ],
  ];
  it.each(cases)('%s: refused, exit 1', async (_name, answer, reason) => {
    manifestAnswer = answer;
    try {
      const r = await sigguardCheck(['--policy', proxyPolicy(), '--json', `${proxy.host}/signed:v1`]);
      expect(r.verdict, r.stderr).toMatchObject({ decision: 'deny', code: 'REGISTRY_BAD_RESPONSE' });
      expect(r.verdict?.reason).toMatch(reason);
      expect(r.code).toBe(1);
    } finally {
      manifestAnswer = undefined;
    }
  });

  it('the control: the same image through the same proxy, answered truly, is allowed', async () => {
    const r = await sigguardCheck(['--policy', proxyPolicy(), '--json', `${proxy.host}/signed:v1`]);
    expect(r.verdict, r.stderr).toMatchObject({ decision: 'allow', code: 'ALLOWED', digest: w.digests.signed });
  });
});

describe('TAG_NOT_RESOLVABLE', () => {
  const verify = async (image: string, allowTagResolution: boolean) =>
    verifyWithConfig(parseReference(image), {
      config: await compileConfig({}, undefined),
      policy: compilePolicy(
        {
          version: 1,
          scopes: { [w.registry.host]: [{ type: 'sigstoreSigned', keyPath: w.trusted.pub, signedIdentity: { type: 'matchRepository' } }] },
        },
        join(w.cosign.dir, 'p.yaml'),
      ),
      signal: AbortSignal.timeout(30_000),
      allowTagResolution,
    });

  it('a bare tag where tags may not be resolved is refused without asking the registry for it', async () => {
    const before = w.registry.requests().filter((r) => r.includes('/v2/signed/manifests/v1')).length;
    const v = await verify(`${w.registry.host}/signed:v1`, false);
    expect(v).toMatchObject({ decision: 'deny', code: 'TAG_NOT_RESOLVABLE' });
    expect(v.reason).toMatch(/names a tag, not a digest.*tagResolution: never/);
    expect(w.registry.requests().filter((r) => r.includes('/v2/signed/manifests/v1')).length).toBe(before);
  });

  it('the control: the same tag resolved where allowed, and a digest always verifies', async () => {
    expect(await verify(`${w.registry.host}/signed:v1`, true)).toMatchObject({ decision: 'allow', digest: w.digests.signed });
    expect(await verify(w.ref('signed'), false)).toMatchObject({ decision: 'allow' });
  });

  it('the hook, where the runtime cannot be asked: a bare tag is refused (tagResolution: never, the default)', async () => {
    const config = w.config('tag-hook.yaml', `node:\n  containerdSocket: ${join(w.cosign.dir, 'no-such.sock')}\n`);
    const log = join(w.cosign.dir, 'tag-hook.log');
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: 'tag1',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(`${w.registry.host}/signed:v1`),
    });
    const r = await sigguard(['hook', '--config', config, '--policy', w.policy('tag-hook-policy.yaml', standardPolicy(w)), '--log', log], {
      input: state,
    });
    expect(r.code).toBe(1);
    const d = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(d.decision).toBe('deny');
    expect(['TAG_NOT_RESOLVABLE', 'NODE_LOOKUP_FAILED']).toContain(d.code);
  });
});

describe('the hook: usage errors exit 2', () => {
  const state = () =>
    JSON.stringify({
      ociVersion: '1.2.0',
      id: 'u1',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(w.ref('signed')),
    });
  it.each([
    ['an unknown flag', ['--bogus']],
    ['a positional argument', ['extra']],
    ['a flag without its value', ['--policy']],
    ['a deadline that is not a number', ['--deadline', 'soon']],
    ['a deadline of zero', ['--deadline', '0']],
    ['a negative deadline', ['--deadline=-5']],
  ])('%s', async (_name, args) => {
    const r = await sigguard(
      ['hook', '--config', w.config('usage.yaml'), '--policy', w.policy('usage-policy.yaml', standardPolicy(w)), ...args],
      { input: state() },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^sigguard: .* \[USAGE\]\n$/);
  });

  it('the control: the same command without the bad argument allows (exit 0)', async () => {
    const r = await sigguard(['hook', '--config', w.config('usage.yaml'), '--policy', w.policy('usage-policy.yaml', standardPolicy(w))], {
      input: state(),
    });
    expect(r.code, r.stderr).toBe(0);
  });

  it('an unreadable policy is not a usage error in the hook: a refusal (exit 1, POLICY_INVALID)', async () => {
    const r = await sigguard(['hook', '--config', w.config('usage.yaml'), '--policy', join(w.cosign.dir, 'no-such-policy.yaml')], {
      input: state(),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\[POLICY_INVALID\]\n$/);
  });
});
