/**
 * Index and platform confusion: sigguard must judge the manifest containerd
 * would run (containerd/platforms Normalize, its matcher and ordering; entries
 * without a platform ranked last). Each index puts an unsigned manifest E where
 * containerd picks it and a signed one M where a naive matcher looks. Config
 * platform: linux/amd64 unless said otherwise.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { crioState } from '../../support/fake-crio.js';
import { putImage, putIndex } from '../artefacts.js';
import { type Case, type Category, type Ctx, verdictField } from '../harness.js';
import { MT } from '../lying-registry.js';
import { allow, check, crioConfig, deny, fakeCrio, refOf, signLegacy } from './util.js';

/** [E unsigned with `eP`, M signed with `mP`] (or M first); checks the index digest. */
function confusion(
  name: string,
  eP: Record<string, unknown> | undefined,
  mP: Record<string, unknown> | undefined,
  opts: { mFirst?: boolean; platform?: string; eArch?: string; expectAllow?: boolean; mediaType?: string } = {},
): Case {
  return {
    name,
    attack: `index [${opts.mFirst ? 'M signed, E unsigned' : 'E unsigned, M signed'}] E=${JSON.stringify(eP ?? null)} M=${JSON.stringify(mP ?? null)}`,
    expect: opts.expectAllow ? allow() : deny('NO_SIGNATURE', 'NODE_IMAGE_MISMATCH'),
    run(ctx: Ctx) {
      const repo = ctx.repo('plat');
      const arch = (mP?.architecture as string | undefined) ?? 'amd64';
      const e = putImage(ctx.reg, repo, { architecture: opts.eArch ?? arch });
      const m = putImage(ctx.reg, repo, { architecture: arch });
      signLegacy(ctx, repo, m);
      const entries = [
        { m: e, ...(eP ? { platform: eP } : {}) },
        { m, ...(mP ? { platform: mP } : {}) },
      ];
      const idx = putIndex(ctx.reg, repo, opts.mFirst ? entries.reverse() : entries, opts.mediaType ? { mediaType: opts.mediaType } : {});
      ctx.shared.lastPlatform = { e: e.digest, m: m.digest };
      return check(refOf(ctx, repo, idx), { config: opts.platform ? platformConfig(ctx, opts.platform) : ctx.config });
    },
    // the manifest judged must be the one containerd runs
    verify(out, ctx) {
      const { e, m } = ctx.shared.lastPlatform!;
      const want = opts.expectAllow ? m : e;
      const got = verdictField(out.verdict, 'platformDigest');
      return got !== undefined && got !== want
        ? [`judged ${got === m ? 'M' : got === e ? 'E' : got}, containerd runs ${opts.expectAllow ? 'M' : 'E'}`]
        : [];
    },
  };
}

/** The hook on CRI-O (a fake CRI-O answering ImageStatus): the verified manifest must have the config the node runs. */
function binding(
  name: string,
  attack: string,
  make: (ctx: Ctx, repo: string) => { image: string; runs: string; repoDigest: string },
  expectAllow = false,
): Case {
  return {
    name,
    attack,
    expect: expectAllow ? allow() : deny('NODE_IMAGE_MISMATCH', 'NO_SIGNATURE'),
    async run(ctx) {
      const crio = await fakeCrio(ctx);
      const repo = ctx.repo('bind');
      const { image, runs, repoDigest } = make(ctx, repo);
      const id = runs.slice('sha256:'.length);
      crio.images.set(id, { id, repoDigests: [repoDigest] });
      return { kind: 'hook', state: crioState(`bind-${repo}`, image, id), config: await crioConfig(ctx) };
    },
  };
}

function platformConfig(ctx: Ctx, platform: string): string {
  const f = ctx.writeConfig();
  const [os, architecture, variant] = platform.split('/');
  // writeConfig's first line is the platform: replace it
  const text = readFileSync(f, 'utf8').replace(
    /^platform: .*$/m,
    `platform: {os: ${os}, architecture: ${architecture}${variant ? `, variant: ${variant}` : ''}}`,
  );
  writeFileSync(f, text);
  return f;
}

const L = (architecture: string, extra: Record<string, unknown> = {}) => ({ os: 'linux', architecture, ...extra });

const AMD = { os: 'linux', architecture: 'amd64' };

export const platform: Category = {
  category: 'index/platform confusion',
  cases: [
    confusion('x86_64 before amd64 (the reproduced bypass)', L('x86_64'), L('amd64')),
    confusion('x86-64 spelling before amd64', L('x86-64'), L('amd64')),
    confusion('upper-case AMD64 before amd64', { os: 'Linux', architecture: 'AMD64' }, L('amd64')),
    confusion('amd64 variant v1 (normalised away) before plain amd64', L('amd64', { variant: 'v1' }), L('amd64')),
    confusion('duplicate amd64 entries: index order decides', L('amd64'), L('amd64')),
    confusion('docker manifest list: x86_64 before amd64', L('x86_64'), L('amd64'), { mediaType: MT.DOCKER_LIST }),
    confusion('arm64 node: aarch64 before arm64/v8', L('aarch64'), L('arm64', { variant: 'v8' }), { platform: 'linux/arm64/v8' }),
    confusion('arm64 node: arm64 without variant before arm64/v8', L('arm64'), L('arm64', { variant: 'v8' }), {
      platform: 'linux/arm64/v8',
    }),
    confusion('arm/v7 node: armhf before arm/v7', L('armhf'), L('arm', { variant: 'v7' }), { platform: 'linux/arm/v7' }),
    confusion('no-platform entry (config amd64) when no entry names amd64', undefined, L('arm64'), { eArch: 'amd64' }),
    confusion('signed amd64/v3 first on a plain amd64 node: E runs', L('amd64'), L('amd64', { variant: 'v3' }), { mFirst: true }),
    confusion('unsigned amd64/v3 first on a plain amd64 node: M runs', L('amd64', { variant: 'v3' }), L('amd64'), { expectAllow: true }),
    confusion('signed amd64 first, x86_64 after: M runs', L('x86_64'), L('amd64'), { mFirst: true, expectAllow: true }),
    confusion('no-platform entry ranks after a named amd64: M runs', undefined, L('amd64'), { expectAllow: true }),
    {
      name: 'nested index for amd64 before the signed amd64 manifest',
      attack: 'index [N: an index {linux,amd64} holding unsigned E, M signed {linux,amd64}]: containerd walks N first and runs E',
      expect: deny('NO_SIGNATURE', 'NODE_IMAGE_MISMATCH', 'REGISTRY_BAD_RESPONSE'),
      run(ctx) {
        const repo = ctx.repo('plat-nested');
        const e = putImage(ctx.reg, repo);
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m);
        const nested = putIndex(ctx.reg, repo, [{ m: e, platform: AMD }]);
        const idx = putIndex(ctx.reg, repo, [
          { m: nested, platform: AMD },
          { m, platform: AMD },
        ]);
        return check(refOf(ctx, repo, idx));
      },
    },
    binding(
      'hook on CRI-O: the node runs E from an index whose M is signed',
      "index [E x86_64, M amd64 signed]; CRI-O reports E's config as the image id",
      (ctx, repo) => {
        const e = putImage(ctx.reg, repo);
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m);
        const idx = putIndex(
          ctx.reg,
          repo,
          [
            { m: e, platform: L('x86_64') },
            { m, platform: AMD },
          ],
          { tags: ['v1'] },
        );
        return { image: `${ctx.host}/${repo}:v1`, runs: e.config, repoDigest: refOf(ctx, repo, idx) };
      },
    ),
    binding(
      'hook on CRI-O: a signed index, the node runs a config it does not list',
      'the index is signed; the image id is of other content',
      (ctx, repo) => {
        const m = putImage(ctx.reg, repo);
        const other = putImage(ctx.reg, repo);
        const idx = putIndex(ctx.reg, repo, [{ m, platform: AMD }], { tags: ['v1'] });
        signLegacy(ctx, repo, idx);
        return { image: `${ctx.host}/${repo}:v1`, runs: other.config, repoDigest: refOf(ctx, repo, idx) };
      },
    ),
    binding(
      'hook on CRI-O: a signed manifest, the node runs another config',
      'the repo digest names the signed manifest; the image id is of other content',
      (ctx, repo) => {
        const m = putImage(ctx.reg, repo, { tags: ['v1'] });
        const other = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m);
        return { image: `${ctx.host}/${repo}:v1`, runs: other.config, repoDigest: refOf(ctx, repo, m) };
      },
    ),
    binding(
      'control: hook on CRI-O, the node runs the signed M of an index',
      'none',
      (ctx, repo) => {
        const e = putImage(ctx.reg, repo);
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m);
        const idx = putIndex(
          ctx.reg,
          repo,
          [
            { m: e, platform: L('x86_64') },
            { m, platform: AMD },
          ],
          { tags: ['v1'] },
        );
        return { image: `${ctx.host}/${repo}:v1`, runs: m.config, repoDigest: refOf(ctx, repo, idx) };
      },
      true,
    ),
  ],
};
