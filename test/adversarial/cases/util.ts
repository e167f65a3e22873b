/** Small builders shared by the case tables. */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Key, dsseBundle, legacyLayer, putBundleReferrer, putImage, putLegacy, simpleSigning, statement } from '../artefacts.js';
import type { Ctx, Invocation } from '../harness.js';
import type { Stored } from '../lying-registry.js';
import { FakeCrio } from '../../support/fake-crio.js';

/** The suite's fake CRI-O (ImageStatus answers set per case), started on first use. */
export async function fakeCrio(ctx: Ctx): Promise<FakeCrio> {
  if (!ctx.shared.crio) {
    const crio = await FakeCrio.start();
    ctx.shared.crio = crio;
    ctx.servers.push({ stop: () => crio.close() });
  }
  return ctx.shared.crio;
}

/** A config whose CRI-O socket is the fake one. */
export async function crioConfig(ctx: Ctx): Promise<string> {
  const crio = await fakeCrio(ctx);
  const config = ctx.writeConfig();
  writeFileSync(config, readFileSync(config, 'utf8').replace(/crioSocket: [^}]*}/, `crioSocket: ${crio.socket}}`));
  return config;
}

export const check = (image: string, more: Partial<Extract<Invocation, { kind: 'check' }>> = {}): Invocation => ({
  kind: 'check',
  image,
  ...more,
});
export const deny = (...codes: string[]) => ({ decision: 'deny' as const, codes });
export const allow = (...codes: string[]) => ({ decision: 'allow' as const, codes: codes.length ? codes : ['ALLOWED'] });

/** Codes that mean "a signature is there but is not good enough" — any is a correct refusal of a bad signature. */
export const BAD_SIGNATURE = ['UNTRUSTED_SIGNER', 'MALFORMED_SIGNATURE', 'DIGEST_MISMATCH', 'NO_SIGNATURE'];

/** A legacy signature by `key` for `m` in `repo`, naming `repo` on the lying registry. */
export function signLegacy(ctx: Ctx, repo: string, m: Stored, key: Key = ctx.trusted, identity = `${ctx.host}/${repo}`): Stored {
  return putLegacy(ctx.reg, repo, m.digest, [legacyLayer(key, simpleSigning(identity, m.digest))]);
}

/** A cosign 3 bundle by `key` for `m`, as a referrer in `repo`. */
export function signBundle(ctx: Ctx, repo: string, m: Stored, key: Key = ctx.trusted): Stored {
  return putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(key, statement(m.digest)));
}

/** An image in a fresh repository, signed (legacy) by the trusted key. */
export function signedImage(ctx: Ctx, name: string): { repo: string; m: Stored & { config: string }; ref: string } {
  const repo = ctx.repo(name);
  const m = putImage(ctx.reg, repo);
  signLegacy(ctx, repo, m);
  return { repo, m, ref: `${ctx.host}/${repo}@${m.digest}` };
}

export const refOf = (ctx: Ctx, repo: string, m: Stored): string => `${ctx.host}/${repo}@${m.digest}`;
