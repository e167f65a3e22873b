/**
 * certificateFacts: what a signing certificate says about its holder, read from certificates that
 * openssl makes with exactly the extensions a case needs (SANs of every kind, Fulcio's username
 * otherName, the OIDC issuer in its v1 raw and v2 DER forms, Fulcio's other extensions, EKUs).
 * The identity rules that judge these facts are tested in identity/keyless tests; here only the
 * reading, and the refusals when the certificate contradicts itself.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateProblem, certificateFacts } from '../../src/verify/certificate.js';

let dir: string;
let key: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-certfacts-'));
  key = join(dir, 'leaf.key');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate with these extension lines (openssl x509v3_config syntax). */
function cert(ext: string[]): Buffer {
  const name = `c${n++}`;
  const cnf = join(dir, `${name}.cnf`);
  writeFileSync(cnf, `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${ext.join('\n')}\n`);
  const out = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-new', '-key', key, '-subj', '/CN=leaf', '-days', '1', '-config', cnf, '-extensions', 'v3', '-out', out],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new X509Certificate(readFileSync(out)).raw;
}

const hex = (s: string) => Buffer.from(s).toString('hex');
const ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

describe('subject alternative names', () => {
  it('reads every kind sigguard matches, in order', () => {
    const facts = certificateFacts(
      cert([
        'subjectAltName = email:dev@example.com, DNS:build.example.com, URI:https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main, IP:192.0.2.7, IP:2001:db8::1, IP:::1, IP:1:2:3:4:5:6:7:8, otherName:1.3.6.1.4.1.57264.1.7;UTF8:alice',
      ]),
    );
    expect(facts.sans).toEqual([
      { type: 'email', value: 'dev@example.com' },
      { type: 'dns', value: 'build.example.com' },
      { type: 'uri', value: 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'ip', value: '2001:db8::1' },
      { type: 'ip', value: '::1' },
      { type: 'ip', value: '1:2:3:4:5:6:7:8' },
      { type: 'othername', value: 'alice' },
    ]);
  });

  it('an otherName of another OID is no identity', () => {
    expect(certificateFacts(cert(['subjectAltName = otherName:1.2.3.4;UTF8:alice'])).sans).toEqual([]);
  });

  it('no SAN extension: no names', () => {
    expect(certificateFacts(cert(['basicConstraints = CA:false'])).sans).toEqual([]);
  });
});

describe('the OIDC issuer', () => {
  it('v1 (the raw string) alone', () => {
    expect(certificateFacts(cert([`${ISSUER_V1} = DER:${hex('https://token.example')}`])).issuer).toBe('https://token.example');
  });

  it('v2 (a DER UTF8String) alone', () => {
    expect(certificateFacts(cert([`${ISSUER_V2} = ASN1:UTF8String:https://token.example`])).issuer).toBe('https://token.example');
  });

  it('both present and equal', () => {
    const der = cert([`${ISSUER_V1} = DER:${hex('https://token.example')}`, `${ISSUER_V2} = ASN1:UTF8String:https://token.example`]);
    expect(certificateFacts(der).issuer).toBe('https://token.example');
  });

  it('both present and different: refused (which one would a policy match?)', () => {
    const der = cert([`${ISSUER_V1} = DER:${hex('https://token.example')}`, `${ISSUER_V2} = ASN1:UTF8String:https://attacker.example`]);
    expect(() => certificateFacts(der)).toThrow(CertificateProblem);
    expect(() => certificateFacts(der)).toThrow('certificate names two OIDC issuers (https://token.example, https://attacker.example)');
  });

  it('a v2 issuer that is not DER: refused, not read as raw bytes', () => {
    const der = cert([`${ISSUER_V2} = DER:${hex('https://token.example')}`]);
    expect(() => certificateFacts(der)).toThrow('certificate extension is not a DER string');
  });

  it('none: undefined', () => {
    expect(certificateFacts(cert(['basicConstraints = CA:false'])).issuer).toBeUndefined();
  });
});

describe("Fulcio's other extensions", () => {
  it('v1 ones raw, v2 ones from their DER string, by sigguard field name; absent ones absent', () => {
    const der = cert([
      `1.3.6.1.4.1.57264.1.5 = DER:${hex('acme/app')}`,
      '1.3.6.1.4.1.57264.1.12 = ASN1:UTF8String:https://github.com/acme/app',
      '1.3.6.1.4.1.57264.1.14 = ASN1:UTF8String:refs/heads/main',
    ]);
    expect(certificateFacts(der).extensions).toEqual({
      githubWorkflowRepository: 'acme/app',
      sourceRepositoryURI: 'https://github.com/acme/app',
      sourceRepositoryRef: 'refs/heads/main',
    });
  });

  it('a v2 extension that is not DER: refused', () => {
    expect(() => certificateFacts(cert([`1.3.6.1.4.1.57264.1.12 = DER:${hex('https://github.com/acme/app')}`]))).toThrow(
      CertificateProblem,
    );
  });
});

describe('code signing', () => {
  it.each([
    ['no extended key usage', ['basicConstraints = CA:false'], true],
    ['codeSigning', ['extendedKeyUsage = codeSigning'], true],
    ['anyExtendedKeyUsage', ['extendedKeyUsage = anyExtendedKeyUsage'], true],
    ['serverAuth and codeSigning', ['extendedKeyUsage = serverAuth, codeSigning'], true],
    ['serverAuth only', ['extendedKeyUsage = serverAuth'], false],
    ['emailProtection only', ['extendedKeyUsage = emailProtection'], false],
  ])('%s → %s', (_name, ext, want) => {
    expect(certificateFacts(cert(ext)).codeSigning).toBe(want);
  });
});

describe('unreadable input', () => {
  it.each([
    ['empty', Buffer.alloc(0)],
    ['not DER', Buffer.from('-----BEGIN CERTIFICATE-----')],
    ['a truncated certificate', () => cert(['basicConstraints = CA:false']).subarray(0, 100)],
  ])('%s: CertificateProblem', (_name, input) => {
    const der = typeof input === 'function' ? input() : input;
    expect(() => certificateFacts(der)).toThrow('signing certificate is unreadable');
  });
});
