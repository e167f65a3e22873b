/**
 * One key-signed image at `host` as the engine sees it before a verification: a policy trusting a
 * fresh P-256 key for the host, the reference by digest, the configuration, and the cache key and
 * settings its verdict is kept under in `dir` (for tests of cachedVerify's single flight and
 * what it keeps).
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { cacheKey } from '../../src/cache/key.js';
import { loadConfig } from '../../src/config/load.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';

export async function keyOnlyImage(dir: string, host: string, digest: string) {
  const keyData = Buffer.from(
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
  ).toString('base64');
  const settings = { dir: join(dir, 'cache'), ttlMs: 3_600_000, denyBackoffMs: 30_000, maxStaleMs: 0 };
  const policy = compilePolicy(
    {
      version: 1,
      default: 'reject',
      scopes: { [host]: [{ type: 'sigstoreSigned', keyData, signedIdentity: { type: 'matchRepository' } }] },
    },
    join(dir, 'p.yaml'),
  );
  const ref = parseReference(`${host}/app@${digest}`);
  const config = await loadConfig(undefined);
  const { scope, requirements } = scopeVerdict(ref, ref, policy);
  const key = cacheKey(ref, digest, scope, requirements, config.platform);
  return { settings, policy, ref, config, scope, key };
}
