/**
 * `docs/` in a cache folder only grew: one validated document per version and per text of each
 * document, and the locks, wake sockets and temporary files of killed hooks. DocCache.prune removes
 * what no start reads any more, and the agent's priming (prime-documents.ts) writes the documents in
 * force again right after. An attacker who cannot write the root-only folder gains nothing here; the
 * cases are about never removing what is not the cache's own, and never losing a document in force.
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { primeHookDocuments } from '../../src/agent/prime-documents.js';
import { DOC_LEFTOVER_MS, DOC_MAX_AGE_MS, DocCache } from '../../src/cache/doc-cache.js';

let dir: string;
const NOW = Date.now();
const hex = (n: number, c: string) => c.repeat(n);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-doc-prune-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A file in `docs/` last written `ageMs` before NOW. */
function put(name: string, ageMs: number, text = '{}'): string {
  const docs = join(dir, 'docs');
  mkdirSync(docs, { recursive: true, mode: 0o700 });
  const file = join(docs, name);
  writeFileSync(file, text, { mode: 0o600 });
  const t = (NOW - ageMs) / 1000;
  utimesSync(file, t, t);
  return file;
}

const left = () => readdirSync(join(dir, 'docs')).sort();

describe('DocCache.prune', () => {
  it('removes documents older than DOC_MAX_AGE_MS, keeps younger ones', () => {
    put(`policy-${hex(64, 'a')}.json`, DOC_MAX_AGE_MS + 60_000);
    put(`config-${hex(64, 'b')}.json`, DOC_MAX_AGE_MS - 60_000);
    put(`key-${hex(64, 'c')}.json`, DOC_MAX_AGE_MS + 60_000);
    expect(new DocCache(dir).prune(NOW)).toBe(2);
    expect(left()).toEqual([`config-${hex(64, 'b')}.json`]);
  });

  it('removes locks, wake files and temporary files of killed processes after DOC_LEFTOVER_MS, not those of a running one', () => {
    const old = DOC_LEFTOVER_MS + 60_000;
    put(`v-${hex(32, '1')}.lock`, old);
    put(`v-${hex(32, '2')}.wake`, old);
    put(`v-${hex(32, '3')}.lock.4242.tmp`, old);
    put(`policy-${hex(64, 'd')}.json.4242.tmp`, old);
    put(`v-${hex(32, '4')}.lock`, 1_000); // a hook holding it now
    expect(new DocCache(dir).prune(NOW)).toBe(4);
    expect(left()).toEqual([`v-${hex(32, '4')}.lock`]);
  });

  it('leaves names it does not write, folders, and the target of a symlink', () => {
    const ancient = DOC_MAX_AGE_MS * 10;
    put('README', ancient);
    put(`policy-${hex(63, 'a')}.json`, ancient); // not a name the cache writes
    put(`../escape-${hex(64, 'a')}.json`, ancient); // outside docs/: never listed
    mkdirSync(join(dir, 'docs', `policy-${hex(64, 'e')}.json`));
    const target = join(dir, 'target');
    writeFileSync(target, 'kept');
    symlinkSync(target, join(dir, 'docs', `v-${hex(32, '5')}.lock`));
    const t = (NOW - ancient) / 1000;
    utimesSync(join(dir, 'docs', `policy-${hex(64, 'e')}.json`), t, t);
    // an hour on, the symlink (named as a lock) is a leftover: the link goes, never its target
    expect(new DocCache(dir).prune(NOW + DOC_LEFTOVER_MS + 60_000)).toBe(1);
    expect(readFileSync(target, 'utf8')).toBe('kept');
    expect(existsSync(join(dir, `escape-${hex(64, 'a')}.json`))).toBe(true);
    expect(left()).toEqual(['README', `policy-${hex(63, 'a')}.json`, `policy-${hex(64, 'e')}.json`]);
  });

  it('removes nothing from a folder that is not root’s alone, and nothing without a docs folder', () => {
    put(`policy-${hex(64, 'a')}.json`, DOC_MAX_AGE_MS * 2);
    chmodSync(join(dir, 'docs'), 0o777);
    expect(new DocCache(dir).prune(NOW)).toBe(0);
    expect(left()).toHaveLength(1);
    expect(new DocCache(join(dir, 'none')).prune(NOW)).toBe(0);
  });
});

describe('priming prunes, then writes the documents in force again', () => {
  it('an old document of an earlier text is gone, the ones in force (policy, key, config, hosts.toml) are there even when their files were old', async () => {
    const etc = join(dir, 'etc');
    mkdirSync(etc);
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(join(etc, 'cosign.pub'), pub);
    const cacheDir = join(dir, 'hook-cache');
    // a registry reached through a hosts.toml (as Kind's is), and one whose hosts.toml is invalid
    const certs = join(dir, 'certs.d');
    const hostsText = `server = "http://registry.example:5000"\n[host."http://mirror.example:5000"]\n  capabilities = ["pull", "resolve"]\n`;
    const badHosts = `server = "http://other.example"\n[host."http://other.example"]\n  capabilities = ["pull", "delete"]\n`;
    mkdirSync(join(certs, 'registry.example:5000'), { recursive: true });
    mkdirSync(join(certs, 'other.example'), { recursive: true });
    writeFileSync(join(certs, 'registry.example:5000', 'hosts.toml'), hostsText);
    writeFileSync(join(certs, 'other.example', 'hosts.toml'), badHosts);
    writeFileSync(join(etc, 'config.yaml'), `registry:\n  certsDir: ${certs}\ncache:\n  dir: ${cacheDir}\n`);
    const policy = `version: 1\nscopes:\n  "registry.example/app":\n    - type: sigstoreSigned\n      keyPath: ${join(etc, 'cosign.pub')}\n`;
    writeFileSync(join(etc, 'policy.yaml'), policy);
    const documents = {
      policyFile: join(etc, 'policy.yaml'),
      configFile: join(etc, 'config.yaml'),
      defaultCacheDir: join(dir, 'default-cache'),
    };
    expect(await primeHookDocuments(documents)).toBe(true);
    expect(new DocCache(cacheDir).get('hosts', hostsText)).toBeDefined();
    expect(new DocCache(cacheDir).get('hosts', badHosts), 'an invalid hosts.toml is never cached').toBeUndefined();
    // every file of the first priming made old, and one of an earlier policy text besides
    const docs = join(cacheDir, 'docs');
    writeFileSync(join(docs, `policy-${hex(64, 'f')}.json`), '{}', { mode: 0o600 });
    const t = (NOW - DOC_MAX_AGE_MS - 60_000) / 1000;
    for (const f of readdirSync(docs)) utimesSync(join(docs, f), t, t);
    for (const f of readdirSync(join(dir, 'default-cache', 'docs'))) utimesSync(join(dir, 'default-cache', 'docs', f), t, t);
    expect(await primeHookDocuments(documents)).toBe(true);
    expect(readdirSync(docs)).not.toContain(`policy-${hex(64, 'f')}.json`);
    expect(new DocCache(cacheDir).get('policy', policy)).toBeDefined();
    expect(new DocCache(cacheDir).get('key', Buffer.from(pub).toString('base64'))).toBeDefined();
    // the registry's hosts.toml too: a verification would otherwise validate it again after a prune
    expect(new DocCache(cacheDir).get('hosts', hostsText)).toBeDefined();
    expect(new DocCache(cacheDir).get('hosts', badHosts)).toBeUndefined();
    expect(new DocCache(join(dir, 'default-cache')).get('config', readFileSync(join(etc, 'config.yaml'), 'utf8'))).toBeDefined();
  });
});
