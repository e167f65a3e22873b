/**
 * The scope decision is made once per verification: the hook decides by scope before it
 * looks at the cache, and hands that decision to verifyImage, which does not make it again.
 */
import { describe, expect, it, vi } from 'vitest';
import { verifyImage } from '../../src/engine/verify-image.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import type { RegistryClient } from '../../src/registry/client.js';

vi.mock('../../src/engine/scope-verdict.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/engine/scope-verdict.js')>();
  return { ...real, scopeVerdict: vi.fn(real.scopeVerdict) };
});

const D = `sha256:${'d'.repeat(64)}`;
const policy = (doc: Record<string, unknown>) => compilePolicy({ version: 1, ...doc }, '/p.yaml', '/');
/** A registry client that must not be asked: these decisions are the policy's alone. */
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
const calls = () => vi.mocked(scopeVerdict).mock.calls.length;

describe('scopeVerdict runs once per verification', () => {
  const ref = parseReference(`r.io/app@${D}`);

  it('verifyImage decides the scope itself when not given the decision (check)', async () => {
    const before = calls();
    expect(await verifyImage(ref, opts(policy({ default: 'accept' })))).toMatchObject({ decision: 'allow', code: 'POLICY_ACCEPT' });
    expect(calls() - before).toBe(1);
  });

  it('verifyImage uses the decision it is given (the hook) and does not make it again', async () => {
    const rejecting = policy({ scopes: { 'r.io': [{ type: 'reject' }] } });
    const scoped = scopeVerdict(ref, ref, rejecting);
    const before = calls();
    // the policy passed along would accept: the verdict is the decision handed over
    const v = await verifyImage(ref, { ...opts(policy({ default: 'accept' })), scoped });
    expect(v).toMatchObject({ decision: 'deny', code: 'POLICY_REJECT', scope: 'r.io' });
    expect(calls() - before).toBe(0);
  });

  it('a decision handed over does not skip denyDigests', async () => {
    const p = policy({ default: 'accept', denyDigests: [D] });
    const v = await verifyImage(ref, { ...opts(p), scoped: scopeVerdict(ref, ref, p) });
    expect(v).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
  });

  it('the reports of a decision handed over are not changed by the verification', async () => {
    const p = policy({ default: 'accept' });
    const scoped = scopeVerdict(ref, ref, p);
    const reports = structuredClone(scoped.reports);
    await verifyImage(ref, { ...opts(p), scoped });
    expect(scoped.reports).toEqual(reports);
  });
});
