/**
 * Fuzzing attestations: cosign 2's `.att` layers (a DSSE envelope over an in-toto statement),
 * judged by the engine's own code (engine/requirements/sigstore-attested.ts) against a policy
 * that trusts one key and requires SLSA provenance with a condition; and CEL conditions near
 * valid ones through the load-time check and the bounded evaluation.
 *
 * Properties: nothing throws; a mutant of a valid envelope is ALLOWED only when its payload and
 * signature are the original's; a statement re-signed by the trusted key is ALLOWED only when it
 * is an in-toto statement of exactly the required type, naming this digest, whose predicate
 * passes the condition; anything signed by another key is never ALLOWED; a condition either is
 * refused at load or evaluates to a result (never a throw) within the run's budget.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FoundAttestation } from '../../src/discovery/attestations.js';
import { evaluate } from '../../src/engine/requirements/sigstore-attested.js';
import { ReasonCode } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { conditionProblem, evaluateCondition } from '../../src/policy/condition.js';
import type { SigstoreAttestedRequirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { TEST_TIMEOUT_MS, bytesNear, counted, countedAsync, jsonNear, params, textNear } from './fuzz-support.js';
import { tempDir } from '../support/temp.js';

const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const HEX = createHash('sha256').update('the image manifest').digest('hex');
const D = `sha256:${HEX}`;
const PROV = 'https://slsa.dev/provenance/v1';
const IN_TOTO = 'application/vnd.in-toto+json';
const CONDITION = 'predicate.runDetails.builder.id.startsWith("https://github.com/acme/")';
const STATEMENT = {
  _type: 'https://in-toto.io/Statement/v0.1',
  predicateType: PROV,
  subject: [{ name: 'localhost:5001/app', digest: { sha256: HEX } }],
  predicate: { runDetails: { builder: { id: 'https://github.com/acme/builder' } } },
};

const pae = (type: string, body: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
const signed = (body: Buffer, key = trusted.privateKey) => sign('sha256', pae(IN_TOTO, body), key);
const envelope = (body: Buffer, sig: Buffer) =>
  Buffer.from(
    JSON.stringify({ payloadType: IN_TOTO, payload: body.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }),
  );
const found = (env: Buffer): FoundAttestation => ({
  format: 'legacy',
  subject: D,
  source: 'fuzz .att layer',
  envelope: env,
  annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: PROV },
  annotatedType: PROV,
});

const PAYLOAD = Buffer.from(JSON.stringify(STATEMENT));
const SIG = signed(PAYLOAD);
const ENVELOPE = envelope(PAYLOAD, SIG);

let req: SigstoreAttestedRequirement;
beforeAll(() => {
  const dir = tempDir('sigguard-fuzz-att-');
  writeFileSync(join(dir, 'builder.pub'), trusted.publicKey.export({ format: 'pem', type: 'spki' }));
  const requirement = { type: 'sigstoreAttested', predicateType: PROV, keyPath: 'builder.pub', condition: CONDITION };
  const p = compilePolicy({ version: 1, scopes: { 'localhost:5001/app': [requirement] } }, join(dir, 'policy.yaml'), dir);
  req = p.scopes.get('localhost:5001/app')![0] as SigstoreAttestedRequirement;
});

const decide = async (f: FoundAttestation) =>
  (
    await evaluate(req, {
      signatures: () => [],
      unreadable: [],
      intended: parseReference(`localhost:5001/app@${D}`),
      checkpoint: () => {},
      attestations: { attestations: [f], unreadable: [] },
      timeLeft: () => 1000,
    })
  ).report;

/** Does this statement say what the requirement asks for (type, subject, condition)? */
function passes(body: Buffer): boolean {
  let st: { _type?: unknown; predicateType?: unknown; subject?: unknown; predicate?: { runDetails?: { builder?: { id?: unknown } } } };
  try {
    st = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  if (st?._type !== 'https://in-toto.io/Statement/v0.1' && st?._type !== 'https://in-toto.io/Statement/v1') return false;
  if (st.predicateType !== PROV || !Array.isArray(st.subject)) return false;
  if (
    !st.subject.some(
      (s: { digest?: { sha256?: unknown } }) => typeof s?.digest?.sha256 === 'string' && s.digest.sha256.toLowerCase() === HEX,
    )
  )
    return false;
  const id = st.predicate?.runDetails?.builder?.id;
  return typeof id === 'string' && id.startsWith('https://github.com/acme/');
}

describe('fuzz: attestations (.att DSSE envelopes)', () => {
  it('the seed itself is allowed', async () => {
    expect((await decide(found(ENVELOPE))).code).toBe(ReasonCode.ALLOWED);
  });

  it(
    'a mutant of a valid envelope is allowed only if its payload and signature are unchanged',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          bytesNear(ENVELOPE),
          countedAsync('attestation.mutant', async (env) => {
            const { code } = await decide(found(env));
            if (code !== ReasonCode.ALLOWED) return;
            const parsed = JSON.parse(env.toString('utf8'));
            expect(Buffer.from(parsed.payload, 'base64').equals(PAYLOAD), 'payload changed').toBe(true);
            expect(Buffer.from(parsed.signatures[0].sig, 'base64').equals(SIG), 'signature changed').toBe(true);
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a statement re-signed by the trusted key is allowed only if it is provenance for this digest that passes the condition; by another key never',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          jsonNear(STATEMENT),
          fc.boolean(),
          countedAsync('attestation.resigned', async (st, byOther) => {
            const body = Buffer.from(JSON.stringify(st) ?? 'null');
            const { code } = await decide(found(envelope(body, signed(body, byOther ? other.privateKey : trusted.privateKey))));
            if (code !== ReasonCode.ALLOWED) return;
            expect(byOther, 'allowed an attestation by another key').toBe(false);
            expect(passes(body), `allowed ${body.toString('utf8').slice(0, 300)}`).toBe(true);
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('fuzz: CEL conditions', () => {
  it(
    'a condition near a valid one is refused at load or evaluates to a result, never a throw',
    () => {
      fc.assert(
        fc.property(
          textNear(
            CONDITION,
            'predicate.scanner.result.vulnerabilities.all(v, v.severity != "CRITICAL")',
            'size(subject) == 1 && image.digest != ""',
          ),
          jsonNear(STATEMENT.predicate),
          counted('condition.near', (source, predicate) => {
            if (conditionProblem(source) !== undefined) return;
            const r = evaluateCondition(
              source,
              { predicate, predicateType: PROV, subject: STATEMENT.subject, image: { name: 'localhost:5001/app', digest: D } },
              500,
            );
            expect(typeof r.ok).toBe('boolean');
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
