/**
 * The requirement types behind one interface (src/engine/requirements/): each says what it
 * reports before any signature is read, and what it reports after judging the signatures
 * found. The signature checks themselves: x509-path, bundle-identity, containers-image fixtures.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type RequirementContext, describeRequirement, evaluateRequirement } from '../../src/engine/requirements/index.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';

const ctx = (over: Partial<RequirementContext> = {}): RequirementContext => ({
  signatures: () => [],
  unreadable: [],
  intended: parseReference('r.io/app:v1'),
  checkpoint: () => {},
  ...over,
});

const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
const sigstore = (): Requirement =>
  compilePolicy(
    { version: 1, scopes: { 'r.io': [{ type: 'sigstoreSigned', keyData: Buffer.from(pem).toString('base64') }] } },
    '/p.yaml',
    '/',
  ).scopes.get('r.io')![0]!;

describe('requirement types', () => {
  it('insecureAcceptAnything accepts, before and after evaluation, judging no signature', async () => {
    const req: Requirement = { type: 'insecureAcceptAnything' };
    const expected = { type: 'insecureAcceptAnything', satisfied: true, code: 'POLICY_ACCEPT' };
    expect(describeRequirement(req)).toMatchObject(expected);
    expect(await evaluateRequirement(req, ctx())).toMatchObject({ report: expected, judged: [] });
  });

  it('reject refuses, whatever signatures there are', async () => {
    const req: Requirement = { type: 'reject' };
    const expected = { type: 'reject', satisfied: false, code: 'POLICY_REJECT' };
    expect(describeRequirement(req)).toMatchObject(expected);
    const never = ctx({
      signatures: () => {
        throw new Error('reject read the signatures');
      },
    });
    expect(await evaluateRequirement(req, never)).toMatchObject({ report: expected, judged: [] });
  });

  it('sigstoreSigned is unsatisfied until evaluated, and names its key', () => {
    const r = describeRequirement(sigstore());
    expect(r).toMatchObject({
      type: 'sigstoreSigned',
      satisfied: false,
      code: 'NO_SIGNATURE',
      reason: 'not evaluated',
      signedIdentity: 'matchRepoDigestOrExact',
      signatureFormats: ['legacy', 'bundle'],
    });
    expect(r.keys).toEqual([expect.stringMatching(/^keyData\[0\] \(SHA256:[0-9a-f]{16}\)$/)]);
  });

  it('sigstoreSigned with no signature found refuses NO_SIGNATURE', async () => {
    const { report, judged } = await evaluateRequirement(sigstore(), ctx());
    expect(judged).toEqual([]);
    expect(report).toMatchObject({ satisfied: false, code: 'NO_SIGNATURE', reason: 'no legacy or bundle signature found' });
  });

  it('sigstoreSigned reads the signatures afresh, calling checkpoint between them (a passed deadline refuses)', async () => {
    let reads = 0;
    const deadline = new Error('deadline');
    const c = ctx({
      signatures: () => {
        reads++;
        return [{ found: { format: 'legacy' }, ok: false, problem: 'x' } as never];
      },
      checkpoint: () => {
        throw deadline;
      },
    });
    await expect(evaluateRequirement(sigstore(), c)).rejects.toBe(deadline);
    expect(reads).toBe(1);
  });
});
