/**
 * verifyPrehashed (@noble/curves on a digest) against signatures the real
 * cosign (Go's crypto/ecdsa) makes with P-256 and P-384 keys made by openssl
 * and imported with `cosign import-key-pair`: Go's ECDSA produces high-S
 * signatures about half the time, which noble's defaults (lowS) would refuse,
 * and DER, which noble's default (compact) would not read.
 */
import { execFileSync } from 'node:child_process';
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p256, p384 } from '@noble/curves/nist.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBLE_PREHASHED_OPTIONS, verifyPrehashed } from '../../src/verify/prehashed.js';
import { verifyBundle } from '../../src/verify/verifier.js';
import { noTrust } from '../support/no-trust.js';
import { COSIGN3 } from '../support/paths.js';

const SIGNATURES = 6;
let dir: string;
const env = () => ({ ...process.env, COSIGN_PASSWORD: '', HOME: dir, TUF_ROOT: join(dir, 'tuf') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-prehash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `count` cosign sign-blob bundles of distinct blobs by an openssl `curve` key. */
interface CosignBundle {
  messageSignature: { messageDigest: { algorithm: string; digest: string }; signature: string };
}

let keys = 0;
function cosignSignatures(curve: 'prime256v1' | 'secp384r1', count: number, enough?: (sig: Buffer) => boolean) {
  const key = join(dir, `${curve}-${keys++}`);
  execFileSync('openssl', ['ecparam', '-name', curve, '-genkey', '-noout', '-out', `${key}.ec`]);
  execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', `${key}.ec`, '-out', `${key}.p8`]);
  execFileSync(COSIGN3, ['import-key-pair', '--key', `${key}.p8`, '--output-key-prefix', key], { env: env(), stdio: 'pipe' });
  const publicKey = createPublicKey(readFileSync(`${key}.pub`));
  const out: Array<{ bytes: Buffer; json: CosignBundle; signature: Buffer; publicKey: KeyObject }> = [];
  for (let i = 0; i < count || (enough !== undefined && i < 2 * count && !out.some((s) => enough(s.signature))); i++) {
    const blob = join(dir, `${curve}-${keys}-${i}.txt`);
    writeFileSync(blob, `blob ${i} for ${curve}\n`);
    const bundle = join(dir, `${curve}-${keys}-${i}.json`);
    execFileSync(
      COSIGN3,
      ['sign-blob', '--key', `${key}.key`, '--use-signing-config=false', '--tlog-upload=false', '--bundle', bundle, blob],
      { env: env(), stdio: 'pipe' },
    );
    const json = JSON.parse(readFileSync(bundle, 'utf8')) as CosignBundle;
    out.push({ bytes: readFileSync(blob), json, signature: Buffer.from(json.messageSignature.signature, 'base64'), publicKey });
  }
  return out;
}

/** Is the DER signature's S above n/2 (Go makes those; noble's default refuses them)? */
function highS(curve: typeof p256, der: Buffer): boolean {
  const sig = curve.Signature.fromBytes(new Uint8Array(der), 'der');
  return sig.s > curve.Point.CURVE().n / 2n;
}

describe('cosign (Go) ECDSA signatures verified over their digest', () => {
  it('P-256: every cosign signature verifies over its sha256 digest, high S included, and through verifyBundle in digest mode', async () => {
    // until one has a high S (at most twice as many): about half of Go's do
    const sigs = cosignSignatures('prime256v1', SIGNATURES, (der) => highS(p256, der));
    let high = 0;
    for (const s of sigs) {
      expect(s.json.messageSignature.messageDigest.algorithm).toBe('SHA2_256');
      const digest = createHash('sha256').update(s.bytes).digest();
      expect(verifyPrehashed(s.publicKey, digest, s.signature, 'sha256')).toBe(true);
      const other = Buffer.from(digest);
      other[5]! ^= 1;
      expect(verifyPrehashed(s.publicKey, other, s.signature, 'sha256')).toBe(false);
      if (highS(p256, s.signature)) {
        high++;
        // what the options are for: noble's defaults refuse this signature of Go's
        const jwk = s.publicKey.export({ format: 'jwk' });
        const point = new Uint8Array(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
        expect(p256.verify(new Uint8Array(s.signature), new Uint8Array(digest), point, { prehash: false, format: 'der' })).toBe(false);
        expect(p256.verify(new Uint8Array(s.signature), new Uint8Array(digest), point, NOBLE_PREHASHED_OPTIONS)).toBe(true);
      }
      const r = await verifyBundle({
        bundleJson: s.json,
        artifact: { digest: `sha256:${digest.toString('hex')}` },
        trust: noTrust,
        expect: { publicKey: s.publicKey },
        requireTlogForKey: false,
      });
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    }
    expect(high, 'no high-S signature among the cosign signatures').toBeGreaterThan(0);
  });

  it('P-384: cosign signs with SHA-384; every signature verifies over its sha384 digest', () => {
    const sigs = cosignSignatures('secp384r1', SIGNATURES / 2);
    for (const s of sigs) {
      expect(s.json.messageSignature.messageDigest.algorithm).toBe('SHA2_384');
      const digest = createHash('sha384').update(s.bytes).digest();
      expect(Buffer.from(s.json.messageSignature.messageDigest.digest, 'base64').equals(digest)).toBe(true);
      expect(verifyPrehashed(s.publicKey, digest, s.signature, 'sha384')).toBe(true);
      expect(verifyPrehashed(s.publicKey, createHash('sha384').update('other').digest(), s.signature, 'sha384')).toBe(false);
      void highS(p384, s.signature);
    }
  });

  it('a DER signature that is not strictly encoded is refused', () => {
    const [s] = cosignSignatures('prime256v1', 1);
    const digest = createHash('sha256').update(s!.bytes).digest();
    // trailing garbage after the SEQUENCE
    expect(verifyPrehashed(s!.publicKey, digest, Buffer.concat([s!.signature, Buffer.from([0])]), 'sha256')).toBe(false);
    // a non-minimal INTEGER (a needless leading zero on r)
    const der = s!.signature;
    const rLen = der[3]!;
    const r = der.subarray(4, 4 + rLen);
    const rest = der.subarray(4 + rLen);
    const padded = Buffer.concat([Buffer.from([0x30, der[1]! + 1, 0x02, rLen + 1, 0x00]), r, rest]);
    expect(verifyPrehashed(s!.publicKey, digest, padded, 'sha256')).toBe(false);
  });
});
