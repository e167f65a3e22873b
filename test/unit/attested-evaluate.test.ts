/**
 * Judging attestations (engine/requirements/sigstore-attested.ts) on DSSE envelopes made here,
 * as cosign 2 writes them into `.att` layers, so that each attack can be built exactly: another
 * signer, a payload changed after signing, a statement naming another digest, a wrong payload
 * type or statement type, two signatures, an annotation that lies about the type, cosign's
 * signature statement offered as an attestation, and conditions that fail or err.
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FoundAttestation } from '../../src/discovery/attestations.js';
import { evaluate } from '../../src/engine/requirements/sigstore-attested.js';
import type { RequirementContext } from '../../src/engine/requirements/types.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { SigstoreAttestedRequirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from '../support/temp.js';

const PROV = 'https://slsa.dev/provenance/v1';
const SPDX = 'https://spdx.dev/Document';
const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const IN_TOTO = 'application/vnd.in-toto+json';

let dir: string;
let trusted: KeyObject;
let other: KeyObject;
let edKey: KeyObject;

beforeAll(() => {
  dir = tempDir('sigguard-attested-eval-');
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  trusted = a.privateKey;
  writeFileSync(join(dir, 'trusted.pub'), a.publicKey.export({ type: 'spki', format: 'pem' }));
  other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const ed = generateKeyPairSync('ed25519');
  edKey = ed.privateKey;
  writeFileSync(join(dir, 'ed.pub'), ed.publicKey.export({ type: 'spki', format: 'pem' }));
});

function requirement(extra: Record<string, unknown> = {}, key = 'trusted.pub'): SigstoreAttestedRequirement {
  const policy = compilePolicy(
    { version: 1, scopes: { 'r.io/app': [{ type: 'sigstoreAttested', predicateType: PROV, keyPath: key, ...extra }] } },
    join(dir, 'policy.yaml'),
    dir,
  );
  return policy.scopes.get('r.io/app')![0] as SigstoreAttestedRequirement;
}

interface Statement {
  _type?: string;
  predicateType?: string;
  subject?: Array<{ name?: string; digest: Record<string, string> }>;
  predicate?: unknown;
}

const statement = (s: Statement = {}) => ({
  _type: 'https://in-toto.io/Statement/v0.1',
  predicateType: PROV,
  subject: [{ name: 'r.io/app', digest: { sha256: HEX } }],
  predicate: { runDetails: { builder: { id: 'https://github.com/acme/builder' } } },
  ...s,
});

/** DSSE's pre-authentication encoding: what is signed. */
const pae = (type: string, body: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

interface EnvelopeOptions {
  key?: KeyObject;
  payloadType?: string;
  signatures?: number;
  /** Changes the payload after signing. */
  tamper?: (payload: string) => string;
  annotations?: Record<string, string>;
  subject?: string;
}

function attestation(st: unknown, o: EnvelopeOptions = {}): FoundAttestation {
  const key = o.key ?? trusted;
  const type = o.payloadType ?? IN_TOTO;
  const body = Buffer.from(JSON.stringify(st));
  const sig = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', pae(type, body), key).toString('base64');
  const payload = o.tamper ? o.tamper(body.toString()) : body.toString();
  const envelope = {
    payloadType: type,
    payload: Buffer.from(payload).toString('base64'),
    signatures: Array.from({ length: o.signatures ?? 1 }, () => ({ keyid: '', sig })),
  };
  const annotations = o.annotations ?? { 'dev.cosignproject.cosign/signature': '', predicateType: (st as Statement).predicateType ?? '' };
  return {
    format: 'legacy',
    subject: o.subject ?? DIGEST,
    source: 'test .att layer',
    envelope: Buffer.from(JSON.stringify(envelope)),
    annotations,
    annotatedType: annotations.predicateType || undefined,
  };
}

function context(found: FoundAttestation[], unreadable: RequirementContext['unreadable'] = []): RequirementContext {
  return {
    signatures: () => [],
    unreadable: [],
    intended: parseReference(`r.io/app@${DIGEST}`),
    checkpoint: () => {},
    attestations: { attestations: found, unreadable },
    timeLeft: () => 1000,
  };
}

const judge = (req: SigstoreAttestedRequirement, ...found: FoundAttestation[]) => evaluate(req, context(found));

describe('an attestation that holds', () => {
  it.each([
    ['v0.1', 'https://in-toto.io/Statement/v0.1'],
    ['v1', 'https://in-toto.io/Statement/v1'],
  ])('an in-toto Statement %s by the trusted key naming this digest', async (_v, type) => {
    const e = await judge(requirement(), attestation(statement({ _type: type })));
    expect(e.report).toMatchObject({ satisfied: true, code: 'ALLOWED', satisfiedBy: 'legacy' });
    expect(e.report.reason).toBe(
      `legacy attestation ${PROV} by trusted.pub (${e.report.signer?.split('(')[1]?.replace(')', '')}) verified`,
    );
    expect(e.judged).toEqual([]);
    expect(e.attestations?.[0]).toMatchObject({ status: 'verified', predicateType: PROV });
  });

  it('a statement naming several subjects, this digest among them', async () => {
    const st = statement({ subject: [{ digest: { sha256: 'b'.repeat(64) } }, { digest: { sha256: HEX.toUpperCase() } }] });
    expect((await judge(requirement(), attestation(st))).report.satisfied).toBe(true);
  });

  it('an Ed25519 key', async () => {
    const e = await judge(requirement({}, 'ed.pub'), attestation(statement(), { key: edKey }));
    expect(e.report.satisfied, e.report.reason).toBe(true);
  });

  it('several attestations: the one that passes decides', async () => {
    const req = requirement({ condition: 'predicate.runDetails.builder.id.startsWith("https://github.com/acme/")' });
    const evil = statement({ predicate: { runDetails: { builder: { id: 'https://github.com/evil/x' } } } });
    const e = await judge(req, attestation(evil), attestation(statement(), { key: other }), attestation(statement()));
    expect(e.report.satisfied).toBe(true);
    expect(e.attestations?.map((a) => a.status)).toEqual(['condition-false', 'untrusted', 'verified']);
  });
});

describe('attacks and malformed attestations: NO_ATTESTATION', () => {
  it.each<[string, () => FoundAttestation, RegExp]>([
    [
      'signed by another key',
      () => attestation(statement(), { key: other }),
      /no .* attestation by a trusted signer \(1 of that type found; keys trusted.pub\)/,
    ],
    [
      'the predicate changed after signing',
      () => attestation(statement(), { tamper: (p) => p.replace('acme', 'evil') }),
      /by a trusted signer/,
    ],
    [
      "another image's attestation (its statement names another digest)",
      () => attestation(statement({ subject: [{ digest: { sha256: 'b'.repeat(64) } }] })),
      new RegExp(`statement names ${OTHER}, not ${DIGEST}`),
    ],
    [
      'a subject without a sha256 digest',
      () => attestation(statement({ subject: [{ digest: { sha512: 'c'.repeat(128) } }] })),
      /statement names sha512/,
    ],
    [
      'another payload type (signed as such)',
      () => attestation(statement(), { payloadType: 'application/json' }),
      /DSSE payload type is application\/json/,
    ],
    ['two signatures in the envelope', () => attestation(statement(), { signatures: 2 }), /DSSE envelope has 2 signatures, not 1/],
    ['not an in-toto statement', () => attestation(statement({ _type: 'https://example.com/Statement/v1' })), /not an in-toto statement/],
    ['no subject at all', () => attestation(statement({ subject: [] })), /not an in-toto statement/],
    ['an envelope that is not JSON', () => ({ ...attestation(statement()), envelope: Buffer.from('{nope') }), /DSSE envelope is not JSON/],
    [
      'an annotation that says provenance over an SBOM statement',
      () => attestation(statement({ predicateType: SPDX }), { annotations: { predicateType: PROV } }),
      /annotation says https:\/\/slsa.dev\/provenance\/v1, the statement https:\/\/spdx.dev\/Document/,
    ],
    [
      'an SBOM where provenance is required',
      () => attestation(statement({ predicateType: SPDX })),
      /no https:\/\/slsa.dev\/provenance\/v1 attestation \(found 1 of other types: https:\/\/spdx.dev\/Document\)/,
    ],
    [
      "cosign's signature statement (a signature is no attestation)",
      () => attestation(statement({ predicateType: 'https://sigstore.dev/cosign/sign/v1', predicate: {} })),
      /found 1 of other types: https:\/\/sigstore.dev\/cosign\/sign\/v1/,
    ],
  ])('%s', async (_name, make, reason) => {
    const e = await judge(requirement(), make());
    expect(e.report).toMatchObject({ satisfied: false, code: 'NO_ATTESTATION' });
    expect(e.report.reason).toMatch(reason);
  });

  it("an untrusted envelope's statement is never parsed: garbage signed by another key is untrusted, not malformed", async () => {
    const garbage: FoundAttestation = { ...attestation(statement(), { key: other }), annotatedType: undefined };
    const body = Buffer.from('{"not": "a statement"');
    const sig = sign('sha256', pae(IN_TOTO, body), other).toString('base64');
    const env = { payloadType: IN_TOTO, payload: body.toString('base64'), signatures: [{ keyid: '', sig }] };
    const e = await judge(requirement(), { ...garbage, envelope: Buffer.from(JSON.stringify(env)) } as FoundAttestation);
    expect(e.attestations?.[0]?.status).toBe('untrusted');
    expect(e.attestations?.[0]?.predicateType).toBeUndefined();
  });

  it('none found, none readable, another format only', async () => {
    expect((await judge(requirement())).report.reason).toBe(`no legacy or bundle attestation of ${PROV} found`);
    const unreadable = [
      { format: 'legacy' as const, subject: DIGEST, source: 'x.att', problem: 'attestation of 99999999 bytes is larger than 16777216' },
    ];
    expect((await evaluate(requirement(), context([], unreadable))).report.reason).toBe(
      `no readable ${PROV} attestation: attestation of 99999999 bytes is larger than 16777216`,
    );
    const bundleOnly = await judge(requirement({ signatureFormats: ['bundle'] }), attestation(statement()));
    expect(bundleOnly.report).toMatchObject({ satisfied: false, code: 'NO_ATTESTATION' });
    expect(bundleOnly.attestations?.[0]?.status).toBe('ignored-format');
  });
});

describe('keys with Rekor: a legacy attestation with an intoto entry (cosign 2 attest with --tlog-upload)', () => {
  const rekor = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let log: ReturnType<typeof rekor>;
  let rogueLog: ReturnType<typeof rekor>;
  let pubPem: string;
  beforeAll(() => {
    log = rekor();
    rogueLog = rekor();
    writeFileSync(join(dir, 'rekor.pub'), log.publicKey.export({ type: 'spki', format: 'pem' }));
    pubPem = readFileSync(join(dir, 'trusted.pub'), 'utf8');
  });

  /** Rekor's intoto/0.0.2 body for the envelope's one signature, and the SET over it (cosign's bundle annotation). */
  function withRekor(found: FoundAttestation, o: { logKey?: KeyObject; payloadHashOf?: string } = {}): FoundAttestation {
    if (found.format !== 'legacy') throw new Error('legacy only');
    const env = JSON.parse(found.envelope.toString()) as { payload: string; signatures: Array<{ sig: string }> };
    const payload = Buffer.from(env.payload, 'base64');
    const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const body = {
      apiVersion: '0.0.2',
      kind: 'intoto',
      spec: {
        content: {
          envelope: {
            payloadType: IN_TOTO,
            signatures: [
              { sig: Buffer.from(env.signatures[0]!.sig).toString('base64'), publicKey: Buffer.from(pubPem).toString('base64') },
            ],
          },
          hash: { algorithm: 'sha256', value: hex(found.envelope) },
          payloadHash: { algorithm: 'sha256', value: hex(o.payloadHashOf ?? payload) },
        },
      },
    };
    const logKey = o.logKey ?? log.privateKey;
    const logPub = logKey === log.privateKey ? log.publicKey : rogueLog.publicKey;
    const logID = createHash('sha256')
      .update(logPub.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    const entry = {
      body: Buffer.from(JSON.stringify(body)).toString('base64'),
      integratedTime: Math.floor(Date.now() / 1000) - 60,
      logID,
      logIndex: 4242,
    };
    const canonical = `{"body":${JSON.stringify(entry.body)},"integratedTime":${entry.integratedTime},"logID":${JSON.stringify(entry.logID)},"logIndex":${entry.logIndex}}`;
    const set = JSON.stringify({ SignedEntryTimestamp: sign('sha256', Buffer.from(canonical), logKey).toString('base64'), Payload: entry });
    return { ...found, annotations: { ...found.annotations, 'dev.sigstore.cosign/bundle': set } };
  }

  const rekorRequirement = () => requirement({ rekorPublicKeyPath: 'rekor.pub' });

  it('a verified entry in the trusted log: allowed', async () => {
    const e = await judge(rekorRequirement(), withRekor(attestation(statement())));
    expect(e.report.satisfied, e.report.reason).toBe(true);
  });

  it.each<[string, () => FoundAttestation, string]>([
    ['no Rekor entry', () => attestation(statement()), 'expected 1 tlog entries, got 0'],
    [
      'an entry for another payload',
      () => withRekor(attestation(statement()), { payloadHashOf: 'another payload' }),
      'DSSE payload hash mismatch',
    ],
    [
      'an entry signed by a log the policy does not trust',
      () => withRekor(attestation(statement()), { logKey: rogueLog.privateKey }),
      'inclusion promise could not be verified',
    ],
  ])('%s: NO_ATTESTATION, the key signed it but its Rekor entry does not verify', async (_name, make, why) => {
    const e = await judge(rekorRequirement(), make());
    expect(e.report.code).toBe('NO_ATTESTATION');
    expect(e.report.reason).toContain(`but its Rekor entry does not verify: ${why}`);
  });
});

describe('the condition: ATTESTATION_REJECTED', () => {
  it('false, naming the condition and what it evaluated to', async () => {
    const e = await judge(
      requirement({ condition: 'predicate.runDetails.builder.id == "https://github.com/other/x"' }),
      attestation(statement()),
    );
    expect(e.report.code).toBe('ATTESTATION_REJECTED');
    expect(e.report.reason).toMatch(
      /^the trusted https:\/\/slsa.dev\/provenance\/v1 attestation \(by trusted.pub \(SHA256:[0-9a-f]{16}\)\) fails the condition "predicate.runDetails.builder.id == \\"https:\/\/github.com\/other\/x\\"": evaluated to false$/,
    );
  });
  it('an error (a field the predicate lacks) and a non-bool refuse too', async () => {
    const missing = await judge(requirement({ condition: 'predicate.buildDefinition.buildType == "x"' }), attestation(statement()));
    expect(missing.report.code).toBe('ATTESTATION_REJECTED');
    expect(missing.report.reason).toContain('evaluation failed: No such key: buildDefinition');
    const notBool = await judge(requirement({ condition: 'predicate.runDetails' }), attestation(statement()));
    expect(notBool.report.reason).toContain('evaluated to a map, not a bool');
  });
  it('the condition is only evaluated over a trusted statement: an untrusted one that would pass is still NO_ATTESTATION', async () => {
    const e = await judge(requirement({ condition: 'true' }), attestation(statement(), { key: other }));
    expect(e.report.code).toBe('NO_ATTESTATION');
  });
  it('the variables the condition sees: the verified digest and the name the pod used', async () => {
    const req = requirement({ condition: `image.digest == "${DIGEST}" && image.name == "r.io/app@${DIGEST}" && size(subject) == 1` });
    expect((await judge(req, attestation(statement()))).report.satisfied).toBe(true);
  });
});

describe('review (issue 14): exact types, one reading of the statement, the cap per requirement', () => {
  it.each([
    ['a trailing slash', `${PROV}/`],
    ['another case', PROV.toUpperCase()],
    ['another version', 'https://slsa.dev/provenance/v0.2'],
  ])('a predicate type with %s is another type', async (_name, type) => {
    const e = await judge(requirement(), attestation(statement({ predicateType: type }), { annotations: {} }));
    expect(e.report).toMatchObject({ satisfied: false, code: 'NO_ATTESTATION' });
    expect(e.attestations?.[0]?.status).toBe('other-type');
  });
  it.each(['https://in-toto.io/Statement/v1/', 'https://in-toto.io/statement/v1', 'https://in-toto.io/Statement/v0.2'])(
    'statement _type %s is no in-toto statement',
    async (type) => {
      const e = await judge(requirement(), attestation(statement({ _type: type })));
      expect(e.report.reason).toMatch(/not an in-toto statement/);
    },
  );
  it('a statement with a key twice is refused, whichever copy a reader would take (the signer trusted)', async () => {
    const body = JSON.stringify(statement());
    const twice = [
      // JSON.parse (and Go) take the last copy, a reader of the first sees the evil builder
      body.replace('"predicate":{', '"predicate":{"runDetails":{"builder":{"id":"https://github.com/evil/x"}},'),
      body.replace('"subject":[', `"subject":[{"digest":{"sha256":"${'b'.repeat(64)}"}}],"subject":[`),
      body.replace('"predicateType":', `"predicateType":"${SPDX}","predicateType":`),
    ];
    for (const text of twice) {
      const sig = sign('sha256', pae(IN_TOTO, Buffer.from(text)), trusted).toString('base64');
      const env = { payloadType: IN_TOTO, payload: Buffer.from(text).toString('base64'), signatures: [{ keyid: '', sig }] };
      const found = { ...attestation(statement()), envelope: Buffer.from(JSON.stringify(env)) } as FoundAttestation;
      const e = await judge(requirement({ condition: 'predicate.runDetails.builder.id.startsWith("https://github.com/acme/")' }), found);
      expect(e.report).toMatchObject({ satisfied: false, code: 'NO_ATTESTATION' });
      expect(e.report.reason).toMatch(/duplicate key/);
    }
  });
  it("an attestation larger than the requirement's maxBytes is not read for it, even when another requirement's larger cap fetched it", async () => {
    const big = statement({ predicate: { runDetails: { builder: { id: 'https://github.com/acme/builder' } }, pad: 'x'.repeat(4096) } });
    const found = attestation(big);
    expect(found.format === 'legacy' && found.envelope.length).toBeGreaterThan(4096);
    const small = await judge(requirement({ maxBytes: 4096 }), found);
    expect(small.report).toMatchObject({ satisfied: false, code: 'NO_ATTESTATION' });
    expect(small.report.reason).toMatch(/larger than 4096/);
    expect((await judge(requirement({ maxBytes: 1024 * 1024 }), found)).report.satisfied).toBe(true);
  });
});
