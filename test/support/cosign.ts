/**
 * The real cosign, as tests use it: cosign 2.5.0 writes legacy `.sig`
 * signatures, cosign 3.1.1 Sigstore bundles as OCI referrers. Both sign and
 * verify offline (no Rekor, no Fulcio).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Run, run } from './cli.js';
import { COSIGN2, COSIGN3 } from './paths.js';
import { tempDir } from './temp.js';

/**
 * Why cosign refused, from its error text: what the "agrees with cosign" tests compare with
 * sigguard's reason code, so that a refusal for another reason does not count as agreement.
 */
export type CosignReason =
  | 'accepted'
  /** no signature artifact at all for the image */
  | 'no-signatures'
  /** signatures there, none verifies with the key (another key, a changed payload) */
  | 'invalid-signature'
  /** a signature over another image (payload digest is not the image's) */
  | 'digest-mismatch'
  /** a signature artifact cosign cannot read */
  | 'malformed'
  /** the certificate does not chain to the roots given */
  | 'untrusted-certificate'
  /** the certificate chains, its identity or issuer is not the one asked for */
  | 'identity-mismatch'
  /** a certificate was required, the signature has none */
  | 'no-certificate'
  /** the registry could not be reached */
  | 'registry-unreachable'
  | 'other';

export interface CosignResult {
  ok: boolean;
  reason: CosignReason;
  stderr: string;
}

/** cosign 2.5's and 3.1's messages (their `Error:` line), the most specific first. */
const REASONS: [CosignReason, RegExp][] = [
  ['registry-unreachable', /connection refused|no such host|dial tcp/i],
  ['no-signatures', /no signatures found/i],
  ['digest-mismatch', /invalid or missing digest in claim/i],
  ['untrusted-certificate', /cert verification failed: x509: |leaf certificate verification failed/i],
  ['identity-mismatch', /none of the expected identities matched|no matching CertificateIdentity found/i],
  ['no-certificate', /no certificate found on signature/i],
  [
    'invalid-signature',
    /invalid signature when validating|accepted signatures do not match threshold|failed to verify signature|verification error/i,
  ],
  ['malformed', /illegal base64|unmarshal|invalid character/i],
];

function classify(code: number, stderr: string): CosignResult {
  if (code === 0) return { ok: true, reason: 'accepted', stderr };
  // the reason is on cosign's `Error:` line (its warnings mention signatures too)
  const error =
    stderr
      .split('\n')
      .filter((l) => l.startsWith('Error: '))
      .pop() ?? stderr;
  const found = REASONS.find(([, re]) => re.test(error));
  return { ok: false, reason: found ? found[0] : 'other', stderr };
}

export class Cosign {
  readonly dir = tempDir('sigguard-cosign-');
  private readonly env: Record<string, string>;
  private readonly signingConfig = join(this.dir, 'signing-config.json');
  private readonly emptyRoot = join(this.dir, 'empty-trusted-root.json');

  private constructor() {
    mkdirSync(join(this.dir, 'home'));
    this.env = { HOME: join(this.dir, 'home'), COSIGN_PASSWORD: '', COSIGN_YES: 'true', TUF_ROOT: join(this.dir, 'tuf') };
  }

  static async create(): Promise<Cosign> {
    const c = new Cosign();
    writeFileSync(c.emptyRoot, '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n');
    await c.must(COSIGN3, [
      'signing-config',
      'create',
      '--no-default-fulcio',
      '--no-default-oidc',
      '--no-default-rekor',
      '--no-default-tsa',
      '--out',
      c.signingConfig,
    ]);
    return c;
  }

  private async must(bin: string, args: string[], cwd?: string): Promise<Run> {
    const r = await run(bin, args, { env: this.env, ...(cwd ? { cwd } : {}) });
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.code}): ${r.stderr.slice(-1500)}`);
    return r;
  }

  /** A new key pair; returns the paths of the private and public key. */
  async keyPair(name: string): Promise<{ key: string; pub: string }> {
    const dir = join(this.dir, name);
    mkdirSync(dir);
    await this.must(COSIGN2, ['generate-key-pair'], dir);
    return { key: join(dir, 'cosign.key'), pub: join(dir, 'cosign.pub') };
  }

  /**
   * A key pair cosign imports from a private key in PEM (as openssl writes it: ECDSA, RSA,
   * Ed25519); returns the paths of cosign's private key and of the public key.
   */
  async importKeyPair(name: string, privatePem: string): Promise<{ key: string; pub: string }> {
    const dir = join(this.dir, name);
    mkdirSync(dir);
    // cosign 3 (2.5.0 refuses RSA keys here: "error validating rsa key: unsupported public key type")
    await this.must(COSIGN3, ['import-key-pair', '--key', privatePem, '--output-key-prefix', join(dir, 'cosign')], dir);
    return { key: join(dir, 'cosign.key'), pub: join(dir, 'cosign.pub') };
  }

  /** cosign 2.5.0: a legacy signature (tag sha256-<hex>.sig); `extra`: more of cosign's flags (`-a k=v`). */
  sign2(key: string, image: string, extra: string[] = []): Promise<Run> {
    return this.must(COSIGN2, ['sign', '--key', key, '--tlog-upload=false', '-y', ...extra, image]);
  }

  /** cosign 3.1.1: a Sigstore bundle attached as a referrer. */
  sign3(key: string, image: string): Promise<Run> {
    return this.must(COSIGN3, ['sign', '--key', key, ...this.offline3(), image]);
  }

  /** cosign 3.1.1 in its legacy format (a `.sig` tag, no bundle), offline: no signing config, no log. */
  sign3Legacy(key: string, image: string): Promise<Run> {
    return this.must(COSIGN3, [
      'sign',
      '--key',
      key,
      '--use-signing-config=false',
      '--tlog-upload=false',
      '--new-bundle-format=false',
      '-y',
      image,
    ]);
  }

  /** cosign 3.1.1's flags for signing offline: no Fulcio, Rekor or TSA, an empty trusted root. */
  private offline3(): string[] {
    return ['--signing-config', this.signingConfig, '--trusted-root', this.emptyRoot, '-y'];
  }

  /** cosign 2.5.0 with a certificate (and its chain) for the key: a legacy signature carrying them. */
  signCert2(key: string, cert: string, chain: string, image: string): Promise<Run> {
    return this.must(COSIGN2, [
      'sign',
      '--key',
      key,
      '--certificate',
      cert,
      '--certificate-chain',
      chain,
      '--tlog-upload=false',
      '-y',
      image,
    ]);
  }

  /** cosign 3.1.1 with a certificate: a bundle carrying it (cosign checks the certificate against `trustedRoot` first). */
  signCert3(key: string, cert: string, chain: string, trustedRoot: string, image: string): Promise<Run> {
    return this.must(COSIGN3, [
      'sign',
      '--key',
      key,
      '--certificate',
      cert,
      '--certificate-chain',
      chain,
      '--signing-config',
      this.signingConfig,
      '--trusted-root',
      trustedRoot,
      '-y',
      image,
    ]);
  }

  /**
   * cosign verify of a certificate identity, offline (no Rekor, no SCT): cosign 2 against CA
   * files (--ca-roots, --ca-intermediates), cosign 3 against a trusted root. The issuer is
   * exact, or a regular expression. True when cosign accepts.
   */
  async verifyCertificate(
    version: 2 | 3,
    image: string,
    opts: { identity: string; issuer?: string; issuerRegExp?: string; caRoots?: string; caIntermediates?: string; trustedRoot?: string },
  ): Promise<CosignResult> {
    const args = ['verify', '--certificate-identity', opts.identity, '--insecure-ignore-tlog', '--insecure-ignore-sct'];
    if (opts.issuer !== undefined) args.push('--certificate-oidc-issuer', opts.issuer);
    if (opts.issuerRegExp !== undefined) args.push('--certificate-oidc-issuer-regexp', opts.issuerRegExp);
    if (opts.caRoots !== undefined) args.push('--ca-roots', opts.caRoots);
    if (opts.caIntermediates !== undefined) args.push('--ca-intermediates', opts.caIntermediates);
    if (opts.trustedRoot !== undefined) args.push('--trusted-root', opts.trustedRoot);
    const r = await run(version === 2 ? COSIGN2 : COSIGN3, [...args, image], { env: this.env });
    return classify(r.code, r.stderr);
  }

  /** cosign 2.5.0 attest: an in-toto attestation as a layer of the legacy `sha256-<hex>.att` image. */
  attest2(key: string, image: string, type: string, predicate: string): Promise<Run> {
    return this.must(COSIGN2, ['attest', '--key', key, '--type', type, '--predicate', predicate, '--tlog-upload=false', '-y', image]);
  }

  /** cosign 3.1.1 attest: an in-toto attestation in a Sigstore bundle attached as a referrer. */
  attest3(key: string, image: string, type: string, predicate: string): Promise<Run> {
    return this.must(COSIGN3, ['attest', '--key', key, '--type', type, '--predicate', predicate, ...this.offline3(), image]);
  }

  /** cosign 2.5.0 attest with a certificate (and its chain) for the key: the `.att` layer carries them. */
  attestCert2(key: string, cert: string, chain: string, image: string, type: string, predicate: string): Promise<Run> {
    const args = ['attest', '--key', key, '--certificate', cert, '--certificate-chain', chain, '--type', type, '--predicate', predicate];
    return this.must(COSIGN2, [...args, '--tlog-upload=false', '-y', image]);
  }

  /** cosign 3.1.1 attest with a certificate: a bundle carrying it (cosign checks it against `trustedRoot` first). */
  attestCert3(key: string, cert: string, chain: string, trustedRoot: string, image: string, type: string, predicate: string): Promise<Run> {
    const args = ['attest', '--key', key, '--certificate', cert, '--certificate-chain', chain, '--type', type, '--predicate', predicate];
    return this.must(COSIGN3, [...args, '--signing-config', this.signingConfig, '--trusted-root', trustedRoot, '-y', image]);
  }

  /** cosign verify-attestation --key --type, offline: accepted, or why not. */
  async verifyAttestation(version: 2 | 3, pub: string, image: string, type: string): Promise<CosignResult> {
    const args = ['verify-attestation', '--key', pub, '--type', type, '--insecure-ignore-tlog'];
    const r = await run(version === 2 ? COSIGN2 : COSIGN3, [...args, image], { env: this.env });
    return classify(r.code, r.stderr);
  }

  /** cosign verify --key, offline: accepted, or why not. */
  async verify(version: 2 | 3, pub: string, image: string): Promise<CosignResult> {
    const r = await run(version === 2 ? COSIGN2 : COSIGN3, ['verify', '--key', pub, '--insecure-ignore-tlog', image], { env: this.env });
    return classify(r.code, r.stderr);
  }
}
