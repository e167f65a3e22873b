/**
 * sigstoreAttested in the policy: parsing, the CEL type check at load, the bounded evaluation,
 * the scope decision (never an unverified accept), the verdict cache key (condition and type
 * in it) and crio-policy (no policy.json form: refused, or left to the hook).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { generateCrioFiles } from '../../src/crio/generate.js';
import { parsePolicyInput } from '../../src/crio/input.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { CONDITION_MAX_MS, type ConditionInput, conditionProblem, evaluateCondition } from '../../src/policy/condition.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Requirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from '../support/temp.js';

const PROV = 'https://slsa.dev/provenance/v1';
let dir: string;
beforeAll(() => {
  dir = tempDir('sigguard-attested-');
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'builder.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
});

const attested = (extra: Record<string, unknown> = {}) => ({
  type: 'sigstoreAttested',
  predicateType: PROV,
  keyPath: 'builder.pub',
  ...extra,
});
const doc = (...reqs: unknown[]) => ({ version: 1, scopes: { 'r.io/app': reqs } });
const compile = (...reqs: unknown[]) => compilePolicy(doc(...reqs), join(dir, 'policy.yaml'), dir);
const only = (p: ReturnType<typeof compile>) => p.scopes.get('r.io/app')![0]!;

describe('parsing', () => {
  it('compiles the trust fields as sigstoreSigned does, with defaults', () => {
    const r = only(compile(attested({ condition: 'predicate.x == "y"' })));
    expect(r.type).toBe('sigstoreAttested');
    if (r.type !== 'sigstoreAttested') return;
    expect(r.keys).toHaveLength(1);
    expect(r.trust.kind).toBe('keys');
    expect(r.predicateType).toBe(PROV);
    expect(r.condition).toBe('predicate.x == "y"');
    expect(r.signatureFormats).toEqual(['legacy', 'bundle']);
    expect(r.maxBytes).toBe(16 * 1024 * 1024);
  });

  it.each([
    ['no predicateType', { predicateType: undefined }, 'predicateType'],
    ['a predicateType that is no URI', { predicateType: 'slsa provenance' }, 'not a predicate type URI'],
    ["cosign's signature predicate", { predicateType: 'https://sigstore.dev/cosign/sign/v1' }, "cosign's signature, not an attestation"],
    ['no trust', { keyPath: undefined }, 'a sigstoreAttested requirement needs exactly one of keyPath'],
    ['two trust sources', { keyData: 'eA==' }, 'only one of'],
    ['signedIdentity (attestation subjects are not names)', { signedIdentity: { type: 'matchRepository' } }, 'signedIdentity'],
    ['an unknown field', { conditon: 'true' }, 'conditon'],
    ['a condition over the length cap', { condition: `${'true && '.repeat(600)}true` }, 'longer than 4096'],
    ['a maxBytes beyond the budget', { maxBytes: 64 * 1024 * 1024 }, 'maxBytes'],
  ])('refuses %s', (_name, extra, why) => {
    expect(() => compile(attested(extra))).toThrow(why);
  });

  it.each([
    ['a syntax error', 'predicate.x ==', 'CEL: Unexpected token'],
    ['an unknown variable', 'predicat.x == "y"', 'CEL: Unknown variable: predicat'],
    ['a field image does not have', 'image.tag == "v1"', 'CEL: No such key: tag'],
    ['a type error', 'predicateType + 1 == 2', 'CEL: no such overload'],
    ['a non-bool result', '1 + 2', 'CEL: the condition yields int, not bool'],
    ['nesting beyond the cap', `${'['.repeat(40)}1${']'.repeat(40)} == []`, 'CEL:'],
  ])('a condition with %s is refused at load, naming the file and the path', (_name, condition, why) => {
    expect(() => compile(attested({ condition }))).toThrow(
      `invalid policy ${join(dir, 'policy.yaml')}: scopes."r.io/app"[0].condition: ${why}`,
    );
  });

  it('loadPolicy (the hook and check) type-checks conditions too', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(doc(attested({ condition: 'nope == 1' }))));
    await expect(loadPolicy(file)).rejects.toThrow('condition: CEL: Unknown variable: nope');
    writeFileSync(file, JSON.stringify(doc(attested({ condition: 'predicate.ok == true' }))));
    expect(only(await loadPolicy(file)).type).toBe('sigstoreAttested');
  });
});

describe('the scope decision', () => {
  it('a scope with only sigstoreAttested is verified, never accepted unverified', () => {
    const ref = parseReference(`r.io/app@sha256:${'a'.repeat(64)}`);
    const d = scopeVerdict(ref, ref, compile(attested()));
    expect(d.verdict).toBeUndefined();
    expect(d.reports[0]).toMatchObject({ type: 'sigstoreAttested', predicateType: PROV, satisfied: false, code: 'NO_ATTESTATION' });
  });
});

describe('the verdict cache key', () => {
  const ref = parseReference(`r.io/app@sha256:${'a'.repeat(64)}`);
  const key = (reqs: Requirement[]) => cacheKey(ref, ref.digest!, 'r.io/app', reqs, { os: 'linux', architecture: 'amd64' });
  it('changes with the condition, the predicate type, the cap and the formats', () => {
    const base = key(compile(attested({ condition: 'predicate.a == 1' })).scopes.get('r.io/app')!);
    expect(key(compile(attested({ condition: 'predicate.a == 1' })).scopes.get('r.io/app')!)).toBe(base);
    expect(key(compile(attested({ condition: 'predicate.a == 2' })).scopes.get('r.io/app')!)).not.toBe(base);
    expect(key(compile(attested()).scopes.get('r.io/app')!)).not.toBe(base);
    const other = { condition: 'predicate.a == 1', predicateType: 'https://spdx.dev/Document' };
    expect(key(compile(attested(other)).scopes.get('r.io/app')!)).not.toBe(base);
    expect(key(compile(attested({ condition: 'predicate.a == 1', maxBytes: 2048 })).scopes.get('r.io/app')!)).not.toBe(base);
    expect(key(compile(attested({ condition: 'predicate.a == 1', signatureFormats: ['bundle'] })).scopes.get('r.io/app')!)).not.toBe(base);
  });
  it('an attestation requirement is not keyed like a signature requirement with the same key', () => {
    const signed = { type: 'sigstoreSigned', keyPath: 'builder.pub', signedIdentity: { type: 'matchRepository' } };
    expect(key(compile(signed).scopes.get('r.io/app')!)).not.toBe(key(compile(attested()).scopes.get('r.io/app')!));
  });
});

describe('evaluating a condition', () => {
  const input = (predicate: unknown): ConditionInput => ({
    predicate,
    predicateType: PROV,
    subject: [{ name: 'r.io/app', digest: { sha256: 'a'.repeat(64) } }],
    image: { name: 'r.io/app:v1', digest: `sha256:${'a'.repeat(64)}` },
  });
  it('true holds; false, another type and an error refuse, each saying what it evaluated', () => {
    expect(evaluateCondition('predicate.builder == "acme"', input({ builder: 'acme' }), 1000)).toEqual({ ok: true });
    expect(evaluateCondition('predicate.builder == "acme"', input({ builder: 'evil' }), 1000)).toEqual({
      ok: false,
      problem: 'evaluated to false',
    });
    expect(evaluateCondition('predicate.builder', input({ builder: 'evil' }), 1000)).toEqual({
      ok: false,
      problem: 'evaluated to string "evil", not a bool',
    });
    const missing = evaluateCondition('predicate.builder == "acme"', input({}), 1000);
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.problem).toContain('evaluation failed: No such key: builder');
    expect(evaluateCondition('predicate.n == 1', input(null), 1000).ok).toBe(false);
  });
  it('the variables: predicateType, subject, image', () => {
    const c = `predicateType == "${PROV}" && subject.exists(s, "sha256:" + s.digest.sha256 == image.digest) && image.name.startsWith("r.io/")`;
    expect(conditionProblem(c)).toBeUndefined();
    expect(evaluateCondition(c, input({}), 1000)).toEqual({ ok: true });
  });
  it('a predicate built to be expensive is stopped by the time bound (nested comprehensions)', () => {
    const list = Array.from({ length: 3000 }, (_, i) => i);
    const started = Date.now();
    const r = evaluateCondition(
      'predicate.l.all(a, predicate.l.all(b, predicate.l.exists(c, c == -1) || a >= 0))',
      input({ l: list }),
      100,
    );
    expect(r).toEqual({ ok: false, problem: 'evaluation took longer than 100 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
  it('a regular expression that backtracks on attacker input is stopped too', () => {
    const r = evaluateCondition('predicate.s.matches("^(a+)+$")', input({ s: `${'a'.repeat(40)}b` }), 100);
    expect(r).toEqual({ ok: false, problem: 'evaluation took longer than 100 ms' });
  });
  it('the library runs in this context, not the vm one: the timeout still interrupts it, and what it left behind decides nothing after', () => {
    const c = 'predicate.l.all(a, predicate.l.all(b, a >= 0)) && predicate.ok == true';
    const list = Array.from({ length: 3000 }, (_, i) => i);
    expect(evaluateCondition(c, input({ l: list, ok: true }), 50)).toEqual({ ok: false, problem: 'evaluation took longer than 50 ms' });
    expect(evaluateCondition(c, input({ l: [1, 2], ok: false }), 1000)).toEqual({ ok: false, problem: 'evaluated to false' });
    expect(evaluateCondition(c, input({ l: [-1], ok: true }), 1000)).toEqual({ ok: false, problem: 'evaluated to false' });
    expect(evaluateCondition(c, input({ l: [1, 2], ok: true }), 1000)).toEqual({ ok: true });
  });
  it('only the documented variables: no prototype, no global, no host object', () => {
    expect(conditionProblem('process.env.HOME == ""')).toMatch(/Unknown variable: process/);
    expect(conditionProblem('image.constructor == null')).toMatch(/constructor/);
    const proto = 'has(predicate.constructor) || has(predicate.__proto__) || has(predicate.toString) || "hasOwnProperty" in predicate';
    expect(evaluateCondition(proto, input({}), 1000)).toEqual({ ok: false, problem: 'evaluated to false' });
    // JSON.parse makes "__proto__" an own key, never the prototype: its fields are not the predicate's
    expect(evaluateCondition('predicate.ok == true', input(JSON.parse('{"__proto__": {"ok": true}}')), 1000).ok).toBe(false);
  });
  it('a predicate of an unexpected type never passes a positive condition', () => {
    const c = 'predicate.builder.id.startsWith("https://github.com/acme/") && predicate.critical == 0';
    const good = { builder: { id: 'https://github.com/acme/b' }, critical: 0 };
    expect(evaluateCondition(c, input(good), 1000)).toEqual({ ok: true });
    for (const p of [
      null,
      'x',
      [good],
      { ...good, critical: '0' },
      { ...good, critical: null },
      { builder: 'https://github.com/acme/b', critical: 0 },
    ])
      expect(evaluateCondition(c, input(p), 1000).ok).toBe(false);
  });
  it('the bound never exceeds CONDITION_MAX_MS, whatever time is left', () => {
    expect(CONDITION_MAX_MS).toBeLessThanOrEqual(2000);
  });
});

describe('crio-policy', () => {
  const input = () => parsePolicyInput(doc(attested()), '/src/policy.yaml');
  it('refuses a policy with an attestation requirement, naming it', () => {
    expect(() => generateCrioFiles(input(), { source: '/src/policy.yaml', keyBase: '/etc/sigguard' })).toThrow(
      /scopes."r.io\/app"\[0\]: sigstoreAttested \(https:\/\/slsa.dev\/provenance\/v1\): policy.json has no attestation requirement.*--hook-fallback/,
    );
  });
  it('with --hook-fallback leaves it to the hook', () => {
    const out = generateCrioFiles(input(), { source: '/src/policy.yaml', keyBase: '/etc/sigguard', hookFallback: true });
    expect(JSON.parse(out.files.get('policy.json')!).transports.docker['r.io/app']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(out.handedToHook.map((h) => h.where)).toEqual(['scopes."r.io/app"[0]']);
  });
});
