/**
 * cosign v3's signatures: Sigstore bundles attached to the image as OCI 1.1
 * referrers (artifactType `application/vnd.dev.sigstore.bundle...`), listed by
 * the referrers API or, where the registry has none, by the referrers tag
 * schema (an index under the tag `sha256-<hex>`).
 */
import { ReasonCode, SigguardError } from '../errors.js';
import { Limits, type RegistryClient, type Repository } from '../registry/client.js';
import { type Descriptor, MediaType, indexSchema, manifestSchema } from '../registry/oci-schema.js';
import { MAX_SIGNATURES } from './legacy.js';
import type { Discovery } from './types.js';

export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

const isBundleType = (t: string | undefined): boolean => t !== undefined && t.startsWith(MediaType.SIGSTORE_BUNDLE_PREFIX);
/**
 * Entries that may hold a bundle: a bundle artifactType, or none that tells
 * (cosign 3.1 writes the config's `application/vnd.oci.empty.v1+json` as the
 * artifactType of its entries in the referrers tag index; the manifest itself
 * then says `application/vnd.dev.sigstore.bundle.v0.3+json`).
 */
const mayBeBundle = (t: string | undefined): boolean => t === undefined || t === '' || t === MediaType.OCI_EMPTY || isBundleType(t);

async function listReferrers(client: RegistryClient, repo: Repository, digest: string): Promise<{ list: Descriptor[]; via: string }> {
  const api = await client.getReferrers(repo, digest);
  if (api !== undefined) return { list: api.manifests, via: 'referrers API' };
  const tag = referrersTag(digest);
  const fallback = await client.getManifest(repo, tag);
  if (fallback === undefined) return { list: [], via: `tag ${tag}` };
  const parsed = indexSchema.safeParse(fallback.json);
  if (!parsed.success) return { list: [], via: `tag ${tag}` };
  return { list: parsed.data.manifests, via: `tag ${tag}` };
}

export async function discoverBundles(client: RegistryClient, repo: Repository, digest: string): Promise<Discovery> {
  const found: Discovery = { signatures: [], unreadable: [] };
  const { list, via } = await listReferrers(client, repo, digest);
  const bundles = list.filter((d) => mayBeBundle(d.artifactType));
  if (bundles.length > MAX_SIGNATURES) {
    throw new SigguardError(ReasonCode.RESPONSE_TOO_LARGE, `${via} lists ${bundles.length} bundles, more than ${MAX_SIGNATURES}`);
  }
  const results = await Promise.all(
    bundles.map(async (desc) => {
      const source = `${via} ${desc.digest}`;
      const manifest = await client.getManifest(repo, desc.digest);
      if (manifest === undefined) return { source, problem: 'referrer manifest listed but missing' };
      const parsed = manifestSchema.safeParse(manifest.json);
      if (!parsed.success) return { source, problem: 'referrer is not an image manifest' };
      if (parsed.data.subject !== undefined && parsed.data.subject.digest !== digest) {
        return { source, problem: `referrer's subject is ${parsed.data.subject.digest}, not this image` };
      }
      const artifactType = parsed.data.artifactType ?? parsed.data.config.mediaType;
      if (!isBundleType(artifactType)) return { source, skip: true as const };
      const layer = parsed.data.layers.find((l) => isBundleType(l.mediaType));
      if (layer === undefined) return { source, problem: 'referrer has no bundle layer' };
      if (layer.size > Limits.signatureBlobBytes) return { source, problem: `bundle of ${layer.size} bytes is too large` };
      const bundle = await client.getBlob(repo, layer.digest, Limits.signatureBlobBytes);
      return { source, bundle, mediaType: layer.mediaType };
    }),
  );
  for (const r of results) {
    if ('skip' in r) continue;
    if ('problem' in r) found.unreadable.push({ format: 'bundle', subject: digest, source: r.source, problem: r.problem ?? '' });
    else found.signatures.push({ format: 'bundle', subject: digest, source: r.source, bundle: r.bundle, mediaType: r.mediaType });
  }
  return found;
}
