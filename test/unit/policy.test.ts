import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.js';
import { loadPolicy } from '../../src/policy/load.js';
import { tempDir } from '../support/temp.js';

let dir: string;
let pub: string;
beforeAll(() => {
  dir = tempDir('sigguard-policy-');
  pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  writeFileSync(join(dir, 'cosign.pub'), pub);
});

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('policy files', () => {
  it('reads the README example, with defaults filled in and keys loaded relative to the file', async () => {
    const file = write(
      'ok.yaml',
      `version: 1
scopes:
  "localhost:5001":
    - type: sigstoreSigned
      keyPath: cosign.pub
      signedIdentity: {type: matchRepository}
  "registry.k8s.io":
    - type: insecureAcceptAnything
`,
    );
    const p = await loadPolicy(file);
    expect(p.mode).toBe('enforce');
    expect(p.default).toBe('reject');
    expect(p.tagResolution).toBe('never');
    expect(p.nonKubernetes).toBe('verify');
    const req = p.scopes.get('localhost:5001')![0]!;
    expect(req.type).toBe('sigstoreSigned');
    if (req.type === 'sigstoreSigned') {
      expect(req.keys).toHaveLength(1);
      expect(req.keys[0]!.id).toMatch(/^SHA256:[0-9a-f]{16}$/);
      expect(req.signatureFormats).toEqual(['legacy', 'bundle']);
    }
  });

  it('reads JSON too, and keyData as base64 of the PEM', () => {
    const p = compilePolicy(
      { version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyDatas: [Buffer.from(pub).toString('base64')] }] } },
      'inline.json',
      dir,
    );
    expect(p.scopes.get('docker.io')![0]!.type).toBe('sigstoreSigned');
  });

  it.each([
    [{ version: 2 }, /version/],
    [{ version: 1, mode: 'audit' }, /mode/],
    [{ version: 1, defualt: 'reject' }, /unknown field "defualt"/],
    [{ version: 1, scopes: { 'docker.io': [{ type: 'signedBy', keyType: 'GPGKeys' }] } }, /scopes\."docker\.io"\[0\]/],
    [{ version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned' }] } }, /exactly one of keyPath/],
    [{ version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', keyData: 'eA==' }] } }, /only one of/],
    [
      { version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', keypaths: [] }] } },
      /unknown field "keypaths"/,
    ],
    [
      { version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyPath: 'missing.pub' }] } },
      /cannot read key .*missing\.pub.*ENOENT/,
    ],
    [{ version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyData: 'bm90IGEga2V5' }] } }, /keyData.*not a PEM public key/],
    [
      { version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signedIdentity: { type: 'matchRepo' } }] } },
      /signedIdentity/,
    ],
    [
      { version: 1, scopes: { 'docker.io': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signatureFormats: ['v3'] }] } },
      /signatureFormats\[0\]/,
    ],
    [
      { version: 1, scopes: { 'index.docker.io/library/busybox': [{ type: 'reject' }] } },
      /scopes\."index\.docker\.io\/library\/busybox": not in normalised form/,
    ],
    [{ version: 1, scopes: { 'docker.io': [] } }, /scopes\."docker\.io"/],
  ])('refuses %j naming the path', (doc, why) => {
    expect(() => compilePolicy(doc, 'p.yaml', dir)).toThrow(why);
  });

  it('names the file in every error', async () => {
    expect(() => compilePolicy({ version: 1, bogus: 1 }, '/etc/sigguard/policy.yaml', dir)).toThrow(
      /^invalid policy \/etc\/sigguard\/policy\.yaml: unknown field "bogus"/,
    );
    await expect(loadPolicy(join(dir, 'nope.yaml'))).rejects.toThrow(/cannot read policy .*nope\.yaml: no such file/);
    const bad = write('bad.yaml', 'version: 1\nscopes: [\n');
    await expect(loadPolicy(bad)).rejects.toThrow(/cannot parse .*bad\.yaml/);
    const dup = write('dup.yaml', 'version: 1\nversion: 1\n');
    await expect(loadPolicy(dup)).rejects.toThrow(/cannot parse .*dup\.yaml/);
  });
});
