/**
 * Transparency log and timestamp abuse: bundles with thousands of tlog
 * entries (cost before any crypto), Rekor entries (signed entry timestamps by
 * a Rekor key the policy trusts) for another body, garbage entries and
 * timestamps next to a good signature: a present entry is verified, even
 * where not required.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CERT_ANNOTATION,
  CHAIN_ANNOTATION,
  Key,
  REKOR_BUNDLE_ANNOTATION,
  TIMESTAMP_ANNOTATION,
  dsseBundle,
  legacyLayer,
  putBundleReferrer,
  putImage,
  putLegacy,
  simpleSigning,
  statement,
} from '../artefacts.js';
import type { Case, Category, Ctx, Tl } from '../harness.js';
import { CertFactory, EXT } from '../x509.js';
import { BAD_SIGNATURE, allow, check, deny, refOf } from './util.js';

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

/** A schema-valid v0.3 tlog entry that proves nothing. */
function junkEntry(i: number): unknown {
  return {
    logIndex: String(i),
    logId: { keyId: b64(createHash('sha256').update(`log ${i}`).digest()) },
    kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
    integratedTime: '1700000000',
    inclusionPromise: { signedEntryTimestamp: b64(Buffer.alloc(70, i % 256)) },
    inclusionProof: {
      logIndex: String(i),
      rootHash: b64(Buffer.alloc(32, 1)),
      treeSize: String(i + 1),
      hashes: [b64(Buffer.alloc(32, 2))],
      checkpoint: { envelope: `rekor.example - 1\n${i + 1}\n${b64(Buffer.alloc(32, 1))}\n\n— rekor.example AAAA\n` },
    },
    canonicalizedBody: b64(JSON.stringify({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: {} })),
  };
}

function manyEntries(n: number): Case {
  return {
    name: `bundle with ${n} tlog entries`,
    attack: `a trusted bundle carrying ${n} schema-valid junk tlog entries (quadratic work before any crypto)`,
    expect: deny(...BAD_SIGNATURE, 'BUDGET_EXCEEDED', 'RESPONSE_TOO_LARGE'),
    run(ctx) {
      const repo = ctx.repo('tl-many');
      const m = putImage(ctx.reg, repo);
      const entries = Array.from({ length: n }, (_, i) => junkEntry(i));
      putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, statement(m.digest), { tlogEntries: entries }));
      return check(refOf(ctx, repo, m), { deadline: 3 });
    },
  };
}

/** cosign's `dev.sigstore.cosign/bundle` annotation: a SET by `rekor` over {body, integratedTime, logID, logIndex}. */
export function rekorAnnotation(rekor: Key, body: unknown, opts: { integratedTime?: number } = {}): string {
  const bodyB64 = b64(JSON.stringify(body));
  const logID = createHash('sha256')
    .update(rekor.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
  const payload = { body: bodyB64, integratedTime: opts.integratedTime ?? Math.floor(Date.now() / 1000) - 60, logID, logIndex: 4242 };
  // RFC 8785 for this shape: keys sorted, no spaces
  const canonical = `{"body":${JSON.stringify(payload.body)},"integratedTime":${payload.integratedTime},"logID":${JSON.stringify(payload.logID)},"logIndex":${payload.logIndex}}`;
  return JSON.stringify({ SignedEntryTimestamp: b64(rekor.sign(canonical)), Payload: payload });
}

function hashedRekord(payload: Buffer, signature: string, signer: Key | string): unknown {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
      signature: { content: signature, publicKey: { content: b64(typeof signer === 'string' ? signer : signer.pubPem) } },
    },
  };
}

const ISSUER = 'https://issuer.example';
const EMAIL = 'release@team-a.example.com';
/** The leaf's ten minutes: 2021-01-01 00:00 to 00:10 UTC. */
const T0 = Date.UTC(2021, 0, 1) / 1000;

/**
 * A legacy signature by a short-lived Fulcio-style certificate (2021-01-01 00:00-00:10), whose time
 * must be proven by a Rekor entry; `annotate` adds the proof (or a false one).
 */
function fulcioCase(
  name: string,
  attack: string,
  annotate: (t: Tl, payload: Buffer, sig: string, leafPem: string) => Record<string, string>,
  expectAllow = false,
): Case {
  return {
    name,
    attack,
    expect: expectAllow ? allow() : deny(...BAD_SIGNATURE),
    run(ctx) {
      const t: Tl = ctx.shared.tl!;
      const repo = ctx.repo('tl-fulcio/app');
      const m = putImage(ctx.reg, repo);
      const k = Key.ec();
      const leafExt = `${EXT.leaf(EMAIL)}\n1.3.6.1.4.1.57264.1.1 = DER:${Buffer.from(ISSUER).toString('hex')}\n1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${ISSUER}`;
      const leaf = t.fulcio.f.issue('fleaf', '/CN=sigstore', t.fulcio.sub, leafExt, {
        key: k,
        start: '20210101000000Z',
        end: '20210101001000Z',
      });
      const payload = simpleSigning(`${ctx.host}/${repo}`, m.digest);
      const layer = legacyLayer(k, payload);
      layer.annotations = {
        [CERT_ANNOTATION]: leaf.pem,
        [CHAIN_ANNOTATION]: t.fulcio.sub.pem,
        ...annotate(t, payload, layer.signature!, leaf.pem),
      };
      putLegacy(ctx.reg, repo, m.digest, [layer]);
      return check(refOf(ctx, repo, m), { policy: t.fulcio.policy });
    },
  };
}

/** A legacy signature by the trusted key with extra annotations made from the payload and signature. */
function legacyWith(
  name: string,
  attack: string,
  annotate: (ctx: Ctx, t: Tl, payload: Buffer, sig: string) => Record<string, string>,
  opts: { expectAllow?: boolean } = {},
): Case {
  return {
    name,
    attack,
    expect: opts.expectAllow ? allow() : deny(...BAD_SIGNATURE),
    run(ctx) {
      const t: Tl = ctx.shared.tl!;
      const repo = ctx.repo('tl-legacy');
      const m = putImage(ctx.reg, repo);
      const payload = simpleSigning(`${ctx.host}/${repo}`, m.digest);
      const layer = legacyLayer(ctx.trusted, payload);
      layer.annotations = annotate(ctx, t, payload, layer.signature!);
      putLegacy(ctx.reg, repo, m.digest, [layer]);
      return check(refOf(ctx, repo, m), { policy: t.policy });
    },
  };
}

export const tlog: Category = {
  category: 'transparency log and timestamps',
  async setup(ctx) {
    const rekor = Key.ec();
    const rekorPub = join(ctx.dir, 'rekor.pub');
    writeFileSync(rekorPub, rekor.pubPem);
    const policy = ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}":
    - type: sigstoreSigned
      keyPath: ${ctx.trustedPub}
      rekorPublicKeyPath: ${rekorPub}
      requireRekor: true
      signedIdentity: {type: matchRepository}
`);
    const f = new CertFactory(join(ctx.dir, 'fulcio'));
    const root = f.selfSigned('froot', '/O=adv/CN=adv fulcio root', EXT.root, Key.ec(), { start: '20200101000000Z' });
    const sub = f.issue('fsub', '/O=adv/CN=adv fulcio sub', root, EXT.sub);
    const fulcioPolicy = ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}/tl-fulcio":
    - type: sigstoreSigned
      fulcio: {caPath: ${root.certFile}, oidcIssuer: "${ISSUER}", subjectEmail: ${EMAIL}}
      rekorPublicKeyPath: ${rekorPub}
      signedIdentity: {type: matchRepository}
`);
    ctx.shared.tl = { rekor, policy, fulcio: { f, sub, policy: fulcioPolicy } } satisfies Tl;
  },
  cases: [
    manyEntries(1500),
    manyEntries(4000),
    legacyWith(
      'control: a Rekor entry for this signature, by the trusted Rekor key',
      'none',
      (_c, t, p, s) => ({ [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(p, s, _c.trusted)) }),
      { expectAllow: true },
    ),
    legacyWith('Rekor entry for another payload', 'a genuine SET whose body is the hash of another payload', (ctx, t, _p, s) => ({
      [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(Buffer.from('another payload'), s, ctx.trusted)),
    })),
    legacyWith("Rekor entry for another signer's key", "a genuine SET whose body names the attacker's key", (ctx, t, p, s) => ({
      [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(p, s, ctx.attacker)),
    })),
    legacyWith('Rekor entry signed by an untrusted log key', 'the SET is by a key the policy does not name', (ctx, _t, p, s) => ({
      [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(Key.ec(), hashedRekord(p, s, ctx.trusted)),
    })),
    legacyWith(
      'Rekor entry whose body was changed after the log signed it',
      "a genuine SET; Payload.body then swapped for this signature's body",
      (ctx, t, p, s) => {
        const genuine = JSON.parse(rekorAnnotation(t.rekor, hashedRekord(Buffer.from('what the log saw'), s, ctx.trusted)));
        genuine.Payload.body = b64(JSON.stringify(hashedRekord(p, s, ctx.trusted)));
        return { [REKOR_BUNDLE_ANNOTATION]: JSON.stringify(genuine) };
      },
    ),
    legacyWith('required Rekor entry missing', 'requireRekor: true, no bundle annotation', () => ({})),
    fulcioCase(
      'control: short-lived certificate, Rekor entry inside its validity',
      'none',
      (t, p, s, leaf) => ({
        [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(p, s, leaf), { integratedTime: T0 + 300 }),
      }),
      true,
    ),
    fulcioCase(
      'short-lived certificate, Rekor entry after it expired',
      'a genuine entry integrated now, years after the ten minutes',
      (t, p, s, leaf) => ({
        [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(p, s, leaf), { integratedTime: Math.floor(Date.now() / 1000) }),
      }),
    ),
    fulcioCase(
      'short-lived certificate, entry inside its validity from an untrusted log',
      'the time proof signed by another key',
      (_t, p, s, leaf) => ({
        [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(Key.ec(), hashedRekord(p, s, leaf), { integratedTime: T0 + 300 }),
      }),
    ),
    fulcioCase(
      'short-lived certificate, no time proof at all',
      'an expired certificate with neither Rekor entry nor timestamp',
      () => ({}),
    ),
    fulcioCase(
      'short-lived certificate, a garbage RFC 3161 timestamp as the only proof',
      'dev.sigstore.cosign/rfc3161timestamp that is not a token',
      () => ({
        [TIMESTAMP_ANNOTATION]: JSON.stringify({ SignedRFC3161Timestamp: b64('not a timestamp token') }),
      }),
    ),
    fulcioCase(
      'short-lived certificate, entry inside its validity for another certificate',
      "a genuine entry (right time) naming the attacker's key",
      (t, p, s) => ({
        [REKOR_BUNDLE_ANNOTATION]: rekorAnnotation(t.rekor, hashedRekord(p, s, Key.ec()), { integratedTime: T0 + 300 }),
      }),
    ),
    {
      name: 'required Rekor entry: a bundle with one junk tlog entry',
      attack: 'requireRekor: true; the trusted bundle carries a schema-valid entry that proves nothing',
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('tl-bundle');
        const m = putImage(ctx.reg, repo);
        putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, statement(m.digest), { tlogEntries: [junkEntry(1)] }));
        return check(refOf(ctx, repo, m), { policy: ctx.shared.tl!.policy });
      },
    },
  ],
};
