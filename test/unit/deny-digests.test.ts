/**
 * denyDigests, the policy's revocation list: its schema, validate's warning about digest scopes,
 * the engine's check before any scope (insecureAcceptAnything included), and crio-policy.
 * The registry, the verdict cache and stale-if-error: test/integration/deny-digests.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { generateCrioFiles } from '../../src/crio/generate.js';
import { parsePolicyInput } from '../../src/crio/input.js';
import { verifyImage } from '../../src/engine/verify-image.js';
import { deniedDigest } from '../../src/policy/deny-digests.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import type { RegistryClient } from '../../src/registry/client.js';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const policy = (doc: Record<string, unknown>) => compilePolicy({ version: 1, ...doc }, '/p.yaml', '/');

describe('denyDigests in the policy', () => {
  it('takes sha256 and sha512 digests in lower case; defaults to none', () => {
    expect([...policy({ denyDigests: [D, `sha512:${'a'.repeat(128)}`] }).denyDigests]).toEqual([D, `sha512:${'a'.repeat(128)}`]);
    expect(policy({}).denyDigests.size).toBe(0);
  });

  it.each([
    [`sha256:${'D'.repeat(64)}`, 'upper case never matches what registries write'],
    [`sha256:${'d'.repeat(63)}`, 'too short'],
    ['d'.repeat(64), 'no algorithm'],
    [`sha1:${'d'.repeat(40)}`, 'another algorithm'],
    [` ${D}`, 'spaces'],
  ])('refuses %s (%s), naming the entry', (digest) => {
    expect(() => policy({ denyDigests: [D, digest] })).toThrow(/invalid policy \/p\.yaml: denyDigests\[1\]: not a digest/);
  });

  it('compares what it is given in lower case', () => {
    expect(deniedDigest(new Set([D]), [undefined, E, D.toUpperCase().replace('SHA256', 'sha256')])).toBe(
      D.toUpperCase().replace('SHA256', 'sha256'),
    );
    expect(deniedDigest(new Set([D]), [E, undefined])).toBeUndefined();
  });
});

describe('policy validate: digest scopes', () => {
  it('warns that a digest scope only matches images named by that digest, pointing at denyDigests', () => {
    const p = policy({ scopes: { [`r.io/app@${D}`]: [{ type: 'reject' }] } });
    expect(p.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^scopes\\."r\\.io/app@sha256:d+"\\: a digest scope matches only images named by that digest .*a tag or an index that resolves to it is judged by the repository's scope; to refuse this content whatever the name, list ${D} in denyDigests$`,
        ),
      ),
    ]);
  });

  it('says nothing when the digest is denied anyway, or for other scopes', () => {
    expect(policy({ denyDigests: [D], scopes: { [`r.io/app@${D}`]: [{ type: 'reject' }] } }).warnings).toEqual([]);
    expect(policy({ scopes: { 'r.io/app:v1': [{ type: 'reject' }], 'r.io': [{ type: 'insecureAcceptAnything' }] } }).warnings).toEqual([]);
  });
});

describe('the engine', () => {
  /** A registry client that must not be asked (its budget, empty, may be read): the decision is the policy's alone. */
  const noRegistry = new Proxy({} as RegistryClient, {
    get: (_target, prop) => {
      if (prop === 'budget') return { notes: [], exhausted: undefined };
      throw new Error(`the registry was asked (${String(prop)})`);
    },
  });
  const opts = (p: ReturnType<typeof policy>) => ({
    policy: p,
    client: noRegistry,
    platform: { os: 'linux', architecture: 'amd64' },
    allowTagResolution: true,
    requestCount: () => 0,
  });

  it('refuses a denied digest even where the scope says insecureAcceptAnything (or default: accept)', async () => {
    const accepting = policy({ default: 'accept', denyDigests: [D], scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    for (const image of [`r.io/app@${D}`, `other.io/app:v1@${D}`]) {
      expect(await verifyImage(parseReference(image), opts(accepting))).toMatchObject({
        decision: 'deny',
        code: 'DIGEST_DENIED',
        digest: D,
        reason: `${D} is revoked (the policy's denyDigests lists it)`,
      });
    }
    // another digest under the accepting scope: the engine looks behind the name (an index may hold a
    // revoked platform manifest), so the registry is asked; an error there refuses, as anywhere else
    expect(await verifyImage(parseReference(`r.io/app@${E}`), opts(accepting))).toMatchObject({
      decision: 'deny',
      reason: expect.stringContaining('the registry was asked'),
    });
    // without denyDigests the scope alone decides
    expect(
      await verifyImage(
        parseReference(`r.io/app@${E}`),
        opts(policy({ default: 'accept', scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } })),
      ),
    ).toMatchObject({ decision: 'allow', code: 'POLICY_ACCEPT' });
  });

  it('judges the name the pod used (intended) as well as the digest fetched', async () => {
    const p = policy({ denyDigests: [D], scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    const v = await verifyImage(parseReference(`r.io/app@${E}`), { ...opts(p), intended: parseReference(`r.io/app@${D}`) });
    expect(v).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
  });
});

describe('crio-policy', () => {
  const input = parsePolicyInput({ version: 1, denyDigests: [D], scopes: { 'r.io': [{ type: 'reject' }] } }, '/p.yaml');

  it('refuses a policy with denyDigests: policy.json cannot revoke a digest whatever the name', () => {
    expect(() => generateCrioFiles(input, { source: '/p.yaml', keyBase: '/' })).toThrow(
      /cannot enforce denyDigests: denyDigests \(1\): policy\.json has no revocation list.*\(--hook-fallback leaves these to the hook\)/,
    );
  });

  it('with --hook-fallback, leaves it to the hook and says so in NOTES.txt', () => {
    const r = generateCrioFiles(input, { source: '/p.yaml', keyBase: '/', hookFallback: true });
    expect(r.handedToHook).toEqual([
      { where: 'denyDigests', why: expect.stringMatching(/the hook refuses those digests at every container start$/) },
    ]);
    expect(r.files.get('NOTES.txt')).toMatch(/Handed to the hook[\s\S]*denyDigests/);
  });
});
