/**
 * Certificates under a `pki` requirement (our own root; intermediates may come
 * from the signature's chain annotation, as in containers/image): name
 * constraints, EKU nesting, basic constraints and path length, cycles,
 * self-signed leaves, a public key where a certificate belongs (as in cosign's
 * GHSA-fx35-mq7g-6g98), validity.
 */
import { join } from 'node:path';
import {
  CERT_ANNOTATION,
  CHAIN_ANNOTATION,
  Key,
  dsseBundle,
  legacyLayer,
  putBundleReferrer,
  putImage,
  putLegacy,
  simpleSigning,
  statement,
} from '../artefacts.js';
import type { Case, Category, Ctx, Pki } from '../harness.js';
import { CertFactory, type Cert, EXT } from '../x509.js';
import { BAD_SIGNATURE, allow, check, deny, refOf } from './util.js';

const EMAIL = 'release@team-a.example.com';

const pki = (ctx: Ctx): Pki => ctx.shared.pki!;

/** A legacy signature by `signer` carrying `leaf` and `chain` for a fresh image under <host>/pki/. */
function certCase(
  name: string,
  attack: string,
  make: (p: Pki, signer: Key) => { leaf: string; chain: Cert[] | string; signer?: Key; layers?: number },
  expectAllow = false,
  deadline = 5,
): Case {
  return {
    name,
    attack,
    expect: expectAllow ? allow() : deny(...BAD_SIGNATURE, 'IDENTITY_MISMATCH', 'BUDGET_EXCEEDED', 'DEADLINE_EXCEEDED'),
    run(ctx) {
      const p = pki(ctx);
      const repo = ctx.repo('pki/app');
      const m = putImage(ctx.reg, repo);
      const signer = Key.ec();
      const made = make(p, signer);
      const chain = typeof made.chain === 'string' ? made.chain : made.chain.map((c) => c.pem).join('');
      const layer = legacyLayer(made.signer ?? signer, simpleSigning(`${ctx.host}/${repo}`, m.digest), {
        [CERT_ANNOTATION]: made.leaf,
        ...(chain ? { [CHAIN_ANNOTATION]: chain } : {}),
      });
      putLegacy(
        ctx.reg,
        repo,
        m.digest,
        Array.from({ length: made.layers ?? 1 }, () => layer),
      );
      return check(refOf(ctx, repo, m), { policy: p.policy, deadline });
    },
  };
}

export const certificates: Category = {
  category: 'certificates',
  async setup(ctx) {
    const f = new CertFactory(join(ctx.dir, 'pki'));
    const root = f.selfSigned('root', '/O=adv/CN=adv root', EXT.root);
    const sub = f.issue('sub', '/O=adv/CN=adv sub', root, EXT.sub);
    const policy = ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}/pki":
    - type: sigstoreSigned
      pki: {caRootsPath: ${root.certFile}, subjectEmail: ${EMAIL}}
      signedIdentity: {type: matchRepository}
`);
    ctx.shared.pki = { f, root, sub, policy } satisfies Pki;
  },
  cases: [
    certCase(
      'control: leaf under a plain sub-CA',
      'none',
      (p, k) => ({ leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf(EMAIL), { key: k }).pem, chain: [p.sub] }),
      true,
    ),
    certCase(
      'sub-CA name constraints permit only team-b',
      'leaf for release@team-a under a sub-CA with permitted;email:team-b.example.com',
      (p, k) => {
        const nc = p.f.issue(
          'nc-b',
          '/O=adv/CN=team-b only',
          p.root,
          `${EXT.sub}\nnameConstraints = critical, permitted;email:team-b.example.com`,
        );
        return { leaf: p.f.issue('leaf', '/CN=release', nc, EXT.leaf(EMAIL), { key: k }).pem, chain: [nc] };
      },
    ),
    certCase('sub-CA name constraints exclude team-a', 'excluded;email:team-a.example.com', (p, k) => {
      const nc = p.f.issue(
        'nc-x',
        '/O=adv/CN=not team-a',
        p.root,
        `${EXT.sub}\nnameConstraints = critical, excluded;email:team-a.example.com`,
      );
      return { leaf: p.f.issue('leaf', '/CN=release', nc, EXT.leaf(EMAIL), { key: k }).pem, chain: [nc] };
    }),
    certCase(
      'sub-CA name constraints on the root permit only team-b',
      'the constraint sits one level higher (root -> constrained sub -> plain sub -> leaf)',
      (p, k) => {
        const nc = p.f.issue(
          'nc-b2',
          '/O=adv/CN=team-b only 2',
          p.root,
          `${EXT.sub}\nnameConstraints = critical, permitted;email:team-b.example.com`,
        );
        const plain = p.f.issue('plain', '/O=adv/CN=plain under nc', nc, EXT.sub);
        return { leaf: p.f.issue('leaf', '/CN=release', plain, EXT.leaf(EMAIL), { key: k }).pem, chain: [plain, nc] };
      },
    ),
    certCase('sub-CA restricted to serverAuth issues a code-signing leaf', 'EKU nesting: the sub-CA allows serverAuth only', (p, k) => {
      const tls = p.f.issue('tls-ca', '/O=adv/CN=tls only', p.root, `${EXT.sub}\nextendedKeyUsage = serverAuth`);
      return { leaf: p.f.issue('leaf', '/CN=release', tls, EXT.leaf(EMAIL), { key: k }).pem, chain: [tls] };
    }),
    certCase('leaf for serverAuth only', 'the leaf itself has no codeSigning EKU', (p, k) => ({
      leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf(EMAIL, 'serverAuth'), { key: k }).pem,
      chain: [p.sub],
    })),
    certCase('issuer is not a CA (basicConstraints CA:false)', 'a leaf issued by another leaf', (p, k) => {
      const notCa = p.f.issue(
        'not-ca',
        '/O=adv/CN=not a ca',
        p.root,
        'basicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature, keyCertSign\nsubjectKeyIdentifier = hash',
      );
      return { leaf: p.f.issue('leaf', '/CN=release', notCa, EXT.leaf(EMAIL), { key: k }).pem, chain: [notCa] };
    }),
    certCase('path length exceeded (pathlen:0 sub-CA issues a sub-CA)', 'root -> sub(pathlen 0) -> sub2 -> leaf', (p, k) => {
      const s0 = p.f.issue(
        'pl0',
        '/O=adv/CN=pathlen 0',
        p.root,
        `basicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, keyCertSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid`,
      );
      const s1 = p.f.issue('pl1', '/O=adv/CN=below pathlen 0', s0, EXT.sub);
      return { leaf: p.f.issue('leaf', '/CN=release', s1, EXT.leaf(EMAIL), { key: k }).pem, chain: [s1, s0] };
    }),
    certCase(
      'certificate cycle A <-> B in the chain',
      'A issued by B, B issued by A, leaf by A (recursion until the stack overflows)',
      (p, k) => cycle(p, k),
    ),
    certCase(
      '64 layers, each with the A <-> B cycle, deadline 2 s',
      '64 x the cycle: minutes of CPU before the fix',
      (p, k) => ({ ...cycle(p, k), layers: 64 }),
      false,
      2,
    ),
    certCase('self-signed leaf with the right email', 'no CA at all', (p, k) => ({
      leaf: p.f.selfSigned('self', '/CN=release', EXT.leaf(EMAIL).replace('authorityKeyIdentifier = keyid\n', ''), k).pem,
      chain: '',
    })),
    certCase("chain brings a root with the trusted root's name", 'a self-signed "adv root" (other key) issuing a sub-CA', (p, k) => {
      const fake = p.f.selfSigned('fake-root', '/O=adv/CN=adv root', EXT.root);
      const fsub = p.f.issue('fake-sub', '/O=adv/CN=adv sub', fake, EXT.sub);
      return { leaf: p.f.issue('leaf', '/CN=release', fsub, EXT.leaf(EMAIL), { key: k }).pem, chain: [fsub, fake] };
    }),
    certCase(
      'a public key where the certificate belongs (GHSA-fx35-mq7g-6g98)',
      "the certificate annotation holds the signer's PUBLIC KEY PEM",
      (_p, k) => ({ leaf: k.pubPem, chain: '' }),
    ),
    certCase('expired leaf (pki checks the current time)', 'leaf valid 2020-2021', (p, k) => ({
      leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf(EMAIL), { key: k, start: '20200101000000Z', end: '20210101000000Z' }).pem,
      chain: [p.sub],
    })),
    certCase('leaf not yet valid', 'leaf valid from 2035', (p, k) => ({
      leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf(EMAIL), { key: k, start: '20350101000000Z', end: '20390101000000Z' }).pem,
      chain: [p.sub],
    })),
    certCase(
      'good certificate, signature by another key',
      'a genuine leaf for release@team-a; the payload signed by the attacker',
      (p, k) => ({
        leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf(EMAIL), { key: k }).pem,
        chain: [p.sub],
        signer: Key.ec(),
      }),
    ),
    certCase('leaf for another email under the right CA', 'release@team-b.example.com signs a team-a repository', (p, k) => ({
      leaf: p.f.issue('leaf', '/CN=release', p.sub, EXT.leaf('release@team-b.example.com'), { key: k }).pem,
      chain: [p.sub],
    })),
    {
      name: 'bundle: public key DER where the certificate belongs',
      attack: 'x509CertificateChain whose "certificate" is the signer\'s SubjectPublicKeyInfo',
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const p = pki(ctx);
        const repo = ctx.repo('pki/bundle');
        const m = putImage(ctx.reg, repo);
        const k = Key.ec();
        const spki = k.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
        const bundle = dsseBundle(k, statement(m.digest), {
          verificationMaterial: {
            x509CertificateChain: { certificates: [{ rawBytes: spki }] },
            tlogEntries: [],
            timestampVerificationData: { rfc3161Timestamps: [] },
          },
        });
        putBundleReferrer(ctx.reg, repo, m.desc, bundle);
        return check(refOf(ctx, repo, m), { policy: p.policy });
      },
    },
  ],
};

function cycle(p: Pki, k: Key): { leaf: string; chain: Cert[] } {
  const aKey = Key.ec();
  const bKey = Key.ec();
  const aTemp = p.f.selfSigned('a-temp', '/O=adv/CN=cycle A', EXT.root, aKey);
  const bTemp = p.f.selfSigned('b-temp', '/O=adv/CN=cycle B', EXT.root, bKey);
  const a = p.f.issue('cycle-a', '/O=adv/CN=cycle A', bTemp, EXT.sub.replace('authorityKeyIdentifier = keyid', ''), { key: aKey });
  const b = p.f.issue('cycle-b', '/O=adv/CN=cycle B', aTemp, EXT.sub.replace('authorityKeyIdentifier = keyid', ''), { key: bKey });
  const leaf = p.f.issue('leaf', '/CN=release', a, EXT.leaf(EMAIL).replace('authorityKeyIdentifier = keyid\n', ''), { key: k });
  return { leaf: leaf.pem, chain: [a, b] };
}
