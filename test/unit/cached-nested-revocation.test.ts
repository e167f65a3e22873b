/**
 * A cached allow for a multi-arch image never outlives the revocation of any digest it involved:
 * the nested index between the index and the platform manifest included (review finding).
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { VerdictStore } from '../../src/cache/store.js';
import { loadConfig } from '../../src/config/load.js';
import { cachedVerify } from '../../src/engine/cached-verify.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from '../support/temp.js';

const h = (c: string) => `sha256:${c.repeat(64)}`;
const INDEX = h('a');
const NESTED = h('b');
const PLATFORM = h('c');
const CONFIG = h('d');

describe('the verdict cache and denyDigests', () => {
  it.each([
    ['the nested index', NESTED],
    ['the platform manifest', PLATFORM],
  ])('a fresh cached allow is refused once %s is revoked', async (_what, revoked) => {
    const dir = tempDir('sg-nested-');
    const settings = { dir: join(dir, 'cache'), ttlMs: 3_600_000, denyBackoffMs: 30_000, maxStaleMs: 86_400_000 };
    const doc = (deny: string[]) => ({
      version: 1,
      denyDigests: deny,
      scopes: { 'r.example': [{ type: 'sigstoreSigned', keyData: KEY, signedIdentity: { type: 'matchRepository' } }] },
    });
    const before = compilePolicy(doc([]), join(dir, 'p.yaml'));
    const after = compilePolicy(doc([revoked]), join(dir, 'p.yaml'));
    const ref = parseReference(`r.example/app@${INDEX}`);
    const config = await loadConfig(undefined);
    const { scope, requirements } = scopeVerdict(ref, ref, before);
    new VerdictStore(settings.dir).write({
      key: cacheKey(ref, INDEX, scope, requirements, config.platform),
      decision: 'allow',
      code: 'ALLOWED',
      reason: 'verified',
      image: 'r.example/app',
      digest: INDEX,
      platformDigest: PLATFORM,
      nestedDigests: NESTED,
      configDigest: CONFIG,
      scope,
      verifiedAt: Date.now(),
    });
    const decide = (policy: typeof before) =>
      cachedVerify(
        { ref, named: ref, imageId: CONFIG },
        { config, policy, signal: new AbortController().signal, cache: settings, allowTagResolution: false },
      );
    expect((await decide(before)).outcome).toMatchObject({ decision: 'allow', cache: 'hit' });
    expect((await decide(after)).outcome).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
  });
});

// any valid public key: the cached verdict is what is judged here
const KEY = Buffer.from(
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
).toString('base64');
