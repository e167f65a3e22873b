/**
 * Controls: the honest versions of the artefacts the attacks bend. Each must
 * ALLOW, or the attack cases prove nothing (a refusal for the wrong reason).
 */
import {
  IN_TOTO,
  dsseBundle,
  highS,
  pae,
  putBundleReferrer,
  putImage,
  putIndex,
  putLegacy,
  simpleSigning,
  statement,
} from '../artefacts.js';
import type { Category } from '../harness.js';
import { placeBundles, placeImage, placeLegacy } from '../real-cosign.js';
import { allow, check, refOf, signBundle, signLegacy } from './util.js';

export const controls: Category = {
  category: 'controls',
  cases: [
    {
      name: 'hand-made legacy signature by the trusted key',
      attack: 'none: the format the attacks below bend',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-legacy');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'hand-made cosign 3 bundle by the trusted key',
      attack: 'none',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-bundle');
        const m = putImage(ctx.reg, repo);
        signBundle(ctx, repo, m);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'real cosign 2 signature copied into the lying registry',
      attack: 'none (exactRepository names the repository cosign signed)',
      expect: allow(),
      run(ctx) {
        const real = ctx.shared.real!;
        const repo = ctx.repo('ctl-real2');
        const m = placeImage(ctx.reg, repo, real);
        placeLegacy(ctx.reg, repo, real, m.digest);
        const policy = ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}/${repo}":
    - type: sigstoreSigned
      keyPath: ${ctx.cosignPub}
      signedIdentity: {type: exactRepository, dockerRepository: "${real.host}/real"}
      signatureFormats: [legacy]
`);
        return check(refOf(ctx, repo, m), { policy });
      },
    },
    {
      name: 'real cosign 3 bundle copied into the lying registry',
      attack: 'none',
      expect: allow(),
      run(ctx) {
        const real = ctx.shared.real!;
        const repo = ctx.repo('ctl-real3');
        const m = placeImage(ctx.reg, repo, real);
        placeBundles(ctx.reg, repo, real, m.digest);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'index whose amd64 manifest alone is signed',
      attack: 'none: a signature on the platform manifest counts for its index',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-index');
        const amd = putImage(ctx.reg, repo);
        const arm = putImage(ctx.reg, repo, { architecture: 'arm64' });
        signLegacy(ctx, repo, amd);
        const idx = putIndex(ctx.reg, repo, [
          { m: arm, platform: { os: 'linux', architecture: 'arm64' } },
          { m: amd, platform: { os: 'linux', architecture: 'amd64' } },
        ]);
        return check(refOf(ctx, repo, idx));
      },
    },
    {
      name: 'legacy signature in its high-S form',
      attack: 'none: ECDSA s replaced by n - s (Go, hence cosign, accepts it; a low-S-only verifier would refuse)',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-highs');
        const m = putImage(ctx.reg, repo);
        const payload = simpleSigning(`${ctx.host}/${repo}`, m.digest);
        putLegacy(ctx.reg, repo, m.digest, [{ payload, signature: highS(ctx.trusted.sign(payload)).toString('base64') }]);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'bundle signature in its high-S form',
      attack: 'none: the DSSE signature with s replaced by n - s',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-highs-b');
        const m = putImage(ctx.reg, repo);
        const st = statement(m.digest);
        const b = JSON.parse(dsseBundle(ctx.trusted, st).toString());
        b.dsseEnvelope.signatures[0].sig = highS(ctx.trusted.sign(pae(IN_TOTO, st))).toString('base64');
        putBundleReferrer(ctx.reg, repo, m.desc, Buffer.from(JSON.stringify(b)));
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'tag resolved at the registry, signed',
      attack: 'none',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ctl-tag');
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        signLegacy(ctx, repo, m);
        return check(`${ctx.host}/${repo}:v1`);
      },
    },
  ],
};
