/**
 * Tests written against mutants that survived `make mutation` in src/verify lines that decide
 * allow or deny (docs/mutation-survivors/verify.md): Rekor bodies must name the bundle's signer
 * and fit its content (tlog.ts), the caps (limits.ts), signatures over a digest alone
 * (prehashed.ts), and what was signed against the artifact (signed-content.ts).
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { describe, expect, it } from 'vitest';
import { bundleOverLimits, SIGNATURE_LIMITS } from '../../src/verify/limits.js';
import { prehashUnsupported, verifyPrehashed } from '../../src/verify/prehashed.js';
import { Refusal } from '../../src/verify/refusal.js';
import { checkStatementSubject, signedEntity } from '../../src/verify/signed-content.js';
import { checkTlogBodies } from '../../src/verify/tlog.js';
import { verifyBundle } from '../../src/verify/verifier.js';
import { noTrust } from '../support/no-trust.js';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer = ec();
const other = ec();
const pemB64 = (k: KeyObject) => Buffer.from(k.export({ type: 'spki', format: 'pem' })).toString('base64');
const derB64 = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');

/** A bundle carrying only what checkTlogBodies reads. */
function withEntries(content: 'messageSignature' | 'dsseEnvelope', entries: Array<[string, string, unknown]>): Bundle {
  const tlogEntries = entries.map(([kind, version, body]) => ({
    kindVersion: { kind, version },
    canonicalizedBody: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  }));
  return { content: { $case: content }, verificationMaterial: { tlogEntries } } as unknown as Bundle;
}

/** The Refusal checkTlogBodies throws (never a TypeError from a body it could not read), or 'passed'. */
function tlogOutcome(bundle: Bundle, who: { key: KeyObject } | { cert: Buffer } = { key: signer.publicKey }): string {
  try {
    checkTlogBodies(bundle, who);
    return 'passed';
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return `${err.detail}: ${err.message}`;
  }
}

const hashedrekord1 = (pub: unknown) => ({
  kind: 'hashedrekord',
  apiVersion: '0.0.1',
  spec: { signature: { publicKey: { content: pub } } },
});
const hashedrekord2 = (verifier: unknown) => ({
  kind: 'hashedrekord',
  apiVersion: '0.0.2',
  spec: { hashedRekordV002: { signature: { verifier } } },
});
const dsse1 = (signatures: unknown) => ({ kind: 'dsse', apiVersion: '0.0.1', spec: { signatures } });

describe('tlog.ts: a Rekor body names the bundle signer and fits the content', () => {
  it('the same key passes; another key is refused (v1 PEM, v2 DER)', () => {
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.1', hashedrekord1(pemB64(signer.publicKey))]]))).toBe(
      'passed',
    );
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.1', hashedrekord1(pemB64(other.publicKey))]]))).toMatch(
      /^TLOG_BODY: tlog entry is for another key/,
    );
    const v2 = (k: KeyObject) => hashedrekord2({ publicKey: { rawBytes: derB64(k) } });
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.2', v2(signer.publicKey)]]))).toBe('passed');
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.2', v2(other.publicKey)]]))).toMatch(
      /^TLOG_BODY: tlog entry is for another key/,
    );
  });

  it('a body naming a certificate does not stand for a key signer, nor a key for a certificate signer', () => {
    const cert = { x509Certificate: { rawBytes: Buffer.from('not the signer').toString('base64') } };
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.2', hashedrekord2(cert)]]))).toMatch(/for another key/);
    const byKey = withEntries('messageSignature', [
      ['hashedrekord', '0.0.2', hashedrekord2({ publicKey: { rawBytes: derB64(signer.publicKey) } })],
    ]);
    expect(tlogOutcome(byKey, { cert: Buffer.from('a certificate') })).toMatch(/for another certificate/);
    const same = withEntries('messageSignature', [['hashedrekord', '0.0.2', hashedrekord2(cert)]]);
    expect(tlogOutcome(same, { cert: Buffer.from('not the signer') })).toBe('passed');
  });

  it('unreadable verifiers are refusals, not crashes', () => {
    const v2 = (verifier: unknown) => tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.2', hashedrekord2(verifier)]]));
    for (const verifier of ['x', { x509Certificate: 'abc' }, { publicKey: 'abc' }, {}, null]) {
      expect(v2(verifier), JSON.stringify(verifier)).toBe('TLOG_BODY: tlog entry names no key or certificate');
    }
    expect(v2({ publicKey: { rawBytes: 'AAAA' } })).toBe('TLOG_BODY: tlog entry key is unreadable');
    // a body with no spec at all, a spec that is not an object, a null body
    for (const body of [
      { kind: 'hashedrekord', apiVersion: '0.0.1' },
      { kind: 'hashedrekord', apiVersion: '0.0.1', spec: 5 },
    ]) {
      expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.1', body]]))).toBe(
        'TLOG_BODY: tlog entry names no key or certificate',
      );
    }
    expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.1', 'null']]))).toBe(
      'TLOG_BODY: tlog entry body is undefined/undefined, not hashedrekord/0.0.1',
    );
  });

  it('the old rekord kind is refused as such', () => {
    expect(tlogOutcome(withEntries('messageSignature', [['rekord', '0.0.1', { kind: 'rekord', apiVersion: '0.0.1' }]]))).toMatch(
      /^TLOG_BODY: tlog entry is of the old "rekord" kind/,
    );
  });

  it('a DSSE entry naming the signer does not stand for a message signature', () => {
    const body = dsse1([{ verifier: pemB64(signer.publicKey) }]);
    expect(tlogOutcome(withEntries('dsseEnvelope', [['dsse', '0.0.1', body]]))).toBe('passed');
    expect(tlogOutcome(withEntries('messageSignature', [['dsse', '0.0.1', body]]))).toBe(
      'TLOG_BODY: tlog entry kind dsse/0.0.1 does not fit a messageSignature bundle',
    );
  });

  it("the body's own kind and version must be the entry's", () => {
    const body = hashedrekord1(pemB64(signer.publicKey));
    for (const [kind, apiVersion] of [
      ['hashedrekord', '0.0.2'],
      ['dsse', '0.0.1'],
      ['intoto', '0.0.2'],
    ]) {
      expect(tlogOutcome(withEntries('messageSignature', [['hashedrekord', '0.0.1', { ...body, kind, apiVersion }]]))).toBe(
        `TLOG_BODY: tlog entry body is ${kind}/${apiVersion}, not hashedrekord/0.0.1`,
      );
    }
  });

  it('a DSSE body with no signatures is refused; up to the cap of signatures, all must name the signer', () => {
    for (const sigs of [[], undefined, 'x']) {
      expect(tlogOutcome(withEntries('dsseEnvelope', [['dsse', '0.0.1', dsse1(sigs)]]))).toBe('TLOG_BODY: tlog entry has no signatures');
    }
    const mine = { verifier: pemB64(signer.publicKey) };
    const n = SIGNATURE_LIMITS.tlogBodySignatures;
    expect(tlogOutcome(withEntries('dsseEnvelope', [['dsse', '0.0.1', dsse1(Array(n).fill(mine))]]))).toBe('passed');
    expect(tlogOutcome(withEntries('dsseEnvelope', [['dsse', '0.0.1', dsse1(Array(n + 1).fill(mine))]]))).toBe(
      `LIMITS: tlog entry has ${n + 1} signatures, more than ${n}`,
    );
    const mixed = [...Array(n - 1).fill(mine), { verifier: pemB64(other.publicKey) }];
    expect(tlogOutcome(withEntries('dsseEnvelope', [['dsse', '0.0.1', dsse1(mixed)]]))).toMatch(/for another key/);
  });
});

describe('limits.ts: the caps, at the cap and one over', () => {
  const vm = (v: Record<string, unknown>) => ({ verificationMaterial: v });
  const list = (n: number) => Array(n).fill({});
  it('RFC 3161 timestamps and chain certificates', () => {
    const ts = SIGNATURE_LIMITS.rfc3161Timestamps;
    expect(bundleOverLimits(vm({ timestampVerificationData: { rfc3161Timestamps: list(ts) } }))).toBeUndefined();
    expect(bundleOverLimits(vm({ timestampVerificationData: { rfc3161Timestamps: list(ts + 1) } }))).toMatch(/RFC 3161/);
    const certs = SIGNATURE_LIMITS.chainCertificates + 1;
    expect(bundleOverLimits(vm({ x509CertificateChain: { certificates: list(certs) } }))).toBeUndefined();
    expect(bundleOverLimits(vm({ x509CertificateChain: { certificates: list(certs + 1) } }))).toMatch(/certificate chain/);
    expect(bundleOverLimits(vm({ tlogEntries: list(SIGNATURE_LIMITS.tlogEntries + 1) }))).toMatch(/tlog entries/);
  });

  it('what is not an object is not over the caps (the shape check refuses it), and never throws', () => {
    for (const json of [null, undefined, 5, 'x', {}, { verificationMaterial: null }, { verificationMaterial: 'x' }]) {
      expect(bundleOverLimits(json)).toBeUndefined();
    }
    expect(bundleOverLimits(vm({ tlogEntries: { length: 100 } }))).toBeUndefined();
  });
});

describe('prehashed.ts: curves and key types a digest cannot be checked with', () => {
  it('an EC key on another curve (secp256k1) is unsupported and never verifies', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(prehashUnsupported(k1.publicKey)).toBe('curve secp256k1 is not supported over a digest');
    const digest = createHash('sha256').update('m').digest();
    expect(verifyPrehashed(k1.publicKey, digest, sign('sha256', Buffer.from('m'), k1.privateKey), 'sha256')).toBe(false);
  });

  it('P-256 and RSA are supported', () => {
    expect(prehashUnsupported(signer.publicKey)).toBeUndefined();
    expect(prehashUnsupported(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).toBeUndefined();
  });

  it('RSA over a hash without a DigestInfo is false', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const digest = createHash('sha256').update('m').digest();
    const sig = sign('sha256', Buffer.from('m'), rsa.privateKey);
    expect(verifyPrehashed(rsa.publicKey, digest, sig, 'sha256')).toBe(true);
    expect(verifyPrehashed(rsa.publicKey, digest, sig, 'md5' as 'sha256')).toBe(false);
  });
});

const message = Buffer.from('signed by sigguard tests\n');
const sha = (b: Buffer, h = 'sha256') => createHash(h).update(b).digest();
const IN_TOTO = 'application/vnd.in-toto+json';

function messageBundle(privateKey: KeyObject, digest: { algorithm: string; digest: Buffer } | undefined, signed: Buffer = message) {
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    messageSignature: {
      ...(digest ? { messageDigest: { algorithm: digest.algorithm, digest: digest.digest.toString('base64') } } : {}),
      signature: sign(privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', signed, privateKey).toString('base64'),
    },
  };
}

function dsseBundle(privateKey: KeyObject, statement: unknown, opts: { type?: string; signatures?: number } = {}) {
  const type = opts.type ?? IN_TOTO;
  const payload = Buffer.from(JSON.stringify(statement));
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `), payload]);
  const sig = { sig: sign('sha256', pae, privateKey).toString('base64'), keyid: '' };
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: { payload: payload.toString('base64'), payloadType: type, signatures: Array(opts.signatures ?? 1).fill(sig) },
  };
}

const statement = (subject: unknown[], type = 'https://in-toto.io/Statement/v1') => ({
  _type: type,
  subject,
  predicateType: 'x',
  predicate: {},
});

describe('signed-content.ts: what was signed is the artifact', () => {
  const verify = (bundleJson: unknown, artifact: { bytes: Buffer } | { digest: string }, publicKey: KeyObject = signer.publicKey) =>
    verifyBundle({ trust: noTrust, expect: { publicKey }, requireTlogForKey: false, bundleJson, artifact });
  const hex = sha(message).toString('hex');
  const digest = `sha256:${hex}`;

  it('DSSE: the payload type, one signature, an in-toto statement type', async () => {
    const good = statement([{ digest: { sha256: hex } }]);
    expect(await verify(dsseBundle(signer.privateKey, good), { digest })).toMatchObject({ ok: true });
    expect(await verify(dsseBundle(signer.privateKey, good, { type: 'application/json' }), { digest })).toMatchObject({
      ok: false,
      detail: 'PAYLOAD',
      reason: expect.stringMatching(/^DSSE payload type is application\/json/),
    });
    // two signatures: the bundle's shape check refuses them first; checked again here, on its own
    expect(await verify(dsseBundle(signer.privateKey, good, { signatures: 2 }), { digest })).toMatchObject({ ok: false });
    const env = dsseBundle(signer.privateKey, good, { signatures: 2 }).dsseEnvelope;
    const two = { content: { $case: 'dsseEnvelope', dsseEnvelope: { ...env, payload: Buffer.from(env.payload, 'base64') } } };
    expect(() => checkStatementSubject(two as unknown as Bundle, { digest })).toThrow('DSSE envelope has 2 signatures, not 1');
    const v01 = statement([{ digest: { sha256: hex } }], 'https://in-toto.io/Statement/v0.1');
    expect(await verify(dsseBundle(signer.privateKey, v01), { digest })).toMatchObject({ ok: true });
    for (const bad of [
      statement([{ digest: { sha256: hex } }], 'https://example.com/Statement/v1'),
      { subject: [{ digest: { sha256: hex } }] },
    ]) {
      expect(await verify(dsseBundle(signer.privateKey, bad), { digest })).toMatchObject({
        ok: false,
        detail: 'PAYLOAD',
        reason: 'DSSE payload is not an in-toto statement',
      });
    }
    expect(await verify(dsseBundle(signer.privateKey, statement([])), { digest })).toMatchObject({ ok: false, detail: 'PAYLOAD' });
  });

  it("DSSE: one subject of several has the artifact's digest (any case); none is refused", async () => {
    const two = statement([{ digest: { sha512: 'ab' } }, { digest: { sha256: hex.toUpperCase() } }]);
    expect(await verify(dsseBundle(signer.privateKey, two), { digest })).toMatchObject({ ok: true });
    const none = statement([{ digest: { sha512: 'ab' } }, { digest: { sha256: 'ab'.repeat(32) } }]);
    expect(await verify(dsseBundle(signer.privateKey, none), { digest })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^no in-toto subject has the artifact's digest/),
    });
  });

  it('the artifact digest must be exactly sha256:<64 hex>', async () => {
    const good = statement([{ digest: { sha256: hex } }]);
    for (const d of [`x${digest}`, `${digest}0`, `sha256:${hex.slice(1)}`, `sha256:${'g'.repeat(64)}`, `sha512:${hex}`]) {
      expect(await verify(dsseBundle(signer.privateKey, good), { digest: d }), d).toMatchObject({
        ok: false,
        detail: 'PAYLOAD',
        reason: expect.stringMatching(/^artifact digest must be sha256:<64 hex digits>/),
      });
    }
    expect(await verify(dsseBundle(signer.privateKey, good), { digest: `sha256:${hex.toUpperCase()}` })).toMatchObject({ ok: true });
  });

  it('a message signature: a digest is required; an unspecified algorithm is sha256; an unknown one is refused', async () => {
    // refused by the bundle's shape check first; checked again on its own
    expect(await verify(messageBundle(signer.privateKey, undefined), { digest })).toMatchObject({ ok: false, detail: 'BUNDLE' });
    const noDigest = { content: { $case: 'messageSignature', messageSignature: { signature: Buffer.alloc(8) } } } as unknown as Bundle;
    expect(() => signedEntity(noDigest, { digest }, signer.publicKey)).toThrow('bundle has no message digest');
    const unspecified = messageBundle(signer.privateKey, { algorithm: 'HASH_ALGORITHM_UNSPECIFIED', digest: sha(message) });
    expect(await verify(unspecified, { digest })).toMatchObject({ ok: true });
    expect(await verify(unspecified, { bytes: message })).toMatchObject({ ok: true });
    const sha3 = messageBundle(signer.privateKey, { algorithm: 'SHA3_256', digest: sha(message) });
    expect(await verify(sha3, { bytes: message })).toMatchObject({
      ok: false,
      detail: 'BUNDLE',
      reason: expect.stringMatching(/^unsupported message digest algorithm/),
    });
  });

  it('over a digest: the bundle must digest with sha256 and the same digest', async () => {
    const s512 = messageBundle(signer.privateKey, { algorithm: 'SHA2_512', digest: sha(message, 'sha512') });
    expect(await verify(s512, { bytes: message })).toMatchObject({ ok: false, detail: 'SIGNATURE' }); // signed with sha256 above
    expect(await verify(s512, { digest })).toMatchObject({
      ok: false,
      detail: 'PAYLOAD',
      reason: 'bundle digests the artifact with sha512, the artifact is given as sha256',
    });
    const otherArtifact = `sha256:${sha(Buffer.from('other')).toString('hex')}`;
    expect(
      await verify(messageBundle(signer.privateKey, { algorithm: 'SHA2_256', digest: sha(message) }), { digest: otherArtifact }),
    ).toMatchObject({
      ok: false,
      detail: 'PAYLOAD',
      reason: "artifact digest does not match the bundle's message digest",
    });
  });

  it('Ed25519 signs the message itself: verified over the bytes, refused over a digest alone', async () => {
    const ed = generateKeyPairSync('ed25519');
    const b = messageBundle(ed.privateKey, { algorithm: 'SHA2_256', digest: sha(message) });
    expect(await verify(b, { bytes: message }, ed.publicKey)).toMatchObject({ ok: true });
    expect(await verify(b, { digest }, ed.publicKey)).toMatchObject({ ok: false, detail: 'KEY', reason: expect.stringMatching(/ed25519/) });
    // a signature over other bytes, with the right digest, is refused
    const wrong = messageBundle(ed.privateKey, { algorithm: 'SHA2_256', digest: sha(message) }, Buffer.from('other'));
    expect(await verify(wrong, { bytes: message }, ed.publicKey)).toMatchObject({ ok: false, detail: 'SIGNATURE' });
  });
});

describe('key-signer.ts: the expected key as PEM text, PEM bytes or a key object', () => {
  it('each form verifies the same bundle; text that is no PEM key is refused', async () => {
    const bundleJson = messageBundle(signer.privateKey, { algorithm: 'SHA2_256', digest: sha(message) });
    const pem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const verify = (publicKey: string | Buffer | KeyObject) =>
      verifyBundle({ trust: noTrust, expect: { publicKey }, requireTlogForKey: false, bundleJson, artifact: { bytes: message } });
    for (const k of [pem, Buffer.from(pem), signer.publicKey]) expect(await verify(k)).toMatchObject({ ok: true, signer: { type: 'key' } });
    const otherPem = other.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await verify(otherPem)).toMatchObject({ ok: false });
    expect(await verify('not a key')).toEqual({ ok: false, detail: 'KEY', reason: 'the expected public key is not a PEM public key' });
  });
});
