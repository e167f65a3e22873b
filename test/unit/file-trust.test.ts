/**
 * Files the root hook decides with must be writable by root alone (sudo's and sshd's rule):
 * the attack is a `default: accept` policy, a key or a CA that an unprivileged user can write,
 * directly, through its folder, or through a symbolic link. These tests run as root.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { UntrustedFileError, checkTrustedPath, readTrustedFile } from '../../src/document/file-trust.js';
import { loadPolicy } from '../../src/policy/load.js';
import { resolveEndpoints } from '../../src/registry/hosts.js';
import { tempDir } from '../support/temp.js';

const NOBODY = 65534;
let root: string;
let n = 0;
let pub: string;

beforeAll(() => {
  if (process.geteuid?.() !== 0) throw new Error('these tests run as root');
  root = tempDir('sigguard-file-trust-');
  pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
});

/** A fresh folder (0755, root's) under the test's root. */
function folder(mode = 0o755): string {
  const d = join(root, `d${++n}`);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

function file(dir: string, name: string, text = 'x', mode = 0o644): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

const problemOf = (path: string): string | undefined => {
  try {
    checkTrustedPath(path);
    return undefined;
  } catch (err) {
    if (err instanceof UntrustedFileError) return err.problem;
    throw err;
  }
};

describe('checkTrustedPath', () => {
  it('accepts a root-owned 0644 or 0600 file in root-owned 0755 folders, and /tmp (sticky) on the way', () => {
    const d = folder();
    expect(problemOf(file(d, 'a', 'x', 0o644))).toBeUndefined();
    expect(problemOf(file(d, 'b', 'x', 0o600))).toBeUndefined();
    expect(readTrustedFile(join(d, 'a')).toString()).toBe('x');
  });

  it.each([
    ['world-writable (0666)', 0o666, /writable by group and others \(mode 0666\)/],
    ['group-writable (0664)', 0o664, /writable by group \(mode 0664\)/],
    ['others-writable (0646)', 0o646, /writable by others/],
  ])('refuses a %s file', (_name, mode, problem) => {
    const f = file(folder(), 'p.yaml', 'x', mode);
    expect(problemOf(f)).toMatch(problem);
    expect(() => readTrustedFile(f)).toThrow(UntrustedFileError);
  });

  it('refuses a file owned by nobody, even 0644', () => {
    const f = file(folder(), 'p.yaml');
    chownSync(f, NOBODY, NOBODY);
    expect(problemOf(f)).toBe(`owned by uid ${NOBODY}, not root`);
  });

  it('refuses a file in a folder writable by others without the sticky bit (0777), or by its group (0775)', () => {
    const open = folder(0o777);
    expect(problemOf(file(open, 'p.yaml'))).toMatch(
      new RegExp(`its folder ${open} \\(mode 0777\\) is writable by group and others without the sticky bit`),
    );
    const group = folder(0o775);
    expect(problemOf(file(group, 'p.yaml'))).toMatch(/writable by group without the sticky bit/);
  });

  it('accepts a root-owned file in a sticky world-writable folder (1777, as /tmp)', () => {
    const sticky = folder(0o1777);
    expect(problemOf(file(sticky, 'p.yaml'))).toBeUndefined();
  });

  it('refuses a file under any open ancestor, not only its own folder', () => {
    const top = folder(0o777);
    const inner = join(top, 'inner');
    mkdirSync(inner, { mode: 0o755 });
    expect(problemOf(file(inner, 'p.yaml'))).toMatch(new RegExp(`its folder ${top} .*without the sticky bit`));
  });

  it('refuses a file in a folder owned by nobody (its owner can replace the file)', () => {
    const d = folder();
    chownSync(d, NOBODY, NOBODY);
    expect(problemOf(file(d, 'p.yaml'))).toBe(`its folder ${d} is owned by uid ${NOBODY}, not root`);
  });

  it('follows symbolic links: checks the target and the folders it leads through', () => {
    const safe = folder();
    const open = folder(0o777);
    // a trusted-looking link to a file in an open folder
    const target = file(open, 'evil.yaml');
    symlinkSync(target, join(safe, 'policy.yaml'));
    expect(problemOf(join(safe, 'policy.yaml'))).toMatch(new RegExp(`its folder ${open} .*without the sticky bit`));
    // a link (relative) to a world-writable file
    const writable = file(safe, 'w.yaml', 'x', 0o666);
    symlinkSync('w.yaml', join(safe, 'to-w.yaml'));
    expect(problemOf(join(safe, 'to-w.yaml'))).toBe(`${writable}, where it leads, is writable by group and others (mode 0666)`);
    // a link to a good file is fine
    const good = file(safe, 'good.yaml');
    symlinkSync(good, join(safe, 'to-good.yaml'));
    expect(problemOf(join(safe, 'to-good.yaml'))).toBeUndefined();
    expect(checkTrustedPath(join(safe, 'to-good.yaml')).real).toBe(good);
  });

  it('refuses a link through an intermediate link that sits in an open folder', () => {
    const safe = folder();
    const open = folder(0o777);
    const good = file(safe, 'real.yaml');
    symlinkSync(good, join(open, 'hop'));
    symlinkSync(join(open, 'hop'), join(safe, 'policy.yaml'));
    expect(problemOf(join(safe, 'policy.yaml'))).toMatch(new RegExp(`its folder ${open} `));
  });

  it('refuses a symbolic link owned by nobody (in a sticky folder its owner may re-point it)', () => {
    const sticky = folder(0o1777);
    const good = file(folder(), 'real.yaml');
    const link = join(sticky, 'policy.yaml');
    symlinkSync(good, link);
    lchownSync(link, NOBODY, NOBODY);
    expect(problemOf(link)).toBe(`the symbolic link ${link} is owned by uid ${NOBODY}, not root`);
  });

  it('refuses what is not a regular file, and passes through missing files and loops as file-system errors', () => {
    expect(problemOf(folder())).toBe('not a regular file');
    expect(() => checkTrustedPath(join(folder(), 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const d = folder();
    symlinkSync(join(d, 'b'), join(d, 'a'));
    symlinkSync(join(d, 'a'), join(d, 'b'));
    expect(() => checkTrustedPath(join(d, 'a'))).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });
});

describe('the files the hook reads', () => {
  const acceptAll = 'version: 1\ndefault: accept\n';

  it('refuses a world-writable default: accept policy owned by nobody (POLICY_INVALID, naming the file)', async () => {
    const p = file(folder(), 'policy.yaml', acceptAll, 0o666);
    chownSync(p, NOBODY, NOBODY);
    await expect(loadPolicy(p)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringContaining(`refusing policy ${p}: owned by uid ${NOBODY}, not root`),
    });
  });

  it('refuses a policy whose key, CA or trusted root another user can write', async () => {
    const d = folder();
    const key = file(d, 'cosign.pub', pub, 0o666);
    const p = file(d, 'policy.yaml', `version: 1\nscopes:\n  a.io:\n    - {type: sigstoreSigned, keyPath: cosign.pub}\n`);
    await expect(loadPolicy(p)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringMatching(
        /scopes\."a\.io"\[0\]\.keyPath: cannot read key cosign\.pub: not trusted: writable by group and others/,
      ),
    });
    chmodSync(key, 0o644);
    await expect(loadPolicy(p)).resolves.toBeDefined();
    const ca = file(d, 'roots.pem', 'not even read', 0o644);
    chownSync(ca, NOBODY, NOBODY);
    const pki = file(
      d,
      'pki.yaml',
      `version: 1\nscopes:\n  a.io:\n    - {type: sigstoreSigned, pki: {caRootsPath: roots.pem, subjectEmail: a@b.c}}\n`,
    );
    await expect(loadPolicy(pki)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringMatching(/pki\.caRootsPath: cannot read CA .*roots\.pem: not trusted: owned by uid 65534/),
    });
    file(d, 'root.json', '{}', 0o646);
    const keyless = file(
      d,
      'keyless.yaml',
      `version: 1\nscopes:\n  a.io:\n    - {type: sigstoreSigned, keyless: {trustedRoot: root.json, identities: [{issuer: i, subject: s}]}}\n`,
    );
    await expect(loadPolicy(keyless)).rejects.toMatchObject({
      code: 'POLICY_INVALID',
      message: expect.stringMatching(/keyless\.trustedRoot: cannot read trusted root .*not trusted: writable by others/),
    });
  });

  it('refuses a registry CA file (config caFiles) another user can write (CONFIG_INVALID)', () => {
    const ca = file(folder(), 'ca.pem', 'x', 0o664);
    const settings = { certsDir: join(root, 'no-certs.d'), insecureRegistries: [], caFiles: { 'r.io': [ca] } };
    expect(() => resolveEndpoints('r.io', settings)).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: `cannot read CA file ${ca}: not trusted: writable by group (mode 0664) (sigguard runs as root and reads only files that root alone can write)`,
      }),
    );
    chmodSync(ca, 0o644);
    expect(resolveEndpoints('r.io', settings)[0]!.tls.ca).toEqual(['x']);
  });

  it('refuses a config another user can write (CONFIG_INVALID)', async () => {
    const c = file(folder(0o777), 'config.yaml', 'cache: {enabled: false}\n');
    await expect(loadConfig(c)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(`refusing config ${c}: its folder`),
    });
  });
});
