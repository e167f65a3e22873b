/**
 * Tests written against mutants that survived `make mutation` in lines that decide allow or deny
 * (docs/mutation-survivors.md): a scope's reject among other requirements, acceptance only without
 * any sigstoreSigned requirement, the image-id forms a runtime may report (anchored), and the hook's
 * OCI state and bundle config.json reading (absolute bundle, size caps, annotations).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { type NodeImages, configDigestOfImageId, digestForImage, imageForContainer } from '../../src/hook/node-digest.js';
import { MAX_CONFIG_BYTES, parseState, readAnnotations } from '../../src/hook/state.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { identityMatches } from '../../src/policy/identity.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-deciding-');
const pub = join(dir, 'cosign.pub');
// a P-256 public key (any valid key: the scope decision never uses it)
writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
const signed = { type: 'sigstoreSigned', keyPath: pub, signedIdentity: { type: 'matchRepository' } };
const policy = (scopes: Record<string, unknown[]>, extra: Record<string, unknown> = {}) =>
  compilePolicy({ version: 1, default: 'reject', scopes, ...extra }, join(dir, 'policy.yaml'));
const ref = parseReference(`r.example/app@sha256:${'1'.repeat(64)}`);

describe('scopeVerdict: what the policy decides alone', () => {
  it('a reject anywhere in the scope rejects, whatever comes with it', () => {
    for (const reqs of [
      [{ type: 'reject' }, signed],
      [signed, { type: 'reject' }],
      [{ type: 'insecureAcceptAnything' }, { type: 'reject' }],
    ]) {
      const d = scopeVerdict(ref, ref, policy({ 'r.example': reqs }));
      expect(d.verdict, JSON.stringify(reqs)).toMatchObject({
        decision: 'deny',
        code: 'POLICY_REJECT',
        reason: 'rejected by scope "r.example"',
      });
    }
  });

  it('accepted without verification only when no requirement is sigstoreSigned', () => {
    expect(scopeVerdict(ref, ref, policy({ 'r.example': [{ type: 'insecureAcceptAnything' }] })).verdict).toMatchObject({
      decision: 'allow',
      code: 'POLICY_ACCEPT',
    });
    for (const reqs of [[{ type: 'insecureAcceptAnything' }, signed], [signed, { type: 'insecureAcceptAnything' }], [signed]]) {
      const d = scopeVerdict(ref, ref, policy({ 'r.example': reqs }));
      expect(d.verdict, JSON.stringify(reqs)).toBeUndefined();
      expect(d.requirements.some((r) => r.type === 'sigstoreSigned')).toBe(true);
    }
  });

  it('the default decides an image no scope names, and says so', () => {
    expect(scopeVerdict(ref, ref, policy({ 'other.example': [signed] })).verdict).toMatchObject({
      decision: 'deny',
      code: 'POLICY_REJECT',
      reason: 'rejected by the policy default',
      scope: '',
    });
    expect(scopeVerdict(ref, ref, policy({}, { default: 'accept' })).verdict).toMatchObject({
      decision: 'allow',
      reason: 'accepted without verification by the policy default',
    });
  });

  it('the scope is chosen by the intended name, not the fetched one', () => {
    const intended = parseReference(`r.example/app@sha256:${'1'.repeat(64)}`);
    const fetched = parseReference(`mirror.example/app@sha256:${'1'.repeat(64)}`);
    const p = policy({ 'r.example': [{ type: 'insecureAcceptAnything' }], 'mirror.example': [{ type: 'reject' }] });
    expect(scopeVerdict(fetched, intended, p).verdict).toMatchObject({ decision: 'allow', scope: 'r.example' });
  });
});

describe("configDigestOfImageId: a runtime's image id, anchored", () => {
  const hex = 'a'.repeat(64);
  it('bare hex (CRI-O) and sha256:<hex> (containerd)', () => {
    expect(configDigestOfImageId(hex)).toBe(`sha256:${hex}`);
    expect(configDigestOfImageId(`sha256:${hex}`)).toBe(`sha256:${hex}`);
    expect(configDigestOfImageId(undefined)).toBeUndefined();
  });
  it('anything around or inside the digest is not an image id', () => {
    for (const id of [
      `${hex}0`,
      `x${hex}`,
      `${hex}\n`,
      `sha256:${hex}0`,
      `xsha256:${hex}`,
      `sha256:${hex}/x`,
      `sha512:${hex}`,
      `sha256:${'A'.repeat(64)}`,
      '',
      'sha256:',
    ]) {
      expect(configDigestOfImageId(id), JSON.stringify(id)).toBeUndefined();
    }
  });
});

describe("the hook's OCI state and bundle config", () => {
  const state = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ ociVersion: '1.2.0', id: 'c1', status: 'creating', pid: 1, bundle: '/run/bundle', ...over });

  it('the bundle must be an absolute path', () => {
    expect(parseState(state()).bundle).toBe('/run/bundle');
    for (const bundle of ['run/bundle', './bundle', '../etc', '']) {
      expect(() => parseState(state({ bundle })), bundle).toThrow(/not an absolute path|bundle/);
    }
  });

  it("the state's annotations win; without them, config.json's", () => {
    const b = mkdtempSync(join(dir, 'bundle-'));
    writeFileSync(join(b, 'config.json'), JSON.stringify({ annotations: { from: 'config' } }));
    expect(readAnnotations(parseState(state({ bundle: b, annotations: { from: 'state' } })))).toEqual({ from: 'state' });
    expect(readAnnotations(parseState(state({ bundle: b, annotations: {} })))).toEqual({ from: 'config' });
    expect(readAnnotations(parseState(state({ bundle: b })))).toEqual({ from: 'config' });
  });

  it('config.json: at most MAX_CONFIG_BYTES, exactly that much is read', () => {
    const b = mkdtempSync(join(dir, 'bundle-'));
    const doc = JSON.stringify({ annotations: { a: 'b' } });
    writeFileSync(join(b, 'config.json'), doc + ' '.repeat(MAX_CONFIG_BYTES - doc.length));
    expect(readAnnotations(parseState(state({ bundle: b })))).toEqual({ a: 'b' });
    writeFileSync(join(b, 'config.json'), doc + ' '.repeat(MAX_CONFIG_BYTES - doc.length + 1));
    expect(() => readAnnotations(parseState(state({ bundle: b })))).toThrow(/larger than/);
  });

  it('config.json that is not JSON, has malformed annotations, or is missing: a refusal, never empty annotations', () => {
    const b = mkdtempSync(join(dir, 'bundle-'));
    writeFileSync(join(b, 'config.json'), '{not json');
    expect(() => readAnnotations(parseState(state({ bundle: b })))).toThrow(/not JSON/);
    writeFileSync(join(b, 'config.json'), JSON.stringify({ annotations: { a: 1 } }));
    expect(() => readAnnotations(parseState(state({ bundle: b })))).toThrow(/malformed annotations/);
    expect(() => readAnnotations(parseState(state({ bundle: join(b, 'missing') })))).toThrow(/cannot be read/);
  });
});

describe("the node's image id travels with the digest (the verified manifest is bound to it)", () => {
  const D1 = `sha256:${'1'.repeat(64)}`;
  const D2 = `sha256:${'2'.repeat(64)}`;
  const ID = `sha256:${'f'.repeat(64)}`;
  const node = (id: string, repoDigests: string[]): NodeImages => ({
    containerImage: async () => ({ imageId: id, imageRef: repoDigests[0] ?? '', userSpecifiedImage: undefined }),
    repoDigests: async () => repoDigests,
    imageStatus: async () => ({ id, repoDigests }),
  });

  it('CRI-O: the image id with the digest, in either form, and none when it is not a digest', async () => {
    const want = parseReference('localhost:5001/app:v1');
    expect(await digestForImage(node(ID, [`localhost:5001/app@${D1}`]), 'x', want)).toEqual({
      digest: D1,
      repoDigest: `localhost:5001/app@${D1}`,
      imageId: ID,
    });
    expect((await digestForImage(node('f'.repeat(64), [`localhost:5001/app@${D1}`]), 'x', want)).imageId).toBe(ID);
    expect(await digestForImage(node('not-an-id', [`localhost:5001/app@${D1}`]), 'x', want)).not.toHaveProperty('imageId');
  });

  it("CRI-O: only a digest in the pod's repository, never another repository's", async () => {
    await expect(
      digestForImage(node(ID, [`localhost:5001/other@${D2}`, 'not a reference']), 'x', parseReference('localhost:5001/app:v1')),
    ).rejects.toMatchObject({ code: 'NODE_IMAGE_MISMATCH' });
  });

  it('containerd: the pod naming a digest keeps it, with the image id', async () => {
    const named = parseReference(`localhost:5001/app@${D1}`);
    expect(await imageForContainer(node(ID, [`localhost:5001/app@${D2}`]), 'c', named)).toEqual({
      named,
      digest: D1,
      repoDigest: `localhost:5001/app@${D1}`,
      imageId: ID,
    });
  });
});

describe('signedIdentity: each rule refuses what it must (the mutants that turned a rule into "true")', () => {
  const D = `sha256:${'1'.repeat(64)}`;
  const at = (s: string) => parseReference(s);
  it('matchRepoDigestOrExact: by digest only the same repository; a name-only signature never', () => {
    expect(identityMatches(undefined, at(`r.io/app@${D}`), 'r.io/app:v1')).toBe(true);
    expect(identityMatches(undefined, at(`r.io/app@${D}`), 'r.io/other:v1')).toBe(false);
    expect(identityMatches(undefined, at(`r.io/app@${D}`), 'r.io/app')).toBe(false);
    expect(identityMatches(undefined, at('r.io/app:v1'), 'r.io/app:v2')).toBe(false);
  });
  it('matchExact: a name-only reference on either side never matches', () => {
    expect(identityMatches({ type: 'matchExact' }, at('r.io/app:v1'), 'r.io/app:v1')).toBe(true);
    expect(identityMatches({ type: 'matchExact' }, at('r.io/app:v1'), 'r.io/app')).toBe(false);
    expect(identityMatches({ type: 'matchExact' }, at('r.io/app'), 'r.io/app')).toBe(false);
  });
  it('exactReference: only that reference', () => {
    const rule = { type: 'exactReference', dockerReference: 'r.io/app:v1' } as const;
    expect(identityMatches(rule, at('mirror.io/app:v9'), 'r.io/app:v1')).toBe(true);
    expect(identityMatches(rule, at('r.io/app:v1'), 'r.io/app:v2')).toBe(false);
    expect(identityMatches(rule, at('r.io/app:v1'), 'r.io/other:v1')).toBe(false);
  });
  it('exactRepository: only that repository', () => {
    const rule = { type: 'exactRepository', dockerRepository: 'r.io/app' } as const;
    expect(identityMatches(rule, at('mirror.io/x:v9'), 'r.io/app')).toBe(true);
    expect(identityMatches(rule, at('r.io/app:v1'), 'r.io/other:v1')).toBe(false);
  });
  it('remapIdentity: the whole name or the prefix and "/", then matchRepoDigestOrExact', () => {
    const rule = { type: 'remapIdentity', prefix: 'mirror.io/team', signedPrefix: 'r.io/team' } as const;
    expect(identityMatches(rule, at('mirror.io/team/app:v1'), 'r.io/team/app:v1')).toBe(true);
    expect(identityMatches(rule, at('mirror.io/team/app:v1'), 'r.io/team/app:v2')).toBe(false);
    expect(identityMatches(rule, at('mirror.io/team/app:v1'), 'r.io/other/app:v1')).toBe(false);
    // "mirror.io/teamx" is not under the prefix: not remapped, so the signature must name it
    expect(identityMatches(rule, at('mirror.io/teamx/app:v1'), 'r.io/teamx/app:v1')).toBe(false);
    expect(
      identityMatches({ type: 'remapIdentity', prefix: 'mirror.io/app', signedPrefix: 'r.io/app' }, at('mirror.io/app:v1'), 'r.io/app:v1'),
    ).toBe(true);
  });
});
