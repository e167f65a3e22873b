/**
 * hosts.toml kept validated in the document cache (src/registry/hosts-config.ts): a file whose
 * exact text was validated before gives the same endpoints without the TOML parser or zod; a
 * changed, unreadable or invalid one is validated again (or refused) as before, never taken from
 * the cache.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DocCache } from '../../src/cache/doc-cache.js';
import { readHostsFile } from '../../src/registry/endpoints.js';
import { validatedHostsEndpoints } from '../../src/registry/hosts-config.js';
import { resolveEndpoints } from '../../src/registry/hosts.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-hosts-cache-'));
  mkdirSync(join(dir, 'certs'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const settingsWith = (docs?: DocCache) => ({
  certsDir: join(dir, 'certs'),
  insecureRegistries: [],
  caFiles: {},
  ...(docs ? { docs } : {}),
});
function hostsFile(host: string, text: string): void {
  mkdirSync(join(dir, 'certs', host), { recursive: true });
  writeFileSync(join(dir, 'certs', host, 'hosts.toml'), text);
}
const cached = (host: string, docs: DocCache) => {
  const settings = settingsWith(docs);
  const found = readHostsFile(settings, host);
  expect(found).toBeDefined();
  return validatedHostsEndpoints(host, found!, settings);
};

const FILES: Array<[string, string]> = [
  ['server only', 'server = "http://registry.internal:5000"\n'],
  ['a mirror, then the default', '[host."https://mirror.example:5000/v2"]\n  capabilities = ["pull"]\n'],
  [
    'override_path and skip_verify',
    'server = "https://r.example"\n[host."https://m.example/base"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n  skip_verify = true\n',
  ],
  [
    'a CA next to it and headers',
    '[host."https://m.example"]\n  ca = "ca.pem"\n  [host."https://m.example".header]\n    x-custom = ["a", "b"]\n',
  ],
];

describe('hosts.toml from the document cache', () => {
  for (const [what, text] of FILES) {
    it(`${what}: the same endpoints as a validation, once validated; none before`, () => {
      hostsFile('r.example', text);
      writeFileSync(join(dir, 'certs', 'r.example', 'ca.pem'), 'a CA');
      const docs = new DocCache(join(dir, 'cache'));
      expect(cached('r.example', docs)).toBeUndefined();
      const validated = resolveEndpoints('r.example', settingsWith(docs));
      expect(cached('r.example', docs)).toEqual(validated);
      // and a validation without a cache gives them too
      expect(resolveEndpoints('r.example', settingsWith())).toEqual(validated);
    });
  }

  it('a changed hosts.toml is not taken from the cache (its text is the key)', () => {
    hostsFile('r.example', 'server = "http://one.example"\n');
    const docs = new DocCache(join(dir, 'cache'));
    resolveEndpoints('r.example', settingsWith(docs));
    hostsFile('r.example', 'server = "http://two.example"\n');
    expect(cached('r.example', docs)).toBeUndefined();
    expect(resolveEndpoints('r.example', settingsWith(docs)).map((e) => e.origin)).toEqual(['http://two.example']);
    expect(cached('r.example', docs)?.map((e) => e.origin)).toEqual(['http://two.example']);
  });

  it('an invalid hosts.toml is refused and never cached; the same text stays refused', () => {
    const docs = new DocCache(join(dir, 'cache'));
    for (const text of [
      'server = [1, 2]\n',
      'this is = = not toml\n',
      '[host."https://m.example"]\n  capabilities = ["pull", "delete"]\n',
    ]) {
      hostsFile('r.example', text);
      expect(() => resolveEndpoints('r.example', settingsWith(docs))).toThrow(/hosts\.toml/);
      expect(cached('r.example', docs)).toBeUndefined();
    }
  });

  it('with no document cache nothing is looked up or kept', () => {
    hostsFile('r.example', 'server = "http://one.example"\n');
    const settings = settingsWith();
    resolveEndpoints('r.example', settings);
    expect(validatedHostsEndpoints('r.example', readHostsFile(settings, 'r.example')!, settings)).toBeUndefined();
  });
});
