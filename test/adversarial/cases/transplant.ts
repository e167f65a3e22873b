/**
 * Transplant and replay: genuine signatures by the trusted key, moved to where
 * they do not belong (another digest, another repository, another registry).
 */
import { dsseBundle, legacyLayer, putBundleReferrer, putImage, putLegacy, simpleSigning, statement } from '../artefacts.js';
import type { Category, Ctx } from '../harness.js';
import { placeBundles, placeImage, placeLegacy } from '../real-cosign.js';
import { BAD_SIGNATURE, check, deny, refOf, signLegacy } from './util.js';

export const transplant: Category = {
  category: 'transplant and replay',
  cases: [
    {
      name: "A's .sig served as B's",
      attack: "the trusted signature of image A stored under B's sha256-<B>.sig tag",
      expect: deny('DIGEST_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('tp-swap');
        const a = putImage(ctx.reg, repo);
        const b = putImage(ctx.reg, repo);
        putLegacy(ctx.reg, repo, b.digest, [legacyLayer(ctx.trusted, simpleSigning(`${ctx.host}/${repo}`, a.digest))]);
        return check(refOf(ctx, repo, b));
      },
    },
    {
      name: 'real cosign 2 signature replayed on another image',
      attack: "cosign's own .sig for image A copied as the .sig of image B",
      expect: deny('DIGEST_MISMATCH', 'IDENTITY_MISMATCH'),
      run(ctx) {
        const real = ctx.shared.real!;
        const repo = ctx.repo('tp-real2');
        placeImage(ctx.reg, repo, real);
        const b = putImage(ctx.reg, repo);
        placeLegacy(ctx.reg, repo, real, b.digest);
        return check(refOf(ctx, repo, b));
      },
    },
    {
      name: 'real cosign 3 bundle listed as a referrer of another image',
      attack: "cosign's own bundle for A listed by the referrers API of B",
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const real = ctx.shared.real!;
        const repo = ctx.repo('tp-real3');
        placeImage(ctx.reg, repo, real);
        const b = putImage(ctx.reg, repo);
        placeBundles(ctx.reg, repo, real, b.digest);
        return check(refOf(ctx, repo, b));
      },
    },
    {
      name: 'hand-made bundle for A listed under B (manifest subject says B)',
      attack: 'a referrer manifest whose subject is B, carrying a bundle whose statement names A',
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('tp-bundle');
        const a = putImage(ctx.reg, repo);
        const b = putImage(ctx.reg, repo);
        putBundleReferrer(ctx.reg, repo, b.desc, dsseBundle(ctx.trusted, statement(a.digest)));
        return check(refOf(ctx, repo, b));
      },
    },
    {
      name: "A's referrer (subject A) listed under B",
      attack: 'the referrers API of B lists a manifest whose subject is A',
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('tp-subject');
        const a = putImage(ctx.reg, repo);
        const b = putImage(ctx.reg, repo);
        putBundleReferrer(ctx.reg, repo, a.desc, dsseBundle(ctx.trusted, statement(a.digest)), { listAs: b.digest });
        return check(refOf(ctx, repo, b));
      },
    },
    {
      name: 'signature and image copied from another repository',
      attack: 'image and .sig of <host>/dev copied to <host>/prod (same digest): docker-reference names dev',
      expect: deny('IDENTITY_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('tp-prod');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.trusted, `${ctx.host}/tp-dev`);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'signature naming a repository with the same prefix',
      attack: 'docker-reference <host>/app-evil accepted for <host>/app?',
      expect: deny('IDENTITY_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('tp-app');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.trusted, `${ctx.host}/${repo}-evil`);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'signature naming another registry host',
      attack: 'docker-reference evil.example/<repo> (same path, other host)',
      expect: deny('IDENTITY_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('tp-host');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.trusted, `evil.example/${repo}`);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'signature naming the registry without a port',
      attack: 'docker-reference 127.0.0.1/<repo> for an image on 127.0.0.1:PORT',
      expect: deny('IDENTITY_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('tp-port');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.trusted, `127.0.0.1/${repo}`);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'bundle copied from dev under an exactRepository requirement',
      attack: 'a bundle names no repository: copied with its image from dev to prod where policy says exactRepository dev',
      expect: deny('NO_SIGNATURE', 'IDENTITY_MISMATCH'),
      run: (ctx) => bundleUnderIdentity(ctx, 'tp-promote', (host) => `{type: exactRepository, dockerRepository: "${host}/release"}`),
    },
    {
      name: 'bundle under a remapIdentity requirement',
      attack: 'a bundle (no repository inside) where remapIdentity binds the signed repository',
      expect: deny('NO_SIGNATURE', 'IDENTITY_MISMATCH'),
      run: (ctx) =>
        bundleUnderIdentity(
          ctx,
          'tp-remap',
          (host, repo) => `{type: remapIdentity, prefix: "${host}/${repo}", signedPrefix: "${host}/staging"}`,
        ),
    },
    {
      name: 'bundle under an exactReference requirement',
      attack: 'a bundle (no reference inside) where exactReference pins the signed reference',
      expect: deny('NO_SIGNATURE', 'IDENTITY_MISMATCH'),
      run: (ctx) => bundleUnderIdentity(ctx, 'tp-exactref', (host) => `{type: exactReference, dockerReference: "${host}/release:v1"}`),
    },
    {
      name: 'control: bundle under exactRepository with signatureFormats [bundle] spelt out',
      attack: 'none: the operator accepts bundles explicitly',
      expect: { decision: 'allow', codes: ['ALLOWED'] },
      run: (ctx) =>
        bundleUnderIdentity(ctx, 'tp-explicit', (host) => `{type: exactRepository, dockerRepository: "${host}/release"}`, '[bundle]'),
    },
    {
      name: 'a signature left behind when the tag moves',
      attack: 'tag v1 moved from a signed image to an unsigned one; the old .sig is still there',
      expect: deny('NO_SIGNATURE'),
      run(ctx) {
        const repo = ctx.repo('tp-tag');
        const old = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, old);
        putImage(ctx.reg, repo, { tags: ['v1'] });
        return check(`${ctx.host}/${repo}:v1`);
      },
    },
  ],
};

/** A bundle copied along with its image, judged under a policy whose signedIdentity names a repository. */
function bundleUnderIdentity(ctx: Ctx, name: string, signedIdentity: (host: string, repo: string) => string, signatureFormats?: string) {
  const repo = ctx.repo(name);
  const m = putImage(ctx.reg, repo);
  putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.trusted, statement(m.digest)));
  const policy = ctx.writePolicy(`version: 1
default: reject
scopes:
  "${ctx.host}/${repo}":
    - type: sigstoreSigned
      keyPath: ${ctx.trustedPub}
      signedIdentity: ${signedIdentity(ctx.host, repo)}
${signatureFormats ? `      signatureFormats: ${signatureFormats}\n` : ''}`);
  return check(refOf(ctx, repo, m), { policy });
}
