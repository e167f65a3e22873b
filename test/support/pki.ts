/**
 * A private PKI made with openssl for keyless-style tests: a root CA, an
 * intermediate CA, and leaf certificates carrying an email SAN and the Fulcio
 * OIDC-issuer extensions (1.3.6.1.4.1.57264.1.1, raw; 1.3.6.1.4.1.57264.1.8,
 * a DER UTF8String), the way Fulcio issues them, but long-lived. Also the
 * Sigstore TrustedRoot JSON that names this CA.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Leaf {
  cert: string;
  /** intermediate + root, as `cosign sign --certificate-chain` wants it. */
  chain: string;
  email: string;
  issuer: string;
}

export interface Pki {
  dir: string;
  root: string;
  intermediate: string;
  /** A TrustedRoot JSON whose only certificate authority is [intermediate, root]; no logs. */
  trustedRoot: string;
  /** A leaf certificate for the public key in `pub` (PEM; e.g. from cosign generate-key-pair). */
  leaf(name: string, pub: string, email: string, issuer: string): Leaf;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

const der = (pemFile: string): string => new X509Certificate(readFileSync(pemFile)).raw.toString('base64');

/** A CA (root, intermediate) in `dir`; `name` goes into the subject CNs. */
export function makePki(dir: string, name: string): Pki {
  mkdirSync(dir, { recursive: true });
  const ext = join(dir, 'ext.cnf');
  writeFileSync(
    ext,
    `[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`,
  );
  const ec = (out: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out], dir);
  ec('root.key');
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'root.key',
      '-subj',
      `/O=sigguard-test/CN=${name} root`,
      '-days',
      '3650',
      '-sha256',
      '-extensions',
      'root',
      '-config',
      ext,
      '-out',
      'root.pem',
    ],
    dir,
  );
  ec('intermediate.key');
  openssl(
    [
      'req',
      '-new',
      '-key',
      'intermediate.key',
      '-subj',
      `/O=sigguard-test/CN=${name} intermediate`,
      '-out',
      'intermediate.csr',
      '-config',
      ext,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'intermediate.csr',
      '-CA',
      'root.pem',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      ext,
      '-extensions',
      'intermediate',
      '-out',
      'intermediate.pem',
    ],
    dir,
  );
  const root = join(dir, 'root.pem');
  const intermediate = join(dir, 'intermediate.pem');
  const trustedRoot = join(dir, 'trusted_root.json');
  writeFileSync(
    trustedRoot,
    `${JSON.stringify(
      {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [],
        certificateAuthorities: [
          {
            subject: { organization: 'sigguard-test', commonName: `${name} intermediate` },
            uri: 'https://fulcio.invalid',
            certChain: { certificates: [{ rawBytes: der(intermediate) }, { rawBytes: der(root) }] },
            validFor: { start: '2020-01-01T00:00:00Z' },
          },
        ],
        ctlogs: [],
        timestampAuthorities: [],
      },
      null,
      2,
    )}\n`,
  );
  return {
    dir,
    root,
    intermediate,
    trustedRoot,
    leaf(leafName, pub, email, issuer) {
      const leafExt = join(dir, `${leafName}.cnf`);
      const issuerHex = Buffer.from(issuer, 'utf8').toString('hex');
      writeFileSync(
        leafExt,
        `[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = critical, email:${email}
1.3.6.1.4.1.57264.1.1 = DER:${issuerHex}
1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${issuer}
`,
      );
      // Fulcio leaves have an empty subject; the CSR only carries it (its key is replaced by `pub`)
      openssl(['req', '-new', '-key', 'intermediate.key', '-subj', '/', '-out', `${leafName}.csr`, '-config', ext], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${leafName}.csr`,
          '-force_pubkey',
          pub,
          '-CA',
          'intermediate.pem',
          '-CAkey',
          'intermediate.key',
          '-CAcreateserial',
          '-days',
          '365',
          '-sha256',
          '-extfile',
          leafExt,
          '-extensions',
          'leaf',
          '-out',
          `${leafName}.pem`,
        ],
        dir,
      );
      const chain = join(dir, `${leafName}-chain.pem`);
      writeFileSync(chain, readFileSync(intermediate, 'utf8') + readFileSync(root, 'utf8'));
      return { cert: join(dir, `${leafName}.pem`), chain, email, issuer };
    },
  };
}
