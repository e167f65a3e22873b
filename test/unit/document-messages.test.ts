/**
 * The policy's and the configuration's schemas are zod/mini (src/zod-docs.ts), which, unlike zod's
 * classic API, sets up no messages of its own: without zod's English set up there, every problem
 * would read "Invalid input". What an operator reads for a wrong field, as `policy validate`, the
 * agent and the hook report it (the same texts as with the classic API before).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { loadPolicy } from '../../src/policy/load.js';

const dir = mkdtempSync(join(tmpdir(), 'sigguard-doc-messages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const file = (text: string): string => {
  const f = join(dir, `d${n++}.yaml`);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
};
const policyError = (text: string) =>
  loadPolicy(file(text)).then(
    () => 'loaded',
    (e: Error) => e.message,
  );
const configError = (text: string) =>
  loadConfig(file(text)).then(
    () => 'loaded',
    (e: Error) => e.message,
  );

describe("the documents' problems, in zod's English", () => {
  it.each([
    ['version: 2\n', 'version: Invalid input: expected 1'],
    ['version: 1\nmode: loud\n', 'mode: Invalid option: expected one of "enforce"|"warn"'],
    [
      'version: 1\nscopes:\n  "a.example":\n    - type: sigstoreSigned\n      keyPath: 5\n',
      'scopes."a.example"[0].keyPath: Invalid input: expected string, received number',
    ],
    [
      'version: 1\nscopes:\n  "a.example":\n    - type: sigstoreAttested\n      predicateType: "x:y"\n      keyPath: /k\n      maxBytes: 10.5\n',
      'scopes."a.example"[0].maxBytes: Invalid input: expected int, received number',
    ],
    ['version: 1\nscopes:\n  "a.example": []\n', 'scopes."a.example": Too small: expected array to have >=1 items'],
    ['version: 1\nexemptNamespaces: [""]\n', 'exemptNamespaces[0]: Too small: expected string to have >=1 characters'],
  ])('policy %j', async (text, message) => {
    expect(await policyError(text)).toContain(message);
  });

  it.each([
    ['cache:\n  ttlSeconds: 0\n', 'cache.ttlSeconds: Too small: expected number to be >0'],
    ['cache:\n  denyBackoffSeconds: 301\n', 'cache.denyBackoffSeconds: Too big: expected number to be <=300'],
    ['registry:\n  insecureRegistries: "a.example"\n', 'registry.insecureRegistries: Invalid input: expected array, received string'],
  ])('config %j', async (text, message) => {
    expect(await configError(text)).toContain(message);
  });
});
