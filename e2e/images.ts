/**
 * The images the e2e cases run, pushed and signed the same way for the local
 * node and for Kind. Pods name them `<nameHost>/e2e/<repo>:<tag>`; every image
 * is busybox + /marker and prints its marker (`cat /marker`).
 *
 * Signatures are made for the name pods use (cosign signs a repository, and the
 * policy says `signedIdentity: matchRepository`): on Kind `localhost:5001` is
 * the registry itself; on the local node the name is an alias that containerd
 * reaches through certs.d, so the local signer opens a forwarder for it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cosign } from '../test/support/cosign.js';
import { type Pusher, copyManifest, sha256 } from '../test/support/push.js';

export const REPO = {
  signed: 'e2e/signed',
  bundle: 'e2e/signed-bundle',
  unsigned: 'e2e/unsigned',
  otherKey: 'e2e/otherkey',
  copied: 'e2e/copied',
  retagKept: 'e2e/retag-kept',
  retagCaught: 'e2e/retag-caught',
  down: 'e2e/down',
  slow: 'e2e/slow',
  multiarch: 'e2e/multiarch',
  /** Under a scope that also requires SLSA provenance from the acme builder (sigstoreAttested): tags v1, evil, none. */
  attested: 'e2e/attested',
} as const;

/** `trusted-provenance(-evil)`: signed (cosign 2) and attested with SLSA provenance (cosign 2 attest) from acme's (evil's) builder. */
export type SignWith = 'trusted' | 'trusted-bundle' | 'other' | 'trusted-provenance' | 'trusted-provenance-evil';

/** The scope's attestation requirement, for the node policies (local and Kind's install/kind/policy.yaml say the same). */
export const PROVENANCE_TYPE = 'https://slsa.dev/provenance/v1';
export const PROVENANCE_CONDITION = 'predicate.runDetails.builder.id.startsWith("https://github.com/acme/")';

/** Signs (and attests) one image as `w` says, with cosign and the trusted and other keys: what both runners' signers do. */
export async function signImage(cosign: Cosign, keys: { trusted: string; other: string }, image: string, w: SignWith): Promise<void> {
  if (w === 'trusted-bundle') return void (await cosign.sign3(keys.trusted, image));
  await cosign.sign2(w === 'other' ? keys.other : keys.trusted, image);
  if (w !== 'trusted-provenance' && w !== 'trusted-provenance-evil') return;
  const builder = w === 'trusted-provenance' ? 'https://github.com/acme/builder' : 'https://github.com/evil/builder';
  const predicate = join(cosign.dir, `${w}.json`);
  writeFileSync(
    predicate,
    JSON.stringify({ buildDefinition: { buildType: 'https://example.com/build/v1' }, runDetails: { builder: { id: builder } } }),
  );
  await cosign.attest2(keys.trusted, image, 'slsaprovenance1', predicate);
}

export interface Signer {
  /** Signs `image` (`<nameHost>/<repo>@<digest>`): cosign 2 legacy with the trusted or the other key, or a cosign 3 bundle. */
  sign(images: Array<{ image: string; with: SignWith }>): Promise<void>;
}

/** `repo:tag` → manifest digest of everything pushed. */
export type Digests = Record<string, string>;

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

/**
 * Pushes (to `push`'s host) and signs (as `nameHost`) the case images:
 * signed, signed-bundle, unsigned, otherkey (another key), copied (signed's manifest and
 * .sig copied into another repository), and for the retag cases a signed and an unsigned
 * content per repository under the tags `signed` / `unsigned` (the cases move `v1`).
 */
export async function prepareImages(push: Pusher, nameHost: string, signer: Signer): Promise<Digests> {
  const d: Digests = {};
  const put = async (repo: string, tag: string, marker: string) => {
    d[`${repo}:${tag}`] = (await push.image(repo, tag, marker)).digest;
    return `${nameHost}/${repo}@${d[`${repo}:${tag}`]}`;
  };
  const toSign: Array<{ image: string; with: SignWith }> = [
    { image: await put(REPO.signed, 'v1', 'signed'), with: 'trusted' },
    { image: await put(REPO.bundle, 'v1', 'signed-bundle'), with: 'trusted-bundle' },
    { image: await put(REPO.otherKey, 'v1', 'otherkey'), with: 'other' },
    { image: await put(REPO.retagKept, 'signed', 'retag-kept-signed'), with: 'trusted' },
    { image: await put(REPO.retagCaught, 'signed', 'retag-caught-signed'), with: 'trusted' },
    { image: await put(REPO.attested, 'v1', 'attested'), with: 'trusted-provenance' },
    { image: await put(REPO.attested, 'evil', 'attested-evil'), with: 'trusted-provenance-evil' },
    { image: await put(REPO.attested, 'none', 'attested-none'), with: 'trusted' },
  ];
  toSign.push(...(await multiArch(push, nameHost, d)));
  await put(REPO.unsigned, 'v1', 'unsigned');
  await put(REPO.retagKept, 'unsigned', 'retag-kept-unsigned');
  await put(REPO.retagCaught, 'unsigned', 'retag-caught-unsigned');
  await signer.sign(toSign);
  // a legacy signature made for e2e/signed, copied with its image into e2e/copied
  const signed = d[`${REPO.signed}:v1`]!;
  d[`${REPO.copied}:v1`] = (await copyManifest(push, REPO.signed, signed, REPO.copied, 'v1')).digest;
  await copyManifest(push, REPO.signed, sigTag(signed), REPO.copied, sigTag(signed));
  return d;
}

/**
 * Multi-arch indexes for this node's architecture: `confused` lists an unsigned entry under a
 * name containerd normalises (x86_64, aarch64) before the signed entry under the canonical one
 * (containerd runs the first: index order between equals); `v1` is a properly signed multi-arch
 * image (the index signed, an entry for this node and one for another architecture).
 */
async function multiArch(push: Pusher, nameHost: string, d: Digests): Promise<Array<{ image: string; with: SignWith }>> {
  const arm = process.arch === 'arm64';
  const arch = arm ? 'arm64' : 'amd64';
  const [alias, canonical, foreign] = arm
    ? [
        { os: 'linux', architecture: 'aarch64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'amd64' },
      ]
    : [
        { os: 'linux', architecture: 'x86_64' },
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ];
  const e = await push.image(REPO.multiarch, 'e', 'multiarch-unsigned', arch);
  const m = await push.image(REPO.multiarch, 'm', 'multiarch-platform-signed', arch);
  const s = await push.image(REPO.multiarch, 's', 'multiarch-signed', arch);
  const other = await push.image(REPO.multiarch, 'other', 'multiarch-other', arm ? 'amd64' : 'arm64');
  const confused = await push.indexWith(REPO.multiarch, 'confused', [
    { pushed: e, platform: alias },
    { pushed: m, platform: canonical },
  ]);
  const signed = await push.indexWith(REPO.multiarch, 'v1', [
    { pushed: s, platform: canonical },
    { pushed: other, platform: foreign },
  ]);
  d[`${REPO.multiarch}:confused`] = confused.digest;
  d[`${REPO.multiarch}:confused-e`] = e.digest;
  d[`${REPO.multiarch}:v1`] = signed.digest;
  return [
    { image: `${nameHost}/${REPO.multiarch}@${m.digest}`, with: 'trusted' },
    { image: `${nameHost}/${REPO.multiarch}@${signed.digest}`, with: 'trusted' },
  ];
}

/** Points `repo:toTag` at the manifest `repo:fromTag` has (same bytes, same digest); returns the digest. */
export async function moveTag(push: Pusher, repo: string, fromTag: string, toTag: string): Promise<string> {
  const m = await push.getManifest(repo, fromTag);
  const put = await push.manifest(repo, toTag, m.json, m.json.mediaType ?? m.mediaType);
  if (put.digest !== sha256(m.bytes)) throw new Error(`moving ${repo}:${toTag}: manifest re-serialised differently`);
  return put.digest;
}

export const short = (digest: string | undefined): string => (digest ? `${digest.slice(0, 19)}…` : '(none)');
