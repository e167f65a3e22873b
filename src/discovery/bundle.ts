/**
 * cosign v3's signatures: Sigstore bundles attached to the image as OCI 1.1
 * referrers (artifactType `application/vnd.dev.sigstore.bundle...`), listed by
 * the referrers API or, where the registry has none, by the referrers tag
 * schema (an index under the tag `sha256-<hex>`).
 */
import type { Budget } from '../registry/budget.js';
import { Limits, type RegistryClient, type Repository } from '../registry/client.js';
import { type Descriptor, type Manifest, MediaType, descriptorSchema, manifestSchema } from '../registry/oci-schema.js';
import { artifactProblem, examineInOrder } from './examine.js';
import type { Discovery } from './types.js';

export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

const isBundleType = (t: string | undefined): boolean => t?.startsWith(MediaType.SIGSTORE_BUNDLE_PREFIX) === true;
/**
 * Entries that may hold a bundle: a bundle artifactType, or none that tells
 * (cosign 3.1 writes the config's `application/vnd.oci.empty.v1+json` as the
 * artifactType of its entries in the referrers tag index; the manifest itself
 * then says `application/vnd.dev.sigstore.bundle.v0.3+json`).
 */
export const mayBeBundle = (t: unknown): boolean =>
  t === undefined || t === '' || t === MediaType.OCI_EMPTY || (typeof t === 'string' && isBundleType(t));

/** The listed entries, raw and in the registry's order; each is validated when it is examined. */
export async function listReferrers(
  client: RegistryClient,
  repo: Repository,
  digest: string,
  budget: Budget,
): Promise<{ list: unknown[]; via: string }> {
  const tag = referrersTag(digest);
  // the referrers tag schema's index is asked for at the same time as the API, not after it
  // answers that it has none: one round trip less where the fallback is needed; where the API
  // answers, the tag's answer (charged to the same budget) is left unread
  const fallbackAsked = client.getManifest(repo, tag);
  fallbackAsked.catch(() => {});
  const api = await client.getReferrers(repo, digest);
  if (api !== undefined) {
    if (api.truncated)
      budget.note(
        `referrers API list for ${digest} is larger than ${Limits.manifestBytes} bytes: only the ${api.manifests.length} entries in its first ${Limits.manifestBytes} bytes were read`,
      );
    return { list: api.manifests, via: 'referrers API' };
  }
  const fallback = await fallbackAsked;
  const manifests = (fallback?.json as { manifests?: unknown } | undefined)?.manifests;
  return { list: Array.isArray(manifests) ? manifests : [], via: `tag ${tag}` };
}

type Examined =
  | { source: string; skip: true }
  | { source: string; problem: string }
  | { source: string; bundle: Buffer; mediaType: string };

/**
 * A listed referrer's manifest, read and checked: an image manifest (within its cap) about this
 * digest, of a bundle artifact type, and its bundle layer (not fetched). Registry faults throw.
 */
export async function bundleReferrer(
  client: RegistryClient,
  repo: Repository,
  digest: string,
  desc: Descriptor,
): Promise<{ skip: true } | { problem: string } | { manifest: Manifest; layer: Descriptor }> {
  if (desc.size > Limits.referrerManifestBytes)
    return { problem: `referrer manifest of ${desc.size} bytes is larger than ${Limits.referrerManifestBytes}` };
  const fetched = await client.getManifest(repo, desc.digest, desc.size);
  if (fetched === undefined) return { problem: 'referrer manifest listed but missing' };
  const parsed = manifestSchema.safeParse(fetched.json);
  if (!parsed.success) return { problem: 'referrer is not an image manifest' };
  const manifest = parsed.data;
  if (manifest.subject !== undefined && manifest.subject.digest !== digest)
    return { problem: `referrer's subject is ${manifest.subject.digest}, not this image` };
  if (!isBundleType(manifest.artifactType ?? manifest.config.mediaType)) return { skip: true };
  const layer = manifest.layers.find((l) => isBundleType(l.mediaType));
  if (layer === undefined) return { problem: 'referrer has no bundle layer' };
  return { manifest, layer };
}

async function examineReferrer(
  client: RegistryClient,
  repo: Repository,
  digest: string,
  via: string,
  entry: unknown,
  i: number,
): Promise<Examined> {
  const desc = descriptorSchema.safeParse(entry);
  if (!desc.success) return { source: `${via} entry ${i}`, problem: 'listed entry is not a valid descriptor' };
  const source = `${via} ${desc.data.digest}`;
  try {
    const r = await bundleReferrer(client, repo, digest, desc.data);
    if ('skip' in r) return { source, skip: true };
    if ('problem' in r) return { source, problem: r.problem };
    const layer = r.layer;
    if (layer.size > Limits.bundleBytes)
      return { source, problem: `bundle of ${layer.size} bytes is larger than ${Limits.bundleBytes} (not a signature: an attestation?)` };
    const bundle = await client.getBlob(repo, layer.digest, layer.size, true);
    return { source, bundle, mediaType: layer.mediaType };
  } catch (err) {
    return { source, problem: artifactProblem(err) };
  }
}

export async function discoverBundles(client: RegistryClient, repo: Repository, digest: string): Promise<Discovery> {
  const found: Discovery = { signatures: [], unreadable: [] };
  let listed: { list: unknown[]; via: string };
  try {
    listed = await listReferrers(client, repo, digest, client.budget);
  } catch (err) {
    // a listing that cannot be read spoils the bundles, not the legacy signatures
    found.unreadable.push({ format: 'bundle', subject: digest, source: `referrers of ${digest}`, problem: artifactProblem(err) });
    return found;
  }
  const { list, via } = listed;
  // in the order listed, the first signaturesPerListing candidates; the rest is noted, not refused
  const candidates = list.filter((d) => mayBeBundle((d as { artifactType?: unknown } | null)?.artifactType));
  const results = await examineInOrder(candidates, `${via} of ${digest}`, client.budget, (entry, i) =>
    examineReferrer(client, repo, digest, via, entry, i),
  );
  for (const r of results) {
    if ('skip' in r) continue;
    if ('problem' in r) found.unreadable.push({ format: 'bundle', subject: digest, source: r.source, problem: r.problem });
    else found.signatures.push({ format: 'bundle', subject: digest, source: r.source, bundle: r.bundle, mediaType: r.mediaType });
  }
  return found;
}
