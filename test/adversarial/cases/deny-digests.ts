/**
 * denyDigests: a revocation list applied to every digest involved (the node's,
 * the platform manifest's, the index's) whatever the name, before the verdict
 * cache and stale-if-error.
 */
import { readFileSync } from 'node:fs';
import { putImage, putIndex } from '../artefacts.js';
import type { Case, Category, Ctx } from '../harness.js';
import { criAnnotations, keyPolicy, ociState } from '../harness.js';
import { misbehave } from '../lying-registry.js';
import { crioState } from '../../support/fake-crio.js';
import { check, crioConfig, deny, fakeCrio, refOf, signLegacy, signedImage } from './util.js';

const DENIED = ['DIGEST_DENIED'];

function denyPolicy(ctx: Ctx, digests: string[], moreScopes = ''): string {
  return ctx.writePolicy(keyPolicy(ctx, `denyDigests: [${digests.map((d) => `"${d}"`).join(', ')}]\n`, moreScopes));
}

export const denyDigests: Category = {
  category: 'denyDigests',
  cases: [
    {
      name: 'a signed image whose digest is revoked',
      attack: 'a validly signed image, revoked by digest',
      expect: deny(...DENIED),
      run(ctx) {
        const { m, ref } = signedImage(ctx, 'dd-signed');
        return check(ref, { policy: denyPolicy(ctx, [m.digest]) });
      },
    },
    {
      name: 'a tag resolving to a revoked digest',
      attack: 'the pod names a tag; the repository scope would allow',
      expect: deny(...DENIED),
      run(ctx) {
        const repo = ctx.repo('dd-tag');
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        signLegacy(ctx, repo, m);
        return check(`${ctx.host}/${repo}:v1`, { policy: denyPolicy(ctx, [m.digest]) });
      },
    },
    {
      name: 'a signed index whose platform manifest is revoked',
      attack: 'the index is signed; its amd64 manifest is on the list',
      expect: deny(...DENIED),
      run(ctx) {
        const repo = ctx.repo('dd-platform');
        const amd = putImage(ctx.reg, repo);
        const idx = putIndex(ctx.reg, repo, [{ m: amd, platform: { os: 'linux', architecture: 'amd64' } }]);
        signLegacy(ctx, repo, idx);
        return check(refOf(ctx, repo, idx), { policy: denyPolicy(ctx, [amd.digest]) });
      },
    },
    {
      name: 'a revoked index whose platform manifest is signed',
      attack: 'the index digest is on the list; the amd64 manifest carries a good signature',
      expect: deny(...DENIED),
      run(ctx) {
        const repo = ctx.repo('dd-index');
        const amd = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, amd);
        const idx = putIndex(ctx.reg, repo, [{ m: amd, platform: { os: 'linux', architecture: 'amd64' } }]);
        return check(refOf(ctx, repo, idx), { policy: denyPolicy(ctx, [idx.digest]) });
      },
    },
    {
      name: 'a revoked digest under an insecureAcceptAnything scope',
      attack: 'the scope accepts anything; the digest is revoked',
      expect: deny(...DENIED),
      run(ctx) {
        const repo = ctx.repo('dd-accept');
        const m = putImage(ctx.reg, repo);
        return check(refOf(ctx, repo, m), {
          policy: denyPolicy(ctx, [m.digest], `  "${ctx.host}/${repo}":\n    - type: insecureAcceptAnything\n`),
        });
      },
    },
    {
      name: 'a tag under an insecureAcceptAnything scope resolving to a revoked digest',
      attack: 'the accepting scope needs no registry; the tag points at revoked content',
      expect: deny(...DENIED),
      run(ctx) {
        const repo = ctx.repo('dd-accept-tag');
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        return check(`${ctx.host}/${repo}:v1`, {
          policy: denyPolicy(ctx, [m.digest], `  "${ctx.host}/${repo}":\n    - type: insecureAcceptAnything\n`),
        });
      },
    },
    {
      name: 'hook on CRI-O: a tag under an accepting scope, the node runs revoked content',
      attack: 'the node reports the revoked digest as the repo digest of the image it runs',
      expect: deny(...DENIED),
      async run(ctx) {
        const repo = ctx.repo('dd-crio');
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        const id = m.config.slice('sha256:'.length);
        (await fakeCrio(ctx)).images.set(id, { id, repoDigests: [refOf(ctx, repo, m)] });
        const policy = denyPolicy(ctx, [m.digest], `  "${ctx.host}/${repo}":\n    - type: insecureAcceptAnything\n`);
        return { kind: 'hook', state: crioState(`dd-${repo}`, `${ctx.host}/${repo}:v1`, id), config: await crioConfig(ctx), policy };
      },
    },
    {
      name: 'revocation written in upper-case hex',
      attack: 'denyDigests: ["sha256:<HEX>"]: must not silently miss the lower-case digest',
      expect: deny(...DENIED, 'POLICY_INVALID'),
      run(ctx) {
        const { m, ref } = signedImage(ctx, 'dd-upper');
        return check(ref, { policy: denyPolicy(ctx, [`sha256:${m.digest.slice(7).toUpperCase()}`]) });
      },
    },
    {
      name: 'a revoked digest under another repository name',
      attack: 'the same content pushed to a repository with its own (accepting) scope',
      expect: deny(...DENIED),
      run(ctx) {
        const { m } = signedImage(ctx, 'dd-orig');
        const repo = ctx.repo('dd-elsewhere');
        ctx.reg.putManifest(repo, m.bytes);
        signLegacy(ctx, repo, m);
        return check(refOf(ctx, repo, m), { policy: denyPolicy(ctx, [m.digest]) });
      },
    },
    {
      name: 'hook: a cached allow does not outlive a revocation (registry down)',
      attack: 'allowed and cached; then revoked while the registry answers 500 (stale-if-error)',
      expect: deny(...DENIED),
      async run(ctx) {
        const { repo, ref, m } = signedImage(ctx, 'dd-cache');
        const config = ctx.writeConfig();
        const { execute } = await import('../harness.js');
        const first = await execute({ kind: 'hook', state: ociState(criAnnotations(ref)), config }, ctx);
        if (first.decision !== 'allow') throw new Error(`set-up: the first start was not allowed: ${first.code} ${first.reason}`);
        ctx.reg.on(`/v2/${repo}/`, misbehave.answer(500, '{"errors":[{"code":"UNAVAILABLE"}]}', { 'content-type': 'application/json' }));
        return { kind: 'hook', state: ociState(criAnnotations(ref)), config, policy: denyPolicy(ctx, [m.digest]) };
      },
    },
    {
      name: 'hook: revoked while a fresh allow is cached',
      attack: 'allowed and cached under the same policy text plus a denyDigests entry',
      expect: deny(...DENIED),
      async run(ctx) {
        const { ref, m } = signedImage(ctx, 'dd-cache2');
        const config = ctx.writeConfig();
        const { execute } = await import('../harness.js');
        const policy = ctx.writePolicy(keyPolicy(ctx));
        await execute({ kind: 'hook', state: ociState(criAnnotations(ref)), config, policy }, ctx);
        // same file, now with the revocation (a policy edit on the node)
        const text = readFileSync(policy, 'utf8').replace('default: reject\n', `default: reject\ndenyDigests: ["${m.digest}"]\n`);
        (await import('node:fs')).writeFileSync(policy, text);
        return { kind: 'hook', state: ociState(criAnnotations(ref)), config, policy };
      },
    },
  ] satisfies Case[],
};
