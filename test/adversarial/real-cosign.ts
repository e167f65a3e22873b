/**
 * Signatures made by the real cosign (2.5.0 legacy, 3.1.1 bundle) on a real
 * docker-registry, then copied byte for byte into the lying registry, where
 * cases place them next to the images they were made for, or next to others.
 */
import { Cosign } from '../support/cosign.js';
import { type ImageIndexJson, Pusher } from '../support/push.js';
import { Registry } from '../support/registry.js';
import type { LyingRegistry, Stored } from './lying-registry.js';
import { MT, sha256 } from './lying-registry.js';

export interface RealDoc {
  bytes: Buffer;
  mediaType: string;
  blobs: Buffer[];
}

export interface RealArtefacts {
  /** docker-registry's host:port: the legacy signature's docker-reference names `${host}/real`. */
  host: string;
  pub: string;
  image: RealDoc;
  imageDigest: string;
  /** The cosign 2 `.sig` image. */
  sig: RealDoc;
  /** The cosign 3 referrer manifests (bundles) for the image. */
  referrers: Array<RealDoc & { artifactType?: string }>;
  cosign: Cosign;
  registry: Registry;
}

async function readDoc(p: Pusher, repo: string, ref: string): Promise<RealDoc> {
  const m = await p.getManifest(repo, ref);
  const descs = [m.json.config, ...(m.json.layers ?? [])].filter(Boolean) as Array<{ digest: string }>;
  const blobs = [];
  for (const d of descs) blobs.push(await p.getBlob(repo, d.digest));
  return { bytes: m.bytes, mediaType: m.json.mediaType ?? m.mediaType, blobs };
}

export async function makeRealArtefacts(): Promise<RealArtefacts> {
  const registry = await Registry.start();
  const cosign = await Cosign.create();
  const push = new Pusher(registry.host);
  const keys = await cosign.keyPair('real');
  const pushed = await push.image('real', 'v1', 'real-cosign');
  const ref = `${registry.host}/real@${pushed.digest}`;
  await cosign.sign2(keys.key, ref);
  await cosign.sign3(keys.key, ref);
  const image = await readDoc(push, 'real', pushed.digest);
  const sig = await readDoc(push, 'real', `${pushed.digest.replace(':', '-')}.sig`);
  // docker-registry 2.8 has no referrers API: cosign 3 used the referrers tag schema
  const tagIndex = await push.getManifest<ImageIndexJson>('real', pushed.digest.replace(':', '-'));
  const referrers = [];
  for (const d of tagIndex.json.manifests) {
    referrers.push({ ...(await readDoc(push, 'real', d.digest)), ...(d.artifactType ? { artifactType: d.artifactType } : {}) });
  }
  return { host: registry.host, pub: keys.pub, image, imageDigest: pushed.digest, sig, referrers, cosign, registry };
}

function place(reg: LyingRegistry, repo: string, doc: RealDoc, tags: string[] = []): Stored {
  for (const b of doc.blobs) reg.putBlob(b);
  return reg.putManifest(repo, doc.bytes, { tags, contentType: doc.mediaType });
}

/** The real image in `repo` of the lying registry. */
export function placeImage(reg: LyingRegistry, repo: string, real: RealArtefacts): Stored {
  const s = place(reg, repo, real.image, ['v1']);
  if (s.digest !== real.imageDigest) throw new Error('copy changed the image digest');
  return s;
}

/** The real cosign 2 `.sig` image, stored as the signature of `subject` (its own image or another). */
export function placeLegacy(reg: LyingRegistry, repo: string, real: RealArtefacts, subject: string): Stored {
  return place(reg, repo, real.sig, [`${subject.replace(':', '-')}.sig`]);
}

/** The real cosign 3 referrers, listed as referrers of `subject` (its own image or another). */
export function placeBundles(reg: LyingRegistry, repo: string, real: RealArtefacts, subject: string): Stored[] {
  return real.referrers.map((r) => {
    const s = place(reg, repo, r);
    const json = JSON.parse(r.bytes.toString());
    reg.addReferrer(repo, subject, { ...s.desc, artifactType: json.artifactType ?? r.artifactType ?? MT.BUNDLE_V03 });
    return s;
  });
}

export { sha256 };
