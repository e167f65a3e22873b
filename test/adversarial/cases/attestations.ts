/**
 * Attestations (sigstoreAttested): what a registry writer without the builder's key can do
 * around in-toto attestations — pad them to the cap, list hundreds, relabel a signature or
 * another image's attestation as this image's provenance, lie in the predicate-type annotation
 * — must never allow, and must decide within the deadline and the memory bound.
 */
import { COSIGN_PREDICATE, IN_TOTO, type Key, dsseBundle, putBundleReferrer, putImage, putLegacy, statement } from '../artefacts.js';
import type { Case, Category, Ctx } from '../harness.js';
import type { Stored } from '../lying-registry.js';
import { allow, check, deny, refOf } from './util.js';

const PROV = 'https://slsa.dev/provenance/v1';
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const NO_ATTESTATION = ['NO_ATTESTATION'];
const LIMITS = ['BUDGET_EXCEEDED', 'DEADLINE_EXCEEDED'];

/** The provenance policy: the lying registry needs an attestation of PROV by the trusted key, builder acme's. */
function policy(ctx: Ctx): string {
  return ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}":
    - type: sigstoreAttested
      predicateType: ${PROV}
      keyPath: ${ctx.trustedPub}
      condition: 'predicate.builder.id.startsWith("https://github.com/acme/")'
`);
}

/** A provenance statement for `digest` (padded with `pad` bytes of tiny JSON arrays in the predicate). */
function provenance(digest: string, opts: { builder?: string; predicateType?: string; pad?: number } = {}): Buffer {
  const st = JSON.parse(statement(digest, { predicateType: opts.predicateType ?? PROV }).toString());
  st.predicate = { builder: { id: opts.builder ?? 'https://github.com/acme/builder' } };
  if (opts.pad) st.predicate.pad = JSON.parse(`[${Array.from({ length: Math.floor(opts.pad / 3) }, () => '[]').join(',')}]`);
  return Buffer.from(JSON.stringify(st));
}

/** cosign 2's `.att` layer: a DSSE envelope by `key` over `payload`, its predicate type annotated. */
function attLayer(key: Key, payload: Buffer, annotated: string = PROV) {
  const env = dsseBundle(key, payload);
  const { dsseEnvelope } = JSON.parse(env.toString()) as { dsseEnvelope: unknown };
  return {
    payload: Buffer.from(JSON.stringify(dsseEnvelope)),
    signature: '',
    mediaType: DSSE,
    annotations: { predicateType: annotated },
  };
}

const putAtt = (ctx: Ctx, repo: string, m: Stored, layers: ReturnType<typeof attLayer>[]) =>
  putLegacy(ctx.reg, repo, m.digest, layers, `${m.digest.replace(':', '-')}.att`);

/** An image in a fresh repository, its attestations attached by `attach`, checked against the provenance policy. */
function bundleCase(name: string, attack: string, expect: Case['expect'], attach: (ctx: Ctx, repo: string, m: Stored) => void): Case {
  return {
    name,
    attack,
    expect,
    run(ctx) {
      const repo = ctx.repo('att');
      const m = putImage(ctx.reg, repo);
      attach(ctx, repo, m);
      return check(refOf(ctx, repo, m), { policy: policy(ctx), deadline: 8 });
    },
  };
}

/** The same with cosign 2's `.att` image of `layers`. */
const attCase = (name: string, attack: string, expect: Case['expect'], layers: (ctx: Ctx, m: Stored) => ReturnType<typeof attLayer>[]) =>
  bundleCase(name, attack, expect, (ctx, repo, m) => {
    putAtt(ctx, repo, m, layers(ctx, m));
  });

export const attestations: Category = {
  category: 'attestations',
  cases: [
    attCase('control: .att provenance', "a legacy .att layer by the builder's key, acme's builder", allow(), (ctx, m) => [
      attLayer(ctx.trusted, provenance(m.digest)),
    ]),
    bundleCase('control: bundle provenance', "a cosign 3 bundle referrer by the builder's key", allow(), (ctx, repo, m) => {
      putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, provenance(m.digest)), { predicateType: PROV });
    }),
    attCase(
      '.att padded to the cap by the attacker',
      'three 15 MiB provenance layers of tiny JSON arrays by the attacker key (the verification budget is 48 MiB)',
      deny(...NO_ATTESTATION, ...LIMITS),
      (ctx, m) => Array.from({ length: 3 }, () => attLayer(ctx.attacker, provenance(m.digest, { pad: 11 * 1024 * 1024 }))),
    ),
    attCase(
      '200 junk .att layers, the good one 100th',
      '199 provenance layers by the attacker key around the trusted one',
      allow(),
      (ctx, m) => Array.from({ length: 200 }, (_, i) => attLayer(i === 99 ? ctx.trusted : ctx.attacker, provenance(m.digest))),
    ),
    attCase(
      "another image's provenance",
      "the builder's genuine attestation of another digest, copied under this image's .att tag",
      deny(...NO_ATTESTATION),
      (ctx) => [attLayer(ctx.trusted, provenance(`sha256:${'7'.repeat(64)}`))],
    ),
    attCase(
      'a signature relabelled as provenance',
      "cosign's signature statement by the trusted key, annotated as provenance",
      deny(...NO_ATTESTATION),
      (ctx, m) => [attLayer(ctx.trusted, statement(m.digest, { predicateType: COSIGN_PREDICATE }))],
    ),
    attCase(
      'a false annotation hides the provenance',
      'the genuine attestation annotated as an SBOM (not fetched), a junk one annotated as provenance',
      deny(...NO_ATTESTATION),
      (ctx, m) => [attLayer(ctx.trusted, provenance(m.digest), 'https://spdx.dev/Document'), attLayer(ctx.attacker, provenance(m.digest))],
    ),
    attCase(
      'provenance from the evil builder',
      "the builder's key, a builder id the condition refuses",
      deny('ATTESTATION_REJECTED'),
      (ctx, m) => [attLayer(ctx.trusted, provenance(m.digest, { builder: 'https://github.com/evil/builder' }))],
    ),
    attCase(
      'an envelope of another payload type',
      'a DSSE envelope by the trusted key over a JSON payload that is not in-toto',
      deny(...NO_ATTESTATION),
      (ctx, m) => {
        const l = attLayer(ctx.trusted, provenance(m.digest));
        const env = JSON.parse(l.payload.toString());
        env.payloadType = 'application/json';
        return [{ ...l, payload: Buffer.from(JSON.stringify(env)) }];
      },
    ),
    bundleCase(
      'a cosign signature bundle annotated as provenance',
      "the trusted key's cosign 3 signature of this image, its referrer annotated with the provenance type",
      deny(...NO_ATTESTATION),
      (ctx, repo, m) => {
        putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, statement(m.digest)), { predicateType: PROV });
      },
    ),
    bundleCase(
      'a bundle of a message signature',
      'a bundle by the trusted key whose DSSE payload type is not in-toto',
      deny(...NO_ATTESTATION),
      (ctx, repo, m) => {
        putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, provenance(m.digest), { payloadType: `${IN_TOTO}x` }), {
          predicateType: PROV,
        });
      },
    ),
  ],
};
