/**
 * What a warm hook start computes without node:crypto (issue 15): SHA-256 in JavaScript
 * (src/hash.ts) giving node:crypto's digests, and policy keys named from facts kept with the
 * validated documents, parsed by node:crypto only when a verification uses them.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DocCache } from '../../src/cache/doc-cache.js';
import { sha256Hex } from '../../src/hash.js';
import { asKeyFacts, knownPublicKey, parsePublicKey } from '../../src/policy/keys.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Requirement } from '../../src/policy/types.js';
import { tempDir } from '../support/temp.js';

describe('sha256Hex', () => {
  it('is node:crypto’s SHA-256: strings as UTF-8, bytes, parts one after another', () => {
    const texts = [
      '',
      'a',
      'x'.repeat(55),
      'x'.repeat(56),
      'x'.repeat(64),
      'x'.repeat(1000),
      'ünïcödé ✓ \u{1f600}',
      'lone \ud800 surrogate',
      '\0nul\0',
    ];
    for (const t of texts) expect(sha256Hex(t), JSON.stringify(t)).toBe(createHash('sha256').update(t).digest('hex'));
    for (const n of [0, 1, 63, 64, 65, 4096, 100_003]) {
      const b = randomBytes(n);
      expect(sha256Hex(b)).toBe(createHash('sha256').update(b).digest('hex'));
    }
    const b = randomBytes(300);
    expect(sha256Hex('root:', b, 'x', Buffer.alloc(0))).toBe(createHash('sha256').update('root:').update(b).update('x').digest('hex'));
  });
});

const keysOf = (rs: Requirement[] | undefined) => (rs ?? []).flatMap((r) => (r.type === 'sigstoreSigned' ? r.keys : []));

describe('policy keys on a warm start', () => {
  const dir = tempDir('sigguard-warm-keys-');
  const pems = {
    ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    ed25519: generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
  for (const [name, pem] of Object.entries(pems)) writeFileSync(join(dir, `${name}.pub`), pem);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1\nscopes:\n  "r.example":\n    - type: sigstoreSigned\n      keyPaths: [ec.pub, rsa.pub, ed25519.pub]\n    - type: sigstoreSigned\n      keyDatas: [${Buffer.from(pems.ec).toString('base64')}]\n`,
  );

  it('the second load names each key from the cached facts, as the first parsed it, and parses it when used', async () => {
    const docs = new DocCache(join(dir, 'cache-a'));
    const first = keysOf((await loadPolicy(policy, docs)).scopes.get('r.example'));
    const second = keysOf((await loadPolicy(policy, docs)).scopes.get('r.example'));
    expect(readdirSync(join(dir, 'cache-a', 'docs')).filter((f) => f.startsWith('key-'))).toHaveLength(3); // the keyData is ec.pub's bytes
    expect(second.map((k) => [k.label, k.id, k.fingerprint])).toEqual(first.map((k) => [k.label, k.id, k.fingerprint]));
    expect(second.map((k) => k.key.asymmetricKeyType)).toEqual(['ec', 'rsa', 'ed25519', 'ec']);
    for (const [i, k] of second.entries()) {
      expect(k.key.export({ format: 'der', type: 'spki' }).equals(first[i]!.key.export({ format: 'der', type: 'spki' }))).toBe(true);
    }
  });

  it('facts that do not describe the key: using the key throws, never verifies with it', () => {
    const other = parsePublicKey(pems.rsa, 'rsa.pub');
    const lying = knownPublicKey(pems.ec, 'ec.pub', { fingerprint: other.fingerprint, type: 'ec' });
    expect(lying.fingerprint).toBe(other.fingerprint);
    expect(() => lying.key).toThrow(/ec\.pub: the key differs from the one its cached facts describe/);
    const wrongType = knownPublicKey(pems.ec, 'ec.pub', { fingerprint: parsePublicKey(pems.ec, 'x').fingerprint, type: 'ed25519' });
    expect(() => wrongType.key).toThrow(/differs/);
  });

  it('a cached fact that is not what the loader writes is no fact: the key is parsed again', async () => {
    for (const bad of [
      null,
      'x',
      {},
      { fingerprint: 'abc', type: 'ec' },
      { fingerprint: 'A'.repeat(64), type: 'ec' },
      { fingerprint: 'a'.repeat(64), type: 'dsa' },
    ]) {
      expect(asKeyFacts(bad)).toBeUndefined();
    }
    const docs = new DocCache(join(dir, 'cache-b'));
    await loadPolicy(policy, docs);
    for (const f of readdirSync(join(dir, 'cache-b', 'docs')).filter((n) => n.startsWith('key-'))) {
      const file = join(dir, 'cache-b', 'docs', f);
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), type: 'dsa' }));
    }
    const keys = keysOf((await loadPolicy(policy, docs)).scopes.get('r.example'));
    expect(keys.map((k) => k.key.asymmetricKeyType)).toEqual(['ec', 'rsa', 'ed25519', 'ec']);
    // parsed again, and the facts written again as they are
    for (const f of readdirSync(join(dir, 'cache-b', 'docs')).filter((n) => n.startsWith('key-'))) {
      expect(asKeyFacts(JSON.parse(readFileSync(join(dir, 'cache-b', 'docs', f), 'utf8')))).toBeDefined();
    }
  });

  it('a key file changed between starts is a different key, whatever was cached', async () => {
    const docs = new DocCache(join(dir, 'cache-c'));
    const before = keysOf((await loadPolicy(policy, docs)).scopes.get('r.example'))[0]!;
    const fresh = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(join(dir, 'ec.pub'), fresh);
    try {
      const after = keysOf((await loadPolicy(policy, docs)).scopes.get('r.example'))[0]!;
      expect(after.fingerprint).not.toBe(before.fingerprint);
      expect(after.fingerprint).toBe(parsePublicKey(fresh, 'x').fingerprint);
    } finally {
      writeFileSync(join(dir, 'ec.pub'), pems.ec);
    }
  });
});
