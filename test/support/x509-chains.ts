/**
 * Certificate chains of any shape, made with openssl for path-validation
 * tests: CAs with name constraints, extended key usages, path length
 * constraints, short lives; non-CA issuers; cycles (A issued by B, B by A:
 * two certificates per subject, each key signing the other's); legacy cosign
 * signatures (simple-signing payload signed by a leaf, with the certificate
 * and chain annotations) that `pki` requirements judge.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, sign } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FoundSignature } from '../../src/discovery/types.js';

export interface TestCert {
  name: string;
  pem: string;
  der: Buffer;
  /** The private key file that signed nothing yet / signs what this certificate issues. */
  keyFile: string;
}

export interface CertSpec {
  /** Unique file name stem. */
  name: string;
  /** openssl -subj, e.g. `/CN=sub CA`. */
  subject: string;
  /** The issuer; undefined: self-signed. */
  issuer?: TestCert;
  /** openssl extension lines (`basicConstraints = critical, CA:true`, …). */
  ext: string[];
  days?: number;
  /** Key file to certify (default: a new P-256 key named after the certificate). */
  keyFile?: string;
  /** A PEM public key file to certify instead (e.g. cosign's cosign.pub); needs an issuer. */
  forcePub?: string;
}

export const CA_EXT = [
  'basicConstraints = critical, CA:true',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
];
export const leafExt = (email: string, extra: string[] = ['extendedKeyUsage = codeSigning']) => [
  'basicConstraints = critical, CA:false',
  'keyUsage = critical, digitalSignature',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
  `subjectAltName = email:${email}`,
  ...extra,
];

/**
 * `make mutation` runs these tests once per mutant: there (SIGGUARD_TEST_CERT_CACHE set by
 * vitest.mutation.config.ts) keys and certificates are made once per spec and reused for an hour,
 * instead of spawning openssl for each. Every other run makes them fresh.
 */
const CACHE = process.env.SIGGUARD_TEST_CERT_CACHE;
const cached = (what: string) => join(CACHE!, createHash('sha256').update(what).digest('hex'));

function reuse(what: string, file: string): boolean {
  if (CACHE === undefined) return false;
  const from = cached(what);
  if (!existsSync(from) || Date.now() - statSync(from).mtimeMs > 3600_000) return false;
  copyFileSync(from, file);
  return true;
}

function keep(what: string, file: string): void {
  if (CACHE === undefined) return;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${cached(what)}.${process.pid}`;
  copyFileSync(file, tmp);
  renameSync(tmp, cached(what));
}

export class CertFactory {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  newKey(name: string): string {
    const file = join(this.dir, `${name}.key`);
    if (reuse(`key ${name}`, file)) return file;
    this.openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
    keep(`key ${name}`, file);
    return file;
  }

  cert(spec: CertSpec): TestCert {
    const keyFile = spec.keyFile ?? this.newKey(spec.name);
    const out = join(this.dir, `${spec.name}.pem`);
    const what = JSON.stringify({
      ...spec,
      issuer: spec.issuer?.pem,
      keyFile: readFileSync(keyFile, 'utf8'),
      forcePub: spec.forcePub !== undefined ? readFileSync(spec.forcePub, 'utf8') : undefined,
    });
    if (!reuse(what, out)) {
      this.issue(spec, keyFile, out);
      keep(what, out);
    }
    const pem = readFileSync(out, 'utf8');
    return { name: spec.name, pem, der: new X509Certificate(pem).raw, keyFile };
  }

  private issue(spec: CertSpec, keyFile: string, out: string): void {
    const cnf = join(this.dir, `${spec.name}.cnf`);
    writeFileSync(cnf, `[req]\ndistinguished_name = dn\n[dn]\n[v3]\n${spec.ext.join('\n')}\n`);
    const days = String(spec.days ?? 365);
    if (spec.issuer === undefined) {
      this.openssl([
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-subj',
        spec.subject,
        '-days',
        days,
        '-sha256',
        '-config',
        cnf,
        '-extensions',
        'v3',
        '-out',
        out,
      ]);
    } else {
      const csr = join(this.dir, `${spec.name}.csr`);
      this.openssl(['req', '-new', '-key', keyFile, '-subj', spec.subject, '-config', cnf, '-out', csr]);
      const issuerPem = join(this.dir, `${spec.issuer.name}.pem`);
      const serial = `0x${createHash('sha256').update(spec.name).digest('hex').slice(0, 16)}`;
      const force = spec.forcePub !== undefined ? ['-force_pubkey', spec.forcePub] : [];
      this.openssl([
        'x509',
        '-req',
        '-in',
        csr,
        ...force,
        '-CA',
        issuerPem,
        '-CAkey',
        spec.issuer.keyFile,
        '-set_serial',
        serial,
        '-days',
        days,
        '-sha256',
        '-extfile',
        cnf,
        '-extensions',
        'v3',
        '-out',
        out,
      ]);
    }
  }

  /** A CA under `issuer` (or a root) with extra extension lines. */
  ca(
    name: string,
    issuer: TestCert | undefined,
    extra: string[] = [],
    basic = 'basicConstraints = critical, CA:true',
    days?: number,
  ): TestCert {
    const ext = [basic, ...CA_EXT.slice(1), ...extra];
    return this.cert({ name, subject: `/O=sigguard-test/CN=${name}`, issuer, ext, ...(days !== undefined ? { days } : {}) });
  }

  leaf(name: string, issuer: TestCert, email: string, extra?: string[], forcePub?: string): TestCert {
    return this.cert({ name, subject: '/', issuer, ext: leafExt(email, extra), ...(forcePub !== undefined ? { forcePub } : {}) });
  }

  /**
   * A certificate cycle: `a0` (self-signed, key A) issues leaves; `aByB` (subject A, key A)
   * is issued by key B and `bByA` (subject B, key B) by key A, so each is the other's issuer.
   */
  cycle(name: string): { a0: TestCert; aByB: TestCert; bByA: TestCert } {
    const keyA = this.newKey(`${name}-a`);
    const keyB = this.newKey(`${name}-b`);
    const selfCA = ['basicConstraints = critical, CA:true', 'subjectKeyIdentifier = hash'];
    const a0 = this.cert({ name: `${name}-a0`, subject: `/CN=${name} A`, ext: selfCA, keyFile: keyA });
    const b0 = this.cert({ name: `${name}-b0`, subject: `/CN=${name} B`, ext: selfCA, keyFile: keyB });
    const ext = [
      'basicConstraints = critical, CA:true',
      'keyUsage = critical, keyCertSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
    ];
    const aByB = this.cert({ name: `${name}-a-by-b`, subject: `/CN=${name} A`, issuer: b0, ext, keyFile: keyA });
    const bByA = this.cert({ name: `${name}-b-by-a`, subject: `/CN=${name} B`, issuer: a0, ext, keyFile: keyB });
    return { a0, aByB, bByA };
  }

  /** Writes PEM text to a file in the factory's folder; returns its path. */
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }
}

/** A legacy cosign signature of `digest` by `leaf`, with the certificate and chain annotations. */
export function legacySignature(
  leaf: TestCert,
  chainPem: string | undefined,
  digest: string,
  repo: string,
  certificateAnnotation?: string,
): Extract<FoundSignature, { format: 'legacy' }> {
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repo },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  const signature = sign('sha256', payload, createPrivateKey(readFileSync(leaf.keyFile))).toString('base64');
  const annotations: Record<string, string> = {
    'dev.cosignproject.cosign/signature': signature,
    'dev.sigstore.cosign/certificate': certificateAnnotation ?? leaf.pem,
  };
  if (chainPem !== undefined) annotations['dev.sigstore.cosign/chain'] = chainPem;
  return { format: 'legacy', subject: digest, source: `test ${leaf.name}`, payload, signature, annotations };
}
