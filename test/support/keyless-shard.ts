/**
 * Keyless material made here for issue 13's proof: a CA standing in for Fulcio (a leaf with an
 * email SAN and the Fulcio OIDC-issuer extensions), two Rekor shard keys, a TrustedRoot naming
 * the CA and any of the shards, and a cosign legacy signature whose Rekor bundle annotation (a
 * hashedrekord entry's SET) the second shard signed — a signature logged in a shard only a
 * newer root knows.
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import type { FoundSignature } from '../../src/discovery/types.js';
import { CertFactory, type TestCert, legacySignature } from './x509-chains.js';

export const ISSUER = 'https://issuer.example';
export const EMAIL = 'release@example.com';
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

export interface Shard {
  privateKey: KeyObject;
  spki: Buffer;
}

const shard = (): Shard => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
};

export class KeylessShards {
  readonly root: TestCert;
  readonly leaf: TestCert;
  readonly shards: [Shard, Shard] = [shard(), shard()];

  constructor(dir: string) {
    const f = new CertFactory(join(dir, 'pki'));
    this.root = f.ca('root', undefined);
    this.leaf = f.leaf('leaf', this.root, EMAIL, [
      'extendedKeyUsage = codeSigning',
      `1.3.6.1.4.1.57264.1.1 = DER:${Buffer.from(ISSUER).toString('hex')}`,
      `1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${ISSUER}`,
    ]);
  }

  /** A time a Rekor entry may claim: not before the leaf's notBefore (whole seconds, openssl's "now"). */
  static async loggedTime(): Promise<number> {
    await new Promise((r) => setTimeout(r, 1100));
    return Math.floor(Date.now() / 1000);
  }

  /** A TrustedRoot naming the CA and the shards given (by index). */
  trustedRoot(shards: number[]): Buffer {
    const tlog = (i: number) => ({
      baseUrl: `https://log2026-${i + 1}.rekor.example`,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: b64(this.shards[i]!.spki),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: '2020-01-01T00:00:00Z' },
      },
      logId: { keyId: b64(createHash('sha256').update(this.shards[i]!.spki).digest()) },
    });
    return Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: shards.map(tlog),
        certificateAuthorities: [
          {
            subject: { organization: 'sigguard-test', commonName: 'root' },
            uri: 'https://fulcio.example',
            certChain: { certificates: [{ rawBytes: b64(this.root.der) }] },
            validFor: { start: '2020-01-01T00:00:00Z' },
          },
        ],
        ctlogs: [],
        timestampAuthorities: [],
      }),
    );
  }

  /** The leaf's legacy signature of `digest` in `repo`, logged (cosign's bundle annotation) in the second shard. */
  signatureInShard2(digest: string, repo: string, integratedTime: number): Extract<FoundSignature, { format: 'legacy' }> {
    const sig = legacySignature(this.leaf, undefined, digest, repo);
    const body = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(sig.payload).digest('hex') } },
        signature: { content: sig.signature, publicKey: { content: b64(this.leaf.pem) } },
      },
    };
    const logID = createHash('sha256').update(this.shards[1].spki).digest('hex');
    const payload = { body: b64(JSON.stringify(body)), integratedTime, logID, logIndex: 7 };
    // RFC 8785 for this shape: keys sorted, no spaces
    const canonical = `{"body":${JSON.stringify(payload.body)},"integratedTime":${integratedTime},"logID":${JSON.stringify(logID)},"logIndex":7}`;
    const set = sign('sha256', Buffer.from(canonical), this.shards[1].privateKey);
    sig.annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({ SignedEntryTimestamp: b64(set), Payload: payload });
    return sig;
  }
}

/** A policy whose `scope` needs a keyless signature by EMAIL (ISSUER) against `public-good`; more lines for the requirement and its keyless block. */
export function keylessPolicyYaml(scope: string, o: { requirement?: string[]; keyless?: string[] } = {}): string {
  return [
    'version: 1',
    'default: reject',
    'scopes:',
    `  "${scope}":`,
    '    - type: sigstoreSigned',
    '      signedIdentity: {type: matchRepository}',
    ...(o.requirement ?? []).map((l) => `      ${l}`),
    '      keyless:',
    '        trustedRoot: public-good',
    `        identities: [{issuer: "${ISSUER}", subject: "${EMAIL}"}]`,
    ...(o.keyless ?? []).map((l) => `        ${l}`),
    '',
  ].join('\n');
}
