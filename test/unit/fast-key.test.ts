/**
 * The fast path of key-only requirements (src/verify/fast-key.ts, engine/requirements/prepare-fast.ts)
 * against the full path (prepare.ts and @sigstore/verify): what the fast path decides, the full path
 * decides alike, on cosign-shaped signatures and on mutated ones (fast-check); what it doubts, it
 * hands over. The engine's choice of path: only plain-key requirements, only when every signature
 * is one the fast path decides, never with SIGGUARD_FAST_PATH=off.
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { FoundSignature } from '../../src/discovery/types.js';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { fastEligible, prepareAllFast } from '../../src/engine/requirements/prepare-fast.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { fastBundle, fastLegacy, simpleSigningClaim, statementClaim } from '../../src/verify/fast-key.js';
import { knownPublicKey } from '../../src/policy/keys.js';
import { type TrustedKey, parsePublicKey } from '../../src/verify/keys.js';
import { COSIGN_SIGN_PREDICATE, IN_TOTO_STATEMENT_TYPES, inTotoStatementSchema, simpleSigningSchema } from '../../src/verify/payload.js';
import { signedByKey } from '../../src/verify/trust.js';

type Legacy = Extract<FoundSignature, { format: 'legacy' }>;
type BundleSig = Extract<FoundSignature, { format: 'bundle' }>;
type SigstoreSigned = Extract<Requirement, { type: 'sigstoreSigned' }>;

const DIGEST = `sha256:${'a'.repeat(64)}`;
const REPO = 'r.io/app';
const SIG = 'dev.cosignproject.cosign/signature';

interface Signer {
  trusted: TrustedKey;
  sign(data: Buffer): Buffer;
  /** A DSSE signature (over the pre-authentication encoding), as cosign 3 makes with the key. */
  signDsse(payloadType: string, payload: Buffer): Buffer;
}
function signer(kind: 'ec' | 'ed25519' | 'rsa', label: string): Signer {
  const pair =
    kind === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  const priv: KeyObject = pair.privateKey;
  return {
    trusted: parsePublicKey(pair.publicKey.export({ format: 'pem', type: 'spki' }), label),
    sign: (data) => sign(kind === 'ed25519' ? null : 'sha256', data, priv),
    signDsse: (type, payload) =>
      sign(
        kind === 'ed25519' ? null : 'sha256',
        Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]),
        priv,
      ),
  };
}
const ec = signer('ec', 'ec.pub');
const ed = signer('ed25519', 'ed.pub');
const rsa = signer('rsa', 'rsa.pub');
const other = signer('ec', 'other.pub');
const KEYS = [ec.trusted, ed.trusted, rsa.trusted, other.trusted];

const payloadOf = (digest = DIGEST, ref = REPO) =>
  Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': ref },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );

function legacy(payload: Buffer, by: Signer | undefined, annotations: Record<string, string> = {}): Legacy {
  const signature = by === undefined ? undefined : by.sign(payload).toString('base64');
  return {
    format: 'legacy',
    subject: DIGEST,
    source: 'sha256-a.sig layer 0',
    payload,
    signature,
    annotations: { ...(signature === undefined ? {} : { [SIG]: signature }), ...annotations },
  };
}

function requirement(keys: TrustedKey[]): SigstoreSigned {
  const datas = keys.map((k) => Buffer.from(k.key.export({ format: 'pem', type: 'spki' })).toString('base64'));
  const req = compilePolicy(
    { version: 1, scopes: { 'r.io': [{ type: 'sigstoreSigned', keyDatas: datas, signedIdentity: { type: 'matchRepository' } }] } },
    '/p.yaml',
    '/',
  ).scopes.get('r.io')![0]!;
  return req as SigstoreSigned;
}

/** The full path's verdict on one signature, in the fast path's terms. */
function fullView(sig: FoundSignature) {
  const p = prepareSignature(sig);
  if (!p.ok || !('entity' in p)) return { ok: false as const };
  return { ok: true as const, claim: p.claim, signedBy: KEYS.map((k) => signedByKey(p.entity, k)) };
}

/** Where the fast path decides, the full path decides the same: readable, the same claim, the same keys. */
function agree(sig: FoundSignature): 'decided' | 'handed over' {
  const fast = sig.format === 'legacy' ? fastLegacy(sig) : fastBundle(sig);
  const full = fullView(sig);
  if (fast === undefined) return 'handed over';
  expect(full.ok, 'the fast path read a signature the full path refuses').toBe(true);
  if (!full.ok) return 'decided';
  expect(fast.claim).toEqual(full.claim);
  expect(KEYS.map((k) => fast.signedBy(k))).toEqual(full.signedBy);
  return 'decided';
}

describe('the fast key path on cosign-shaped legacy signatures', () => {
  it.each([
    ['ECDSA P-256', ec],
    ['Ed25519', ed],
    ['RSA', rsa],
  ])('%s: decides, signed by its key and no other, as the full path does', (_name, by) => {
    const sig = legacy(payloadOf(), by);
    const fast = fastLegacy(sig)!;
    expect(fast.claim).toEqual({ digest: DIGEST, dockerReference: REPO });
    expect(KEYS.filter((k) => fast.signedBy(k))).toEqual([by.trusted]);
    expect(agree(sig)).toBe('decided');
  });

  it('a signature over other bytes, by the right key, is not signed by it', () => {
    const sig = { ...legacy(payloadOf(), ec), payload: payloadOf(`sha256:${'b'.repeat(64)}`) };
    expect(fastLegacy(sig)!.signedBy(ec.trusted)).toBe(false);
    expect(agree(sig)).toBe('decided');
  });

  it.each([
    ['no signature annotation', (s: Legacy) => ({ ...s, signature: undefined })],
    ['an empty signature annotation', (s: Legacy) => ({ ...s, signature: '' })],
    ['a signature annotation that is not base64', (s: Legacy) => ({ ...s, signature: `${s.signature}!` })],
    ['a payload that is not JSON', (s: Legacy) => ({ ...s, payload: Buffer.from('{"critical":') })],
    ['a payload of another type', (s: Legacy) => ({ ...s, payload: Buffer.from(payloadOf().toString().replace('cosign container', 'x')) })],
    ['a payload without identity', (s: Legacy) => ({ ...s, payload: Buffer.from('{"critical":{"image":{},"type":"x"}}') })],
  ])('hands over %s (the full path says why it is malformed)', (_what, edit) => {
    const sig = edit(legacy(payloadOf(), ec));
    expect(fastLegacy(sig)).toBeUndefined();
    expect(prepareSignature(sig).ok).toBe(false);
  });

  it.each([
    'dev.sigstore.cosign/certificate',
    'dev.sigstore.cosign/chain',
    'dev.sigstore.cosign/bundle',
    'dev.sigstore.cosign/rfc3161timestamp',
  ])('hands over a signature carrying %s, which only the full path reads', (annotation) => {
    expect(fastLegacy(legacy(payloadOf(), ec, { [annotation]: 'x' }))).toBeUndefined();
  });

  it('reads the simple-signing claim as the schema does', () => {
    const docs: unknown[] = [
      JSON.parse(payloadOf().toString()),
      {
        critical: {
          identity: { 'docker-reference': 'x' },
          image: { 'docker-manifest-digest': 'y' },
          type: 'cosign container image signature',
        },
      },
      { critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': 'y' }, type: 'other' } },
      { critical: { identity: { 'docker-reference': 1 }, image: { 'docker-manifest-digest': 'y' }, type: 'x' } },
      { critical: { identity: [], image: { 'docker-manifest-digest': 'y' }, type: 'x' } },
      { critical: null },
      [],
      null,
      'x',
      { critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': 'y' }, type: 'x' }, optional: [] },
      { critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': 'y' }, type: 'x' }, optional: 'o' },
      { critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': 'y' }, type: 'x' }, optional: { a: [1] } },
    ];
    for (const d of docs) {
      const schema = simpleSigningSchema.safeParse(d);
      const fast = simpleSigningClaim(d);
      const typed = schema.success && schema.data.critical.type === 'cosign container image signature';
      expect(fast !== undefined, JSON.stringify(d)).toBe(typed);
    }
  });
});

/** A payload document with one part replaced, removed or retyped. */
const jsonish = fc.jsonValue({ maxDepth: 2 });
const mutatedPayload: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(payloadOf()),
  fc
    .tuple(
      fc.constantFrom('critical', 'optional', 'identity', 'image', 'type', 'docker-reference', 'docker-manifest-digest'),
      fc.option(jsonish),
    )
    .map(([field, value]) => {
      const doc = JSON.parse(payloadOf().toString()) as { critical: Record<string, Record<string, unknown> | unknown> } & Record<
        string,
        unknown
      >;
      const crit = doc.critical as Record<string, unknown>;
      const set = (o: Record<string, unknown>, k: string) => {
        if (value === null) delete o[k];
        else o[k] = value;
      };
      if (field === 'critical' || field === 'optional') set(doc, field);
      else if (field === 'identity' || field === 'image' || field === 'type') set(crit, field);
      else if (field === 'docker-reference') set(crit.identity as Record<string, unknown>, field);
      else set(crit.image as Record<string, unknown>, field);
      return Buffer.from(JSON.stringify(doc));
    }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
    const b = Buffer.from(payloadOf());
    b[at % b.length] = (b[at % b.length]! ^ x) & 0xff;
    return b;
  }),
  jsonish.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
);

/** The signature annotation, made over the payload by one key, then perhaps mangled. */
const mangle = fc.oneof(
  fc.constant((s: string) => s),
  fc.constant((s: string) => s.replace(/=+$/, '')),
  fc.constant((s: string) => `${s.slice(0, 20)}\n${s.slice(20)}`),
  fc.constant((s: string) => `${s.slice(0, 20)} ${s.slice(20)}`),
  fc.constant((s: string) => s.replace(/\+/g, '-').replace(/\//g, '_')),
  fc.constant((s: string) => `${s}=`),
  fc.constant(() => ''),
  fc.tuple(fc.nat(), fc.constantFrom('A', 'B', '/', '+', '=', '!', '\r')).map(([at, c]) => (s: string) => {
    const i = at % s.length;
    return s.slice(0, i) + c + s.slice(i + 1);
  }),
);

describe('fast and full path agree on mutated legacy signatures (fast-check)', () => {
  it('whatever the payload, signature and annotations', () => {
    let decided = 0;
    fc.assert(
      fc.property(
        mutatedPayload,
        fc.constantFrom(ec, ed, rsa, other, undefined),
        mangle,
        fc.option(fc.constantFrom('dev.sigstore.cosign/bundle', 'dev.sigstore.cosign/certificate', 'other/annotation')),
        fc.boolean(),
        (payload, by, edit, extra, signOriginal) => {
          const signed = signOriginal ? payloadOf() : payload;
          const base = legacy(signed, by, extra === null ? {} : { [extra]: 'x' });
          const sig: Legacy = { ...base, payload, signature: base.signature === undefined ? undefined : edit(base.signature) };
          if (agree(sig) === 'decided') decided++;
        },
      ),
      { numRuns: 400 },
    );
    // the property is not vacuous: many cases are decided by the fast path
    expect(decided).toBeGreaterThan(15);
  });

  it('and the requirement judged over either reads the same report, signature by signature', async () => {
    const req = requirement([ec.trusted, ed.trusted]);
    const intended = parseReference(`${REPO}@${DIGEST}`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(mutatedPayload, fc.constantFrom(ec, ed, other, undefined), fc.boolean()), { minLength: 0, maxLength: 3 }),
        async (items) => {
          const found = items.map(([payload, by, signOriginal]) => ({ ...legacy(signOriginal ? payloadOf() : payload, by), payload }));
          const fast = prepareAllFast(found, () => {});
          if (fast === undefined) return;
          const full = found.map((f) => prepareSignature(f));
          const a = await evaluateSigstoreRequirement(req, fast, [], intended);
          const b = await evaluateSigstoreRequirement(req, full, [], intended);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('which verifications take the fast path', () => {
  afterEach(() => {
    delete process.env.SIGGUARD_FAST_PATH;
  });

  it('plain-key sigstoreSigned requirements only', () => {
    const keys = requirement([ec.trusted]);
    expect(fastEligible([keys])).toBe(true);
    expect(fastEligible([keys, keys])).toBe(true);
    expect(fastEligible([])).toBe(false);
    expect(fastEligible([keys, { type: 'reject' }])).toBe(false);
    expect(fastEligible([{ ...keys, trust: { ...keys.trust, rekor: {} } } as SigstoreSigned])).toBe(false);
    const keyless = compilePolicy(
      {
        version: 1,
        scopes: {
          'r.io': [
            {
              type: 'sigstoreSigned',
              keyless: { identities: [{ issuer: 'https://accounts.example.com', subject: 'me@example.com' }] },
            },
          ],
        },
      },
      '/p.yaml',
      '/',
    ).scopes.get('r.io')!;
    expect(fastEligible(keyless)).toBe(false);
  });

  it('never with SIGGUARD_FAST_PATH=off', () => {
    process.env.SIGGUARD_FAST_PATH = 'off';
    expect(fastEligible([requirement([ec.trusted])])).toBe(false);
  });

  it('all the signatures or none: one the fast path doubts sends them all to the full path', () => {
    const good = legacy(payloadOf(), ec);
    expect(prepareAllFast([good, good], () => {})).toHaveLength(2);
    expect(prepareAllFast([good, { ...good, signature: undefined }], () => {})).toBeUndefined();
    const bundle: FoundSignature = { format: 'bundle', subject: DIGEST, source: 'x', bundle: Buffer.from('{}'), mediaType: 'x' };
    expect(prepareAllFast([good, bundle], () => {})).toBeUndefined();
  });

  it('checks the deadline before each signature', () => {
    const good = legacy(payloadOf(), ec);
    let calls = 0;
    expect(() =>
      prepareAllFast([good, good, good], () => {
        if (++calls === 2) throw new Error('deadline');
      }),
    ).toThrow('deadline');
    expect(calls).toBe(2);
  });

  it('the claim is what the payload says, the check is over its bytes, as on the full path', () => {
    const payload = payloadOf(`sha256:${createHash('sha256').update('x').digest('hex')}`);
    expect(agree(legacy(payload, ec))).toBe('decided');
  });
});

const IN_TOTO = 'application/vnd.in-toto+json';
const statementOf = (digest = DIGEST) => ({
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ digest: { sha256: digest.slice('sha256:'.length) }, annotations: {} }],
  predicateType: COSIGN_SIGN_PREDICATE,
  predicate: {},
});
/** A bundle as cosign 3 writes it for a key and no log, from its statement (a JSON value). */
function bundleDoc(statement: unknown, by: Signer = ec) {
  const payload = Buffer.from(JSON.stringify(statement));
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: 'aGludA==' } },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO,
      signatures: [{ sig: by.signDsse(IN_TOTO, payload).toString('base64') }],
    },
  };
}
const bundleSig = (doc: unknown): BundleSig => ({
  format: 'bundle',
  subject: DIGEST,
  source: 'referrers API sha256:b',
  bundle: Buffer.from(JSON.stringify(doc) ?? 'null'),
  mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
});

describe('the fast key path on key-signed cosign 3 bundles', () => {
  it.each([
    ['ECDSA P-256', ec],
    ['Ed25519', ed],
    ['RSA', rsa],
  ])('%s: decides, signed by its key and no other, as the full path does', (_name, by) => {
    const sig = bundleSig(bundleDoc(statementOf(), by));
    const fast = fastBundle(sig)!;
    expect(fast.claim).toEqual({ digest: DIGEST, dockerReference: undefined });
    expect(KEYS.filter((k) => fast.signedBy(k))).toEqual([by.trusted]);
    expect(agree(sig)).toBe('decided');
  });

  it.each([
    [
      'a log entry',
      (d: ReturnType<typeof bundleDoc>) => ({ ...d, verificationMaterial: { ...d.verificationMaterial, tlogEntries: [{}] } }),
    ],
    [
      'a timestamp',
      (d: ReturnType<typeof bundleDoc>) => ({
        ...d,
        verificationMaterial: {
          ...d.verificationMaterial,
          timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: 'AA==' }] },
        },
      }),
    ],
    ['a certificate', (d: ReturnType<typeof bundleDoc>) => ({ ...d, verificationMaterial: { certificate: { rawBytes: 'AA==' } } })],
    ['a message signature', (d: ReturnType<typeof bundleDoc>) => ({ ...d, messageSignature: { signature: 'AA==' } })],
    [
      'a v0.2 media type',
      (d: ReturnType<typeof bundleDoc>) => ({ ...d, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.2' }),
    ],
    [
      'two signatures',
      (d: ReturnType<typeof bundleDoc>) => ({
        ...d,
        dsseEnvelope: { ...d.dsseEnvelope, signatures: [...d.dsseEnvelope.signatures, ...d.dsseEnvelope.signatures] },
      }),
    ],
    [
      'URL-safe base64',
      (d: ReturnType<typeof bundleDoc>) => ({
        ...d,
        dsseEnvelope: { ...d.dsseEnvelope, payload: d.dsseEnvelope.payload.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') },
      }),
    ],
    [
      'another statement',
      (_d: ReturnType<typeof bundleDoc>) => bundleDoc({ ...statementOf(), predicateType: 'https://slsa.dev/provenance/v1' }),
    ],
  ])('hands over a bundle with %s', (_what, edit) => {
    expect(fastBundle(bundleSig(edit(bundleDoc(statementOf()))))).toBeUndefined();
  });

  it('reads the statement claim as the schema and checks do', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          '_type',
          'subject',
          'predicateType',
          'predicate',
          'subject.0',
          'subject.0.digest',
          'subject.0.digest.sha256',
          'subject.0.name',
          'subject.1',
          'x',
        ),
        fc.option(
          fc.oneof(
            fc.jsonValue({ maxDepth: 2 }),
            fc.constantFrom(...IN_TOTO_STATEMENT_TYPES, COSIGN_SIGN_PREDICATE, [], {}, { sha256: 'ab' }),
          ),
        ),
        (path, value) => {
          const doc = structuredClone(statementOf()) as Record<string, unknown>;
          const parts = path.split('.');
          let at = doc as Record<string, unknown>;
          for (const p of parts.slice(0, -1)) at = (at[p] ?? {}) as Record<string, unknown>;
          if (value === null) delete at[parts[parts.length - 1]!];
          else at[parts[parts.length - 1]!] = value;
          const z = inTotoStatementSchema.safeParse(doc);
          const sha = z.success ? z.data.subject[0]?.digest.sha256 : undefined;
          const full =
            z.success &&
            IN_TOTO_STATEMENT_TYPES.includes(z.data._type) &&
            z.data.predicateType === COSIGN_SIGN_PREDICATE &&
            z.data.subject.length === 1 &&
            sha !== undefined
              ? { digest: `sha256:${sha}`, dockerReference: undefined }
              : undefined;
          expect(statementClaim(doc), JSON.stringify(doc)).toEqual(full);
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** The bundle document with one part replaced or removed. */
const BUNDLE_PATHS = [
  'mediaType',
  'verificationMaterial',
  'verificationMaterial.publicKey',
  'verificationMaterial.publicKey.hint',
  'verificationMaterial.tlogEntries',
  'verificationMaterial.timestampVerificationData',
  'verificationMaterial.certificate',
  'dsseEnvelope',
  'dsseEnvelope.payload',
  'dsseEnvelope.payloadType',
  'dsseEnvelope.signatures',
  'dsseEnvelope.signatures.0',
  'dsseEnvelope.signatures.0.sig',
  'dsseEnvelope.signatures.0.keyid',
  'dsseEnvelope.extra',
  'messageSignature',
  'extra',
];
const bundleValue = fc.option(
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(
      [],
      {},
      '',
      'AA==',
      'AA',
      'application/vnd.dev.sigstore.bundle+json;version=0.3',
      'application/vnd.dev.sigstore.bundle.v0.1+json',
      IN_TOTO,
      { rfc3161Timestamps: [] },
      { hint: '' },
    ),
  ),
);

describe('fast and full path agree on mutated bundles (fast-check)', () => {
  it('whatever the bundle, statement and signature', () => {
    let decided = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...BUNDLE_PATHS),
        bundleValue,
        fc.constantFrom(ec, ed, other),
        fc.constantFrom(DIGEST, `sha256:${'b'.repeat(64)}`, 'sha256:zz'),
        fc.boolean(),
        (path, value, by, digest, mutateIt) => {
          const doc = structuredClone(bundleDoc(statementOf(digest), by)) as Record<string, unknown>;
          if (mutateIt) {
            const parts = path.split('.');
            let at = doc;
            for (const p of parts.slice(0, -1)) at = (at[p] ?? {}) as Record<string, unknown>;
            if (value === null) delete at[parts[parts.length - 1]!];
            else at[parts[parts.length - 1]!] = value;
          }
          if (agree(bundleSig(doc)) === 'decided') decided++;
        },
      ),
      { numRuns: 500 },
    );
    expect(decided).toBeGreaterThan(50);
  });

  it('flipped bytes anywhere in the bundle text', () => {
    const text = Buffer.from(JSON.stringify(bundleDoc(statementOf())));
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = Buffer.from(text);
        b[at % b.length] = (b[at % b.length]! ^ x) & 0xff;
        agree({ ...bundleSig({}), bundle: b });
      }),
      { numRuns: 400 },
    );
  });
});

describe('fast and full path agree on JSON tricks a generator does not write (adversarial review)', () => {
  const D = DIGEST;
  const HEX = DIGEST.slice('sha256:'.length);
  const OTHER = `sha256:${'b'.repeat(64)}`;
  const ss = (image: string, extra = '') =>
    `{"critical":{"identity":{"docker-reference":"${REPO}"},"image":${image},"type":"cosign container image signature"}${extra}}`;
  const payloads = [
    ss(`{"docker-manifest-digest":"${OTHER}","docker-manifest-digest":"${D}"}`),
    ss(`{"docker-manifest-digest":"${D}","docker-manifest-digest":"${OTHER}"}`),
    ss(`{"__proto__":{"docker-manifest-digest":"${D}"}}`),
    ss(`{"docker-manifest-digest":"${D}","__proto__":{"docker-manifest-digest":"${OTHER}"}}`),
    `{"__proto__":${ss(`{"docker-manifest-digest":"${D}"}`)}}`,
    ss(`{"docker-manifest-digest":"${D}"}`).replace('"critical"', '"critic\\u0061l"'),
    ss(`{"docker-manifest-digest":"${D}"}`).replace('"critical"', '"CRITICAL"'),
    `\ufeff${ss(`{"docker-manifest-digest":"${D}"}`)}`,
    `${ss(`{"docker-manifest-digest":"${D}"}`)}\u0000`,
    ` \n\t${ss(`{"docker-manifest-digest":"${D}"}`)}\r\n`,
    ss(`{"docker-manifest-digest":"${D}"}`, ',"optional":[]'),
    ss(`{"docker-manifest-digest":"${D}"}`, ',"optional":"x"'),
    ss(`{"docker-manifest-digest":"${D}"}`, ',"optional":{"__proto__":1}'),
    ss(`{"docker-manifest-digest":"${D} "}`),
    ss(`{"docker-manifest-digest":"${D.toUpperCase()}"}`),
    ss(`{"docker-manifest-digest":"\\ud800${D}"}`),
    ss(`{"docker-manifest-digest":"${D}","docker-manifest-digest":1}`),
    ss(`[{"docker-manifest-digest":"${D}"}]`),
  ];

  it.each(payloads.map((p, i) => [i, p] as const))('legacy payload %i', (_i, text) => {
    const payload = Buffer.from(text);
    agree(legacy(payload, ec));
    agree(legacy(payload, ed));
  });

  it('not vacuous: duplicate keys are decided, the last one read by both paths', () => {
    expect(agree(legacy(Buffer.from(payloads[0]!), ec))).toBe('decided');
    expect(fastLegacy(legacy(Buffer.from(payloads[0]!), ec))?.claim.digest).toBe(D);
    expect(fastLegacy(legacy(Buffer.from(payloads[1]!), ec))?.claim.digest).toBe(OTHER);
  });

  it('legacy payload bytes that are not UTF-8', () => {
    const text = Buffer.from(ss(`{"docker-manifest-digest":"${D}"}`));
    const at = text.indexOf(REPO);
    agree(legacy(Buffer.concat([text.subarray(0, at), Buffer.from([0xff, 0xc3]), text.subarray(at)]), ec));
  });

  const st = (subject: string, extra = '') =>
    `{"_type":"https://in-toto.io/Statement/v1","subject":[${subject}],"predicateType":"${COSIGN_SIGN_PREDICATE}","predicate":{}${extra}}`;
  const statements = [
    st(`{"digest":{"sha256":"${'b'.repeat(64)}","sha256":"${HEX}"}}`),
    st(`{"digest":{"sha256":"${HEX}","sha256":"${'b'.repeat(64)}"}}`),
    st(`{"digest":{"__proto__":{"sha256":"${HEX}"}}}`),
    st(`{"digest":{"sha256":"${HEX}","__proto__":1}}`),
    st(`{"digest":{"sha256":"${HEX}","__proto__":"x"}}`),
    st(`{"digest":{"SHA256":"${HEX}"}}`),
    st(`{"digest":{"sha256":"${HEX.toUpperCase()}"}}`),
    st(`{"digest":{"sha256":"${HEX}"},"__proto__":{"name":1}}`),
    st(`{"digest":{"sha256":"${HEX}"}}`, ',"predicateType":"https://slsa.dev/provenance/v1"'),
    st(`{"digest":{"sha256":"${HEX}"}}`).replace('"predicateType"', '"predicateType":"x","predicateType"'),
    `{"__proto__":${st(`{"digest":{"sha256":"${HEX}"}}`)}}`,
    st(`{"digest":{"sha256":"${HEX}"}},{"digest":{"sha256":"${HEX}"}}`),
  ];
  const rawBundle = (statement: string, edit: (b: string) => string = (b) => b) => {
    const payload = Buffer.from(statement);
    const sig = ec.signDsse(IN_TOTO, payload).toString('base64');
    return edit(
      `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"aGludA=="}},"dsseEnvelope":{"payload":"${payload.toString('base64')}","payloadType":"${IN_TOTO}","signatures":[{"sig":"${sig}"}]}}`,
    );
  };
  const asSig = (text: string): BundleSig => ({ ...bundleSig({}), bundle: Buffer.from(text) });

  it.each(statements.map((s, i) => [i, s] as const))('bundle statement %i', (_i, text) => {
    agree(asSig(rawBundle(text)));
  });

  const good = st(`{"digest":{"sha256":"${HEX}"}}`);
  it.each([
    [
      'a second envelope after the signed one',
      (b: string) => b.replace(/}$/, ',"dsseEnvelope":{"payload":"AA==","payloadType":"x","signatures":[]}}'),
    ],
    ['the envelope under __proto__', (b: string) => b.replace('"dsseEnvelope"', '"__proto__"')],
    ['the media type under __proto__', (b: string) => b.replace('"mediaType"', '"__proto__":{"mediaType":"x"},"mediaType"')],
    ['a payload type escaped', (b: string) => b.replace('"payloadType":"application/', '"payloadType":"application\\/')],
    ['a second payload type', (b: string) => b.replace('"payloadType"', '"payloadType":"text/plain","payloadType"')],
    ['a second signature list', (b: string) => b.replace('"signatures"', '"signatures":[],"signatures"')],
    ['a keyid', (b: string) => b.replace('{"sig"', '{"keyid":"k","sig"')],
    ['a null keyid', (b: string) => b.replace('{"sig"', '{"keyid":null,"sig"')],
    ['tlogEntries null', (b: string) => b.replace('"publicKey"', '"tlogEntries":null,"publicKey"')],
    ['a hint that is a number', (b: string) => b.replace('"aGludA=="', '1')],
  ])('bundle with %s', (_what, edit) => {
    agree(asSig(rawBundle(good, edit)));
  });
});

describe('a policy key whose cached facts its bytes contradict (adversarial review)', () => {
  it('refuses on both paths, even when another key of the requirement made the signature', async () => {
    const pem = ec.trusted.key.export({ format: 'pem', type: 'spki' });
    const broken = knownPublicKey(pem, 'ec.pub', { fingerprint: 'f'.repeat(64), type: 'ec' });
    const req = { ...requirement([ec.trusted, ed.trusted]), keys: [broken, ed.trusted] };
    const intended = parseReference(`${REPO}@${DIGEST}`);
    const found = [legacy(payloadOf(), ed)];
    const fast = prepareAllFast(found, () => {});
    expect(fast).toBeDefined();
    await expect(evaluateSigstoreRequirement(req, fast!, [], intended)).rejects.toThrow(/cached facts/);
    await expect(evaluateSigstoreRequirement(req, found.map(prepareSignature), [], intended)).rejects.toThrow(/cached facts/);
    const bundle = prepareAllFast([bundleSig(bundleDoc(statementOf(), ed))], () => {});
    await expect(evaluateSigstoreRequirement(req, bundle!, [], intended)).rejects.toThrow(/cached facts/);
  });
});
