/**
 * Issue 13's keyless proof: a keyless signature logged in a Rekor shard that only the updated
 * root knows. A policy trusts `public-good`; the signature (a Fulcio-style leaf from a CA made
 * here, its Rekor entry's SET by a new shard's key) is refused while the built-in root is in use,
 * still refused after `trust update` brings a root (TUF targets v20) that knows the CA but not
 * the shard, verified after the next update (v21, the shard added) — and refused with
 * TRUST_ROOT_INVALID once the kept root no longer matches its signed TUF metadata, not
 * verified against the older built-in root instead.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { SigguardError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { DEFAULT_PUBLIC_GOOD_KEPT, setPublicGoodKept } from '../../src/policy/kept-root.js';
import { scopeTrustRoots } from '../../src/policy/trust-roots.js';
import type { SigstoreSignedRequirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { trustUpdate } from '../../src/trust/update.js';
import { EMAIL, ISSUER, KeylessShards } from '../support/keyless-shard.js';
import { TufRepoFixture } from '../support/tuf-repo.js';
import { tempDir } from '../support/temp.js';

const REPO = 'registry.example/team/app';
const DIGEST = `sha256:${'cd'.repeat(32)}`;

let dir: string;
let k: KeylessShards;
let integratedTime: number;
const trustedRoot = (shards: number[]) => k.trustedRoot(shards);
const signatureInShard2 = (t: number) => prepareSignature(k.signatureInShard2(DIGEST, REPO, t));

function requirement() {
  const req = {
    type: 'sigstoreSigned',
    signatureFormats: ['legacy'],
    signedIdentity: { type: 'matchRepository' },
    keyless: { trustedRoot: 'public-good', identities: [{ issuer: ISSUER, subject: EMAIL }], requireRekor: true, requireSCT: false },
  };
  const policy = compilePolicy({ version: 1, scopes: { [REPO]: [req] } }, join(dir, 'policy.yaml'), dir);
  return { policy, req: policy.scopes.get(REPO)![0] as SigstoreSignedRequirement };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-keyless-shard-'));
  k = new KeylessShards(dir);
  integratedTime = await KeylessShards.loggedTime();
});
afterAll(() => {
  setPublicGoodKept(DEFAULT_PUBLIC_GOOD_KEPT);
  rmSync(dir, { recursive: true, force: true });
});

describe('a keyless signature in a Rekor shard only the updated root knows', () => {
  it('refused with the built-in root, and with an update that lacks the shard; verified once the update brings it', async () => {
    const image = parseReference(`${REPO}@${DIGEST}`);
    const out = join(tempDir('sigguard-keyless-kept-'), 'public-good.json');
    setPublicGoodKept(out);

    const builtIn = requirement();
    expect(builtIn.req.trust.label).toBe('trusted root public-good (built in, TUF targets v14)');
    const refused = (await evaluateSigstoreRequirement(builtIn.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(refused).toMatchObject({ satisfied: false, code: 'UNTRUSTED_SIGNER' });
    expect(refused.reason).toMatch(/certificate chain not trusted/);

    const repo = new TufRepoFixture(join(dir, 'tuf'));
    repo.publish({ 'trusted_root.json': trustedRoot([0]) }, { targetsVersion: 20 });
    await trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    const withoutShard = requirement();
    expect(withoutShard.req.trust.label).toMatch(/^trusted root public-good \(TUF targets v20 from file:/);
    const stillRefused = (await evaluateSigstoreRequirement(withoutShard.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(stillRefused).toMatchObject({ satisfied: false, code: 'UNTRUSTED_SIGNER' });
    expect(stillRefused.reason).toMatch(/TUF targets v20/);
    expect(stillRefused.reason).toMatch(/inclusion promise could not be verified/);

    repo.publish({ 'trusted_root.json': trustedRoot([0, 1]) }, { targetsVersion: 21 });
    expect(
      await trustUpdate({ from: repo.dir, target: 'trusted_root.json', out, timeoutMs: 10_000 }), // from the kept state now
    ).toMatchObject({ status: 'updated', targetsVersion: 21 });
    const updated = requirement();
    const verified = (await evaluateSigstoreRequirement(updated.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(verified).toMatchObject({ satisfied: true, code: 'ALLOWED', signer: expect.stringContaining(EMAIL) });
    // what the decision log names
    expect(scopeTrustRoots(updated.policy, REPO)).toMatch(/^public-good \(TUF targets v21 from file:.*, fetched \d{4}-/);
    // a new root is a new cache key
    expect(updated.req.trust.fingerprint).not.toBe(withoutShard.req.trust.fingerprint);

    // the kept root altered behind the TUF metadata's back: refused with why, not the built-in root instead
    writeFileSync(out, trustedRoot([1, 0]), { mode: 0o600 });
    const broken = requirement();
    expect(broken.req.trust.label).toMatch(/public-good \(unusable: updated trusted root .* signed targets metadata version 21\)/);
    const e = await evaluateSigstoreRequirement(broken.req, [signatureInShard2(integratedTime)], [], image).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(SigguardError);
    expect((e as SigguardError).code).toBe('TRUST_ROOT_INVALID');
  });
});
