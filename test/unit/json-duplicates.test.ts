/**
 * JSON policies and configs with a key written twice are refused, naming the file and the key:
 * JSON.parse silently keeps the last one (`"default": "reject", …, "default": "accept"`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parseDocumentSync } from '../../src/document/parse-sync.js';
import { duplicateJsonKey } from '../../src/document/json-duplicates.js';
import { loadPolicy } from '../../src/policy/load.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-dupkeys-');
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('duplicateJsonKey', () => {
  it.each([
    ['{"version":1,"default":"reject","scopes":{},"default":"accept"}', 'default', ''],
    ['{"scopes":{"a.io":[{"type":"reject"}],"a.io":[{"type":"insecureAcceptAnything"}]}}', 'a.io', 'scopes'],
    ['{"scopes":{"a.io":[{"type":"reject"},{"type":"sigstoreSigned","keyPath":"a","keyPath":"b"}]}}', 'keyPath', 'scopes."a.io"[1]'],
    // the same key spelt with an escape is the same key
    ['{"default":"reject","\\u0064efault":"accept"}', 'default', ''],
    // whitespace between the key and its colon
    ['{ "a" : 1 ,\n\t"a"\r\n: 2 }', 'a', ''],
  ])('finds the duplicate in %s', (text, key, path) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(duplicateJsonKey(text)).toEqual({ key, path });
  });

  it.each(['{"a":{"x":1},"b":{"x":1}}', '{"a":"\\"a\\":","b":["a","a"]}', '{"a":["x",{"a":1}],"b":"}{"}', '{"k":"a\\\\","a":"k"}'])(
    'finds none in %s',
    (text) => {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(duplicateJsonKey(text)).toBeUndefined();
    },
  );

  it('finds none in any JSON that JSON.stringify writes, and one wherever a key is repeated', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        expect(duplicateJsonKey(JSON.stringify(v, null, 1))).toBeUndefined();
      }),
      { seed: 10, numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }),
        fc.jsonValue({ maxDepth: 2 }),
        (obj, extra) => {
          const key = Object.keys(obj)[0]!;
          const text = `{"wrap":${JSON.stringify(obj).slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(extra)}}}`;
          expect(duplicateJsonKey(text)).toEqual({ key, path: 'wrap' });
        },
      ),
      { seed: 11, numRuns: 500 },
    );
  });

  it('copes with deep nesting (no recursion)', () => {
    const deep = `${'['.repeat(100_000)}{"a":1,"a":2}${']'.repeat(100_000)}`;
    expect(duplicateJsonKey(deep)?.key).toBe('a');
  });
});

describe('policy and config files', () => {
  it('refuses a JSON policy that says default twice (POLICY_INVALID, naming file and key)', async () => {
    const f = write('p.json', '{"version": 1, "default": "reject", "scopes": {}, "default": "accept"}');
    await expect(loadPolicy(f)).rejects.toMatchObject({ code: 'POLICY_INVALID', message: `cannot parse ${f}: duplicate key "default"` });
    expect(() => parseDocumentSync('{"scopes":{"a.io":[],"a.io":[]}}', 'x.json', 'POLICY_INVALID')).toThrow(
      'cannot parse x.json: duplicate key "a.io" in scopes',
    );
  });

  it('refuses a JSON config with a duplicate key (CONFIG_INVALID)', async () => {
    const f = write('c.json', '{"cache": {"enabled": true, "enabled": false}}');
    await expect(loadConfig(f)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `cannot parse ${f}: duplicate key "enabled" in cache`,
    });
  });

  it('YAML refuses them as before', async () => {
    const f = write('p.yaml', 'version: 1\ndefault: reject\ndefault: accept\n');
    await expect(loadPolicy(f)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringMatching(/Map keys must be unique/),
    });
  });
});
