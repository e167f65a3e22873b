/**
 * Certificates for the certificate attacks, made with openssl: roots,
 * sub-CAs with name constraints or EKUs, cycles, leaves for a node:crypto key,
 * with explicit validity (openssl ca -startdate/-enddate).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Key } from './artefacts.js';

export interface Cert {
  name: string;
  pem: string;
  certFile: string;
  key: Key;
  keyFile: string;
}

export class CertFactory {
  private n = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      `[ca]
default_ca = d
[d]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}
serial = ${dir}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
email_in_dn = no
[anything]
commonName = optional
organizationName = optional
[req]
distinguished_name = dn
[dn]
`,
    );
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  private files(name: string, key: Key): { keyFile: string; ext: string } {
    const keyFile = join(this.dir, `${name}.key`);
    writeFileSync(keyFile, key.privPem, { mode: 0o600 });
    return { keyFile, ext: join(this.dir, `${name}.ext`) };
  }

  /** A self-signed certificate (a root, or a self-signed leaf). */
  selfSigned(name: string, subject: string, ext: string, key: Key = Key.ec(), opts: { start?: string; end?: string } = {}): Cert {
    const tag = `${name}-${++this.n}`;
    const { keyFile, ext: extFile } = this.files(tag, key);
    writeFileSync(extFile, `[req]\ndistinguished_name = dn\n[dn]\n[x]\n${ext}\n`);
    const certFile = join(this.dir, `${tag}.pem`);
    if (opts.start) {
      const csr = join(this.dir, `${tag}.csr`);
      this.openssl(['req', '-new', '-key', keyFile, '-subj', subject, '-config', join(this.dir, 'ca.cnf'), '-out', csr]);
      this.openssl([
        'ca',
        '-batch',
        '-notext',
        '-selfsign',
        '-config',
        join(this.dir, 'ca.cnf'),
        '-keyfile',
        keyFile,
        '-in',
        csr,
        '-out',
        certFile,
        '-startdate',
        opts.start,
        '-enddate',
        opts.end ?? '20391231000000Z',
        '-extfile',
        extFile,
        '-extensions',
        'x',
      ]);
    } else {
      this.openssl([
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-subj',
        subject,
        '-days',
        '3650',
        '-sha256',
        '-config',
        extFile,
        '-extensions',
        'x',
        '-out',
        certFile,
      ]);
    }
    return { name, pem: readFileSync(certFile, 'utf8'), certFile, key, keyFile };
  }

  /** A certificate for `key` (default: a new one) with `subject`, issued by `issuer`. */
  issue(name: string, subject: string, issuer: Cert, ext: string, opts: { key?: Key; start?: string; end?: string } = {}): Cert {
    const key = opts.key ?? Key.ec();
    const tag = `${name}-${++this.n}`;
    const { keyFile, ext: extFile } = this.files(tag, key);
    writeFileSync(extFile, `[x]\n${ext}\n`);
    const csr = join(this.dir, `${tag}.csr`);
    this.openssl(['req', '-new', '-key', keyFile, '-subj', subject, '-config', join(this.dir, 'ca.cnf'), '-out', csr]);
    const certFile = join(this.dir, `${tag}.pem`);
    this.openssl([
      'ca',
      '-batch',
      '-notext',
      '-config',
      join(this.dir, 'ca.cnf'),
      '-cert',
      issuer.certFile,
      '-keyfile',
      issuer.keyFile,
      '-in',
      csr,
      '-out',
      certFile,
      '-startdate',
      opts.start ?? '20200101000000Z',
      '-enddate',
      opts.end ?? '20391231000000Z',
      '-extfile',
      extFile,
      '-extensions',
      'x',
    ]);
    return { name, pem: readFileSync(certFile, 'utf8'), certFile, key, keyFile };
  }
}

export const EXT = {
  root: 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash',
  sub: 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid',
  leaf: (email: string, eku = 'codeSigning') =>
    `basicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = ${eku}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\nsubjectAltName = critical, email:${email}`,
};
