/**
 * A cosign 3 bundle names no repository. Under exactRepository, exactReference and
 * remapIdentity (another repository than the image's own: the promotion pattern) a bundle
 * copied with its image from another repository must not pass unseen: such a requirement
 * accepts bundles only where signatureFormats lists `bundle`, and the policy then warns.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VerifyDetail } from '../../src/verify/detail.js';
import { describe, expect, it } from 'vitest';
import { generateCrioFiles } from '../../src/crio/generate.js';
import { parsePolicyInput } from '../../src/crio/input.js';
import type { PreparedSignature } from '../../src/engine/requirements/prepare.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-bundle-identity-');
writeFileSync(
  join(dir, 'k.pub'),
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString(),
);

const IDENTITIES = {
  exactRepository: { type: 'exactRepository', dockerRepository: 'dev.example/app' },
  exactReference: { type: 'exactReference', dockerReference: 'dev.example/app:v1' },
  remapIdentity: { type: 'remapIdentity', prefix: 'prod.example', signedPrefix: 'dev.example' },
  matchRepository: { type: 'matchRepository' },
  matchRepoDigestOrExact: { type: 'matchRepoDigestOrExact' },
  matchExact: { type: 'matchExact' },
} as const;

function compiled(identity: object | undefined, formats?: string[]) {
  const req = {
    type: 'sigstoreSigned',
    keyPath: 'k.pub',
    ...(identity ? { signedIdentity: identity } : {}),
    ...(formats ? { signatureFormats: formats } : {}),
  };
  const p = compilePolicy({ version: 1, scopes: { 'prod.example': [req] } }, join(dir, 'p.yaml'));
  const r = p.scopes.get('prod.example')![0]!;
  if (r.type !== 'sigstoreSigned') throw new Error('not sigstoreSigned');
  return { req: r, warnings: p.warnings };
}

describe('signatureFormats by signedIdentity', () => {
  it.each(['exactRepository', 'exactReference', 'remapIdentity'] as const)(
    '%s: legacy only unless bundle is listed; listing it warns',
    (name) => {
      expect(compiled(IDENTITIES[name]).req.signatureFormats).toEqual(['legacy']);
      expect(compiled(IDENTITIES[name]).warnings).toEqual([]);
      const explicit = compiled(IDENTITIES[name], ['legacy', 'bundle']);
      expect(explicit.req.signatureFormats).toEqual(['legacy', 'bundle']);
      expect(explicit.warnings).toEqual([
        expect.stringMatching(
          new RegExp(
            `^scopes\\."prod\\.example"\\[0\\]\\.signatureFormats: signedIdentity ${name} is checked on legacy signatures only: a cosign 3 bundle names no repository`,
          ),
        ),
      ]);
      expect(compiled(IDENTITIES[name], ['bundle']).warnings).toHaveLength(1);
      expect(compiled(IDENTITIES[name], ['legacy']).warnings).toEqual([]);
    },
  );

  it.each(['matchRepository', 'matchRepoDigestOrExact', 'matchExact'] as const)(
    '%s keeps accepting both by default, without a warning',
    (name) => {
      expect(compiled(IDENTITIES[name]).req.signatureFormats).toEqual(['legacy', 'bundle']);
      expect(compiled(IDENTITIES[name], ['legacy', 'bundle']).warnings).toEqual([]);
    },
  );

  it('no signedIdentity (matchRepoDigestOrExact) keeps both', () => {
    expect(compiled(undefined).req.signatureFormats).toEqual(['legacy', 'bundle']);
  });

  it('the attack: a bundle found next to the image does not satisfy an exactRepository requirement that did not ask for bundles', async () => {
    const { req } = compiled(IDENTITIES.exactRepository);
    // what discovery returns for a copied bundle; judged on its format first, before any crypto
    const copied: PreparedSignature = {
      found: { format: 'bundle', subject: `sha256:${'a'.repeat(64)}`, source: 'referrer' } as never,
      ok: false,
      problem: 'not read',
      detailCode: VerifyDetail.BUNDLE,
    };
    const { report, judged } = await evaluateSigstoreRequirement(req, [copied], [], parseReference('prod.example/app:v1'));
    expect(judged[0]!.status).toBe('ignored-format');
    expect(report).toMatchObject({ satisfied: false, code: 'NO_SIGNATURE' });
  });

  it('crio-policy: no bundle warning for these rules by default (CRI-O reads legacy only anyway)', () => {
    const input = parsePolicyInput(
      {
        version: 1,
        scopes: { 'prod.example': [{ type: 'sigstoreSigned', keyPath: 'k.pub', signedIdentity: IDENTITIES.exactRepository }] },
      },
      '/p.yaml',
    );
    expect(generateCrioFiles(input, { source: '/p.yaml', keyBase: '/etc/sigguard' }).warnings).toEqual([]);
    const both = parsePolicyInput(
      {
        version: 1,
        scopes: { 'prod.example': [{ type: 'sigstoreSigned', keyPath: 'k.pub', signedIdentity: IDENTITIES.matchRepository }] },
      },
      '/p.yaml',
    );
    expect(generateCrioFiles(both, { source: '/p.yaml', keyBase: '/etc/sigguard' }).warnings).toEqual([
      expect.stringMatching(/only legacy \.sig/),
    ]);
  });
});
