/**
 * Payload and statement tampering: what the trusted key signed is not a cosign
 * image signature for this digest (type, digest algorithm and case, several
 * subjects, another predicate: an attestation is not a signature), or the
 * signed bytes were changed afterwards.
 */
import { createHash } from 'node:crypto';
import { type Key, dsseBundle, legacyLayer, putBundleReferrer, putImage, putLegacy, simpleSigning, statement } from '../artefacts.js';
import type { Case, Category, Ctx } from '../harness.js';
import type { Stored } from '../lying-registry.js';
import { BAD_SIGNATURE, check, deny, refOf } from './util.js';

function legacyCase(
  name: string,
  attack: string,
  payload: (ctx: Ctx, repo: string, m: Stored) => Buffer,
  codes = BAD_SIGNATURE,
  sign?: (k: Key, p: Buffer) => string,
): Case {
  return {
    name,
    attack,
    expect: deny(...codes),
    run(ctx) {
      const repo = ctx.repo('tamper');
      const m = putImage(ctx.reg, repo);
      const p = payload(ctx, repo, m);
      const layer = sign ? { payload: p, signature: sign(ctx.trusted, p) } : legacyLayer(ctx.trusted, p);
      putLegacy(ctx.reg, repo, m.digest, [layer]);
      return check(refOf(ctx, repo, m));
    },
  };
}

function bundleCase(name: string, attack: string, make: (ctx: Ctx, m: Stored) => Buffer): Case {
  return {
    name,
    attack,
    expect: deny(...BAD_SIGNATURE),
    run(ctx) {
      const repo = ctx.repo('tamper-b');
      const m = putImage(ctx.reg, repo);
      putBundleReferrer(ctx.reg, repo, m.desc, make(ctx, m));
      return check(refOf(ctx, repo, m), { policy: ctx.shared.bundlePolicy ?? ctx.policy });
    },
  };
}

const hexOf = (d: string) => d.split(':')[1]!;
const ident = (ctx: Ctx, repo: string) => `${ctx.host}/${repo}`;

export const tampering: Category = {
  category: 'payload and statement tampering',
  cases: [
    legacyCase(
      'legacy: payload type is not a cosign image signature',
      'critical.type "atomic container signature", signed by the trusted key',
      (ctx, r, m) => simpleSigning(ident(ctx, r), m.digest, { type: 'atomic container signature' }),
    ),
    legacyCase('legacy: payload type with different case', 'critical.type "Cosign Container Image Signature"', (ctx, r, m) =>
      simpleSigning(ident(ctx, r), m.digest, { type: 'Cosign Container Image Signature' }),
    ),
    legacyCase('legacy: digest in upper-case hex', 'docker-manifest-digest sha256:<HEX> (cosign compares strings)', (ctx, r, m) =>
      simpleSigning(ident(ctx, r), `sha256:${hexOf(m.digest).toUpperCase()}`),
    ),
    legacyCase('legacy: algorithm in upper case', 'docker-manifest-digest SHA256:<hex>', (ctx, r, m) =>
      simpleSigning(ident(ctx, r), `SHA256:${hexOf(m.digest)}`),
    ),
    legacyCase('legacy: sha512 of the manifest instead of sha256', 'docker-manifest-digest sha512:<hex of the same bytes>', (ctx, r, m) =>
      simpleSigning(ident(ctx, r), `sha512:${createHash('sha512').update(m.bytes).digest('hex')}`),
    ),
    legacyCase(
      'legacy: payload changed after signing',
      'optional {"x":"y"} added to a signed payload',
      (ctx, r, m) => simpleSigning(ident(ctx, r), m.digest, { optional: { x: 'y' } }),
      BAD_SIGNATURE,
      (k, p) => k.sign(Buffer.from(p.toString().replace('"optional":{"x":"y"}', '"optional":null'))).toString('base64'),
    ),
    legacyCase(
      "legacy: signature over the payload's sha256 hex, not the payload",
      'the key signed the digest text',
      (ctx, r, m) => simpleSigning(ident(ctx, r), m.digest),
      BAD_SIGNATURE,
      (k, p) => k.sign(createHash('sha256').update(p).digest('hex')).toString('base64'),
    ),
    legacyCase(
      'legacy: duplicate "critical" keys (parser differential)',
      'two critical objects: one for another digest, one for this image',
      (ctx, r, m) => {
        const good = JSON.parse(simpleSigning(ident(ctx, r), m.digest).toString()).critical;
        const bad = { ...good, image: { 'docker-manifest-digest': `sha256:${'0'.repeat(64)}` } };
        return Buffer.from(`{"critical":${JSON.stringify(bad)},"Critical":${JSON.stringify(good)},"optional":null}`);
      },
    ),
    {
      name: 'legacy: layer media type is not simple signing',
      attack: 'a valid payload and signature in a layer typed application/vnd.in-toto+json',
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('tamper-mt');
        const m = putImage(ctx.reg, repo);
        putLegacy(ctx.reg, repo, m.digest, [
          { ...legacyLayer(ctx.trusted, simpleSigning(ident(ctx, repo), m.digest)), mediaType: 'application/vnd.in-toto+json' },
        ]);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'legacy: no signature annotation',
      attack: 'a simple-signing payload with no dev.cosignproject.cosign/signature',
      expect: deny('MALFORMED_SIGNATURE', 'NO_SIGNATURE'),
      run(ctx) {
        const repo = ctx.repo('tamper-nosig');
        const m = putImage(ctx.reg, repo);
        putLegacy(ctx.reg, repo, m.digest, [{ payload: simpleSigning(ident(ctx, repo), m.digest) }]);
        return check(refOf(ctx, repo, m));
      },
    },
    bundleCase(
      'bundle: an attestation (SLSA provenance predicate) is not a signature',
      'statement predicateType https://slsa.dev/provenance/v1 for this digest',
      (ctx, m) => dsseBundle(ctx.trusted, statement(m.digest, { predicateType: 'https://slsa.dev/provenance/v1' })),
    ),
    bundleCase(
      'bundle: cosign attestation predicate (cosign attest) is not a signature',
      'predicateType https://cosign.sigstore.dev/attestation/v1',
      (ctx, m) => dsseBundle(ctx.trusted, statement(m.digest, { predicateType: 'https://cosign.sigstore.dev/attestation/v1' })),
    ),
    bundleCase('bundle: two subjects, this image second', 'subjects [other, this]', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest, { subjects: [{ sha256: 'a'.repeat(64) }, { sha256: hexOf(m.digest) }] })),
    ),
    bundleCase('bundle: two subjects, this image first', 'subjects [this, other]: the signer vouched for two artefacts', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest, { subjects: [{ sha256: hexOf(m.digest) }, { sha256: 'a'.repeat(64) }] })),
    ),
    bundleCase('bundle: subject only as sha512', 'subject digest {sha512: ...}', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest, { subjects: [{ sha512: createHash('sha512').update(m.bytes).digest('hex') }] })),
    ),
    bundleCase('bundle: DSSE payload type is not in-toto', 'payloadType application/json', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest), { payloadType: 'application/json' }),
    ),
    bundleCase('bundle: _type is not an in-toto statement', '_type https://example.com/not-a-statement', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest, { type: 'https://example.com/not-a-statement' })),
    ),
    bundleCase('bundle: statement changed after signing', 'the signature is over a statement for another digest', (ctx, m) =>
      dsseBundle(ctx.trusted, statement(m.digest), { signOver: Buffer.from('DSSEv1 28 application/vnd.in-toto+json 2 {}') }),
    ),
    bundleCase(
      'bundle: message signature over the manifest, not a DSSE statement',
      'messageSignature (no statement) over the manifest bytes',
      (ctx, m) => {
        const sig = ctx.trusted.sign(m.bytes).toString('base64');
        return Buffer.from(
          JSON.stringify({
            mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
            verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
            messageSignature: {
              messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(m.bytes).digest('base64') },
              signature: sig,
            },
          }),
        );
      },
    ),
  ],
};
