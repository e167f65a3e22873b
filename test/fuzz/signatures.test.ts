/**
 * Fuzzing signatures: cosign legacy payloads (simple signing + detached signature) and
 * Sigstore bundles, judged by the same code the engine uses (prepareSignature then
 * evaluateSigstoreRequirement) against a policy that trusts one fixed key, and the
 * `verify-bundle` entry (verifyBundle) on the sigstore-conformance happy paths.
 *
 * Properties: nothing throws; a mutant of a valid signature is ALLOWED only when what was
 * signed, the signature and the subject are byte for byte the original's (a mutation elsewhere
 * may be harmless, one there never verifies); a document re-signed by the trusted key is
 * ALLOWED only when it says exactly what a cosign signature of this image says; anything signed
 * by another key is never ALLOWED.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FoundSignature } from '../../src/discovery/types.js';
import { ReasonCode } from '../../src/errors.js';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { parseReference, repositoryName } from '../../src/reference/reference.js';
import { COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES, SIMPLE_SIGNING_TYPE } from '../../src/verify/payload.js';
import { publicGoodTrust } from '../../src/verify/trusted-root.js';
import { verifyBundle } from '../../src/verify/verifier.js';
import { ROOT } from '../support/paths.js';
import { TEST_TIMEOUT_MS, bytesNear, countedAsync, jsonNear, jsonTextNear, params, textNear } from './fuzz-support.js';
import { tempDir } from '../support/temp.js';

type Sigstore = Extract<Requirement, { type: 'sigstoreSigned' }>;
type Legacy = Extract<FoundSignature, { format: 'legacy' }>;
type BundleSig = Extract<FoundSignature, { format: 'bundle' }>;

const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const HEX = createHash('sha256').update('the image manifest').digest('hex');
const D = `sha256:${HEX}`;
const REPO = 'localhost:5001/app';
const intended = parseReference(`${REPO}@${D}`);
const SIG_ANNOTATION = 'dev.cosignproject.cosign/signature';

let req: Sigstore;
beforeAll(() => {
  const dir = tempDir('sigguard-fuzz-sig-');
  writeFileSync(join(dir, 'cosign.pub'), trusted.publicKey.export({ format: 'pem', type: 'spki' }));
  const p = compilePolicy(
    { version: 1, scopes: { [REPO]: [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signedIdentity: { type: 'matchRepository' } }] } },
    join(dir, 'policy.json'),
    dir,
  );
  req = p.scopes.get(REPO)![0] as Sigstore;
});

/** The requirement's verdict on one signature (awaited: the evaluation may be asynchronous). */
async function decide(found: FoundSignature): Promise<{ code: ReasonCode; reason: string }> {
  const prepared = prepareSignature(found);
  const { report } = await evaluateSigstoreRequirement(req, [prepared], [], intended);
  // a reason, always (attacker text in it is made one line where it is printed: oneLine())
  expect(report.reason.length).toBeGreaterThan(0);
  return report;
}

// ------------------------------------------------------------------ legacy

const payloadDoc = {
  critical: { identity: { 'docker-reference': REPO }, image: { 'docker-manifest-digest': D }, type: SIMPLE_SIGNING_TYPE },
  optional: null,
};
const PAYLOAD = Buffer.from(JSON.stringify(payloadDoc));
const SIG = sign('sha256', PAYLOAD, trusted.privateKey);
const legacySeed = (): Legacy => ({
  format: 'legacy',
  subject: D,
  source: 'fuzz layer 0',
  payload: PAYLOAD,
  signature: SIG.toString('base64'),
  annotations: { [SIG_ANNOTATION]: SIG.toString('base64') },
});

const legacyMutant: fc.Arbitrary<Legacy> = fc.oneof(
  bytesNear(PAYLOAD).map((payload) => ({ ...legacySeed(), payload })),
  jsonTextNear(payloadDoc).map((t) => ({ ...legacySeed(), payload: Buffer.from(t) })),
  bytesNear(SIG).map((s) => ({ ...legacySeed(), signature: s.toString('base64') })),
  textNear(SIG.toString('base64')).map((signature) => ({ ...legacySeed(), signature })),
  textNear(D, `sha256:${HEX.toUpperCase()}`).map((subject) => ({ ...legacySeed(), subject })),
  jsonNear(legacySeed().annotations).map((a) => ({ ...legacySeed(), annotations: a as Record<string, string> })),
);

/** Did the payload say exactly what a cosign signature of this image says? */
function saysThisImage(payload: Buffer): boolean {
  let doc: { critical?: { image?: Record<string, unknown>; type?: unknown; identity?: Record<string, unknown> } };
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return false;
  }
  const c = doc?.critical;
  if (c?.type !== SIMPLE_SIGNING_TYPE || c.image?.['docker-manifest-digest'] !== D) return false;
  const ref = c.identity?.['docker-reference'];
  if (typeof ref !== 'string') return false;
  try {
    return repositoryName(parseReference(ref)) === REPO;
  } catch {
    return false;
  }
}

describe('fuzz: legacy (simple-signing) signatures', () => {
  it('the seed itself is allowed', async () => {
    expect((await decide(legacySeed())).code).toBe(ReasonCode.ALLOWED);
  });

  it(
    'a mutant of a valid signature is allowed only if payload, signature and subject are unchanged',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          legacyMutant,
          countedAsync('legacy.mutant', async (found) => {
            const { code } = await decide(found);
            if (code !== ReasonCode.ALLOWED) return;
            expect(found.payload.equals(PAYLOAD), 'payload changed').toBe(true);
            expect(Buffer.from(found.signature ?? '', 'base64').equals(SIG), 'signature changed').toBe(true);
            expect(found.subject).toBe(D);
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a payload re-signed by the trusted key is allowed only if it names this digest and repository as cosign does',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonTextNear(payloadDoc).map((t) => Buffer.from(t)),
            bytesNear(PAYLOAD),
          ),
          countedAsync('legacy.resigned', async (payload) => {
            const sig = sign('sha256', payload, trusted.privateKey).toString('base64');
            const { code } = await decide({ ...legacySeed(), payload, signature: sig, annotations: { [SIG_ANNOTATION]: sig } });
            if (code === ReasonCode.ALLOWED) expect(saysThisImage(payload), payload.toString('utf8')).toBe(true);
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'anything signed by another key is never allowed',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonTextNear(payloadDoc).map((t) => Buffer.from(t)),
            fc.constant(PAYLOAD),
          ),
          countedAsync('legacy.otherKey', async (payload) => {
            const sig = sign('sha256', payload, other.privateKey).toString('base64');
            expect((await decide({ ...legacySeed(), payload, signature: sig, annotations: { [SIG_ANNOTATION]: sig } })).code).not.toBe(
              ReasonCode.ALLOWED,
            );
          }),
        ),
        params(1),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

// ------------------------------------------------------------------ bundles (cosign v3)

const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: REPO, digest: { sha256: HEX } }],
  predicateType: COSIGN_SIGN_PREDICATE,
  predicate: {},
};
const pae = (type: string, payload: Buffer) =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);

function keyBundle(payload: Buffer, key = trusted.privateKey, payloadType = IN_TOTO_PAYLOAD_TYPE) {
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType,
      signatures: [{ sig: sign('sha256', pae(payloadType, payload), key).toString('base64'), keyid: '' }],
    },
  };
}
const STATEMENT = Buffer.from(JSON.stringify(statement));
const BUNDLE = keyBundle(STATEMENT);
const BUNDLE_SIG = Buffer.from(BUNDLE.dsseEnvelope.signatures[0]!.sig, 'base64');
const bundleFound = (bundle: Buffer): BundleSig => ({
  format: 'bundle',
  subject: D,
  source: 'fuzz referrer',
  bundle,
  mediaType: BUNDLE.mediaType,
});

/**
 * The DSSE payload, type and signatures of a bundle as the verifier reads them (protobuf-specs'
 * fromJSON, which coerces: a payloadType of ["x"] reads as "x"; the signed bytes are the same).
 */
function envelope(text: Buffer): { payload: Buffer; type: unknown; sigs: Buffer[] } | undefined {
  try {
    const b = bundleFromJSON(JSON.parse(text.toString('utf8')));
    if (b.content.$case !== 'dsseEnvelope') return undefined;
    const env = b.content.dsseEnvelope;
    return { payload: Buffer.from(env.payload), type: env.payloadType, sigs: env.signatures.map((s) => Buffer.from(s.sig)) };
  } catch {
    return undefined;
  }
}

function statementSaysThisImage(payload: Buffer, payloadType: unknown): boolean {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return false;
  let s: { _type?: unknown; subject?: Array<{ digest?: Record<string, unknown> }>; predicateType?: unknown };
  try {
    s = JSON.parse(payload.toString('utf8'));
  } catch {
    return false;
  }
  return (
    IN_TOTO_STATEMENT_TYPES.includes(s?._type as string) &&
    s.predicateType === COSIGN_SIGN_PREDICATE &&
    Array.isArray(s.subject) &&
    s.subject.length === 1 &&
    s.subject[0]?.digest?.sha256 === HEX
  );
}

describe('fuzz: Sigstore bundles (cosign v3)', () => {
  it('the seed itself is allowed', async () => {
    expect((await decide(bundleFound(Buffer.from(JSON.stringify(BUNDLE))))).code).toBe(ReasonCode.ALLOWED);
  });

  it(
    'a mutant of a valid bundle is allowed only if its statement, payload type, signature and subject are unchanged',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonNear(BUNDLE).map((b) => ({ bundle: Buffer.from(JSON.stringify(b) ?? 'null'), subject: D })),
            bytesNear(Buffer.from(JSON.stringify(BUNDLE))).map((bundle) => ({ bundle, subject: D })),
            textNear(D).map((subject) => ({ bundle: Buffer.from(JSON.stringify(BUNDLE)), subject })),
          ),
          countedAsync('bundle.mutant', async ({ bundle, subject }) => {
            const { code } = await decide({ ...bundleFound(bundle), subject });
            if (code !== ReasonCode.ALLOWED) return;
            const env = envelope(bundle);
            expect(env, 'no envelope').toBeDefined();
            expect(env!.payload.equals(STATEMENT), 'statement changed').toBe(true);
            expect(env!.type).toBe(IN_TOTO_PAYLOAD_TYPE);
            expect(
              env!.sigs.some((s) => s.equals(BUNDLE_SIG)),
              'signature changed',
            ).toBe(true);
            expect(subject).toBe(D);
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a statement re-signed by the trusted key is allowed only if it is a cosign signature statement about this digest alone',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonTextNear(statement).map((t) => Buffer.from(t)),
            bytesNear(STATEMENT),
          ),
          fc.oneof({ weight: 5, arbitrary: fc.constant(IN_TOTO_PAYLOAD_TYPE) }, { weight: 1, arbitrary: textNear(IN_TOTO_PAYLOAD_TYPE) }),
          countedAsync('bundle.resigned', async (payload, payloadType) => {
            const { code } = await decide(bundleFound(Buffer.from(JSON.stringify(keyBundle(payload, trusted.privateKey, payloadType)))));
            if (code === ReasonCode.ALLOWED) expect(statementSaysThisImage(payload, payloadType), payload.toString('utf8')).toBe(true);
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a bundle signed by another key is never allowed',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonTextNear(statement).map((t) => Buffer.from(t)),
            fc.constant(STATEMENT),
          ),
          countedAsync('bundle.otherKey', async (payload) => {
            expect((await decide(bundleFound(Buffer.from(JSON.stringify(keyBundle(payload, other.privateKey)))))).code).not.toBe(
              ReasonCode.ALLOWED,
            );
          }),
        ),
        params(1),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

// ------------------------------------------------------------------ verify-bundle (conformance happy paths)

const CASES = join(ROOT, 'test/fixtures/sigstore-conformance/bundle-verify');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const ARTIFACT = readFileSync(join(CASES, 'a.txt'));
const happy = ['happy-path-v0.1', 'happy-path-v0.2', 'happy-path-v0.3', 'happy-path-intoto-in-dsse-v3'].map((name) => {
  const text = readFileSync(join(CASES, name, 'bundle.sigstore.json'), 'utf8');
  return { name, text, json: JSON.parse(text) as unknown };
});

/** The signed content and the signing certificate of a bundle's JSON: what no verifying mutant may change. */
function essentials(json: unknown): string | undefined {
  try {
    const b = json as {
      messageSignature?: { signature: string; messageDigest: { digest: string } };
      dsseEnvelope?: { payload: string; payloadType: string; signatures: Array<{ sig: string }> };
      verificationMaterial: { certificate?: { rawBytes: string }; x509CertificateChain?: { certificates: Array<{ rawBytes: string }> } };
    };
    const cert = b.verificationMaterial.certificate?.rawBytes ?? b.verificationMaterial.x509CertificateChain?.certificates[0]?.rawBytes;
    const content = b.messageSignature
      ? [b.messageSignature.signature, b.messageSignature.messageDigest.digest]
      : [b.dsseEnvelope!.payload, b.dsseEnvelope!.payloadType, ...b.dsseEnvelope!.signatures.map((s) => s.sig)];
    const norm = (s: string) => Buffer.from(s, 'base64').toString('hex');
    return JSON.stringify([norm(String(cert)), ...content.map((c, i) => (b.dsseEnvelope && i === 1 ? c : norm(String(c))))]);
  } catch {
    return undefined;
  }
}

describe('fuzz: verify-bundle on the conformance happy paths', () => {
  const trust = publicGoodTrust().trust;
  const expectation = { identity: IDENTITY, issuer: ISSUER };

  it('the seeds verify', async () => {
    for (const h of happy) {
      const artifact = h.name.includes('intoto')
        ? {
            digest: `sha256:${JSON.parse(Buffer.from((h.json as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString()).subject[0].digest.sha256}`,
          }
        : { bytes: ARTIFACT };
      expect(await verifyBundle({ bundleJson: h.text, artifact, trust, expect: expectation }), h.name).toMatchObject({ ok: true });
    }
  });

  it(
    'a mutant verifies only with its signed content and certificate unchanged; never a throw',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: happy.length - 1 }).chain((i) =>
            fc.oneof(
              jsonNear(happy[i]!.json).map((j) => ({ i, text: JSON.stringify(j) ?? 'null' })),
              textNear(happy[i]!.text).map((text) => ({ i, text })),
            ),
          ),
          countedAsync('verifyBundle.conformance', async ({ i, text }) => {
            const h = happy[i]!;
            const intoto = h.name.includes('intoto');
            const seedDsse = intoto
              ? JSON.parse(Buffer.from((h.json as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString())
              : undefined;
            const artifact = intoto ? { digest: `sha256:${seedDsse.subject[0].digest.sha256}` } : { bytes: ARTIFACT };
            const r = await verifyBundle({ bundleJson: text, artifact, trust, expect: expectation });
            if (!r.ok) {
              expect(r.reason.length).toBeGreaterThan(0);
              return;
            }
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            expect(essentials(parsed), `${h.name}: a changed bundle verified`).toBe(essentials(h.json));
          }),
        ),
        params(1),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
