/**
 * From the manifest a pod names to the manifest the node runs, and that
 * manifest's config digest (the image id the runtime reports).
 *
 * - containerd (and `sigguard check`): images.Manifest with platforms.Only(node
 *   platform): at each index level the entries that match (or state no
 *   platform) are ranked, the first is taken, no backtracking; a manifest
 *   without a platform is judged by its config's os/architecture; the
 *   descriptor's media type decides manifest or index, and the document must
 *   agree with it.
 * - CRI-O: containers/image picks its own way (it does not normalise
 *   `x86_64`, for one), so the entry is the one whose config is the image id
 *   CRI-O reports.
 * - No runtime to ask: only a single manifest can be verified; for an index,
 *   which entry runs cannot be known.
 *
 * JSON field names: Go's decoder (containerd's) matches keys case-insensitively,
 * JavaScript's exactly, so `{"platform": …, "Platform": …}` would be two
 * different documents to the two. A key that differs from a field containerd
 * reads only by case is refused.
 */
import { ReasonCode, SigguardError } from '../errors.js';
import type { FetchedManifest, RegistryClient, Repository } from '../registry/client.js';
import { Limits } from '../registry/client.js';
import { type Descriptor, MediaType, indexSchema, manifestSchema } from '../registry/oci-schema.js';
import type { Platform } from '../registry/platform.js';
import { type RawPlatform, formatPlatform, only, rankEntries } from '../registry/platform-match.js';

export type Selection =
  /** containerd's choice for this platform (the hook on containerd, `check`). */
  | { kind: 'containerd'; platform: Platform }
  /** CRI-O: the entry whose config is the runtime's image id. */
  | { kind: 'image-id'; imageId: string }
  /** The runtime could not be asked: a single manifest only. */
  | { kind: 'single-only' };

export interface SelectedManifest {
  /** The platform manifest inside the index (absent for a single manifest). */
  platformDigest?: string;
  /** Nested indexes passed on the way (rare; their signatures count like the top index's). */
  nested: string[];
  /** The config digest of the manifest that runs: the image id a runtime reports. */
  configDigest: string;
}

const MAX_DEPTH = 8;
/** CRI-O: index entries fetched at most while looking for the one with the node's config. */
export const MAX_IMAGE_ID_CANDIDATES = 64;

const isManifestType = (mt: string | undefined): boolean => mt === MediaType.OCI_MANIFEST || mt === MediaType.DOCKER_MANIFEST;
const isIndexType = (mt: string | undefined): boolean => mt === MediaType.OCI_INDEX || mt === MediaType.DOCKER_LIST;

const fold = (s: string): string => s.toUpperCase().toLowerCase();

/** Refuses keys that Go's case-insensitive decoder would take for one of `fields` but JavaScript would not. */
export function refuseCaseVariants(doc: unknown, fields: readonly string[], what: string): void {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return;
  const folded = new Map(fields.map((f) => [fold(f), f]));
  for (const key of Object.keys(doc)) {
    const field = folded.get(fold(key));
    if (field !== undefined && field !== key) {
      throw new SigguardError(
        ReasonCode.REGISTRY_BAD_RESPONSE,
        `${what} has a key "${key}" that containerd reads as "${field}": ambiguous, refused`,
      );
    }
  }
}

const DESCRIPTOR_FIELDS = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'];
const PLATFORM_FIELDS = ['architecture', 'os', 'os.version', 'os.features', 'variant'];
const INDEX_FIELDS = ['schemaVersion', 'mediaType', 'artifactType', 'manifests', 'subject', 'annotations'];
const MANIFEST_FIELDS = ['schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'subject', 'annotations'];
// containerd's validateMediaType reads these (its unknownDocument) from every manifest and index
const UNKNOWN_DOCUMENT_FIELDS = ['mediaType', 'config', 'layers', 'manifests', 'fsLayers'];

type Entry = Omit<Descriptor, 'platform'> & { platform?: RawPlatform };

/**
 * An OCI platform object (an index entry's, with os and architecture required) or an image
 * config's (`partial`: every field optional); undefined when a field has the wrong type. By hand,
 * as the zod schema it replaces read it (test/unit/oci-schema-lite.test.ts): no zod on the cold path.
 */
export function readPlatform(v: unknown, partial: boolean): RawPlatform | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const p = v as Record<string, unknown>;
  const str = (x: unknown, required: boolean) => (x === undefined ? !required : typeof x === 'string');
  if (!str(p.os, !partial) || !str(p.architecture, !partial) || !str(p.variant, false) || !str(p['os.version'], false)) return undefined;
  const features = p['os.features'];
  if (features !== undefined && !(Array.isArray(features) && Array.from(features).every((f) => typeof f === 'string'))) return undefined;
  return {
    os: (p.os as string | undefined) ?? '',
    architecture: (p.architecture as string | undefined) ?? '',
    variant: p.variant as string | undefined,
    osVersion: p['os.version'] as string | undefined,
    osFeatures: features as string[] | undefined,
  };
}

/** The entries of an index, with their platforms as containerd reads them. */
export function indexEntries(doc: unknown, digest: string): Entry[] {
  const what = `index ${digest}`;
  refuseCaseVariants(doc, [...new Set([...INDEX_FIELDS, ...UNKNOWN_DOCUMENT_FIELDS])], what);
  const parsed = indexSchema.safeParse(doc);
  if (!parsed.success) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not a valid image index`);
  const raw = (doc as { manifests: unknown[] }).manifests;
  return parsed.data.manifests.map((d, i) => {
    const rawEntry = raw[i] as Record<string, unknown>;
    refuseCaseVariants(rawEntry, DESCRIPTOR_FIELDS, `${what} entry ${i}`);
    const { platform: _, ...rest } = d;
    if (rawEntry.platform === undefined) return rest;
    refuseCaseVariants(rawEntry.platform, PLATFORM_FIELDS, `${what} entry ${i} platform`);
    const p = readPlatform(rawEntry.platform, false);
    if (p === undefined) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} entry ${i} has an invalid platform`);
    return { ...rest, platform: p };
  });
}

/** containerd's validateMediaType: the document must be what its descriptor says. */
function checkDocumentType(doc: unknown, mediaType: string, what: string): void {
  refuseCaseVariants(doc, UNKNOWN_DOCUMENT_FIELDS, what);
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null);
  const declared = typeof d.mediaType === 'string' ? d.mediaType : undefined;
  if (nonEmpty(d.fsLayers)) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what}: schema 1 manifests are not supported`);
  if (isManifestType(mediaType) && (nonEmpty(d.manifests) || isIndexType(declared))) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what}: described as a manifest (${mediaType}) but is an index`);
  }
  if (isIndexType(mediaType) && (nonEmpty(d.config) || nonEmpty(d.layers) || isManifestType(declared))) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what}: described as an index (${mediaType}) but is a manifest`);
  }
}

/** The config digest of an image manifest. */
export function configDigestOf(doc: unknown, digest: string): string {
  const what = `manifest ${digest}`;
  refuseCaseVariants(doc, [...new Set([...MANIFEST_FIELDS, ...UNKNOWN_DOCUMENT_FIELDS])], what);
  const parsed = manifestSchema.safeParse(doc);
  if (!parsed.success) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not a valid image manifest`);
  refuseCaseVariants((doc as { config: unknown }).config, DESCRIPTOR_FIELDS, `${what} config`);
  return parsed.data.config.digest;
}

async function fetchChild(client: RegistryClient, repo: Repository, d: Entry, parent: string): Promise<FetchedManifest> {
  const m = await client.getManifest(repo, d.digest);
  if (m === undefined) throw new SigguardError(ReasonCode.IMAGE_NOT_FOUND, `${d.digest} (in index ${parent}) not found in the registry`);
  checkDocumentType(m.json, d.mediaType, `manifest ${d.digest}`);
  return m;
}

/** containerd's ConfigPlatform: the platform an image config states (os/architecture/variant/os.features). */
async function configPlatform(client: RegistryClient, repo: Repository, configDigest: string): Promise<RawPlatform> {
  const what = `config ${configDigest}`;
  const bytes = await client.getBlob(repo, configDigest, Limits.manifestBytes);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not JSON`);
  }
  refuseCaseVariants(doc, PLATFORM_FIELDS, what);
  const p = readPlatform(doc, true);
  if (p === undefined) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} states an invalid platform`);
  return p;
}

async function containerdChoice(
  client: RegistryClient,
  repo: Repository,
  top: FetchedManifest,
  platform: Platform,
): Promise<SelectedManifest> {
  const m = only(platform);
  const nested: string[] = [];
  let index = top;
  for (let depth = 0; ; depth++) {
    if (depth >= MAX_DEPTH)
      throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `index ${top.digest} nests indexes deeper than ${MAX_DEPTH}`);
    const ranked = rankEntries(indexEntries(index.json, index.digest), m);
    const chosen = ranked[0];
    const want = formatPlatform(platform);
    if (chosen === undefined)
      throw new SigguardError(ReasonCode.IMAGE_NOT_FOUND, `index ${index.digest} has no manifest for platform ${want}`);
    if (isIndexType(chosen.mediaType)) {
      index = await fetchChild(client, repo, chosen, index.digest);
      nested.push(index.digest);
      continue;
    }
    if (!isManifestType(chosen.mediaType)) {
      throw new SigguardError(
        ReasonCode.REGISTRY_BAD_RESPONSE,
        `index ${index.digest}: the entry for ${want} (${chosen.digest}) has media type "${chosen.mediaType}", not an image manifest`,
      );
    }
    const child = await fetchChild(client, repo, chosen, index.digest);
    const configDigest = configDigestOf(child.json, chosen.digest);
    if (chosen.platform === undefined && !m.match(await configPlatform(client, repo, configDigest))) {
      throw new SigguardError(
        ReasonCode.IMAGE_NOT_FOUND,
        `index ${index.digest} has no manifest for platform ${want} (its best entry ${chosen.digest} states no platform and its config is for another)`,
      );
    }
    return { platformDigest: chosen.digest, nested, configDigest };
  }
}

async function imageIdChoice(client: RegistryClient, repo: Repository, top: FetchedManifest, imageId: string): Promise<SelectedManifest> {
  const entries = indexEntries(top.json, top.digest).filter((d) => isManifestType(d.mediaType));
  let looked = 0;
  for (const d of entries) {
    if (looked++ >= MAX_IMAGE_ID_CANDIDATES) break;
    const child = await fetchChild(client, repo, d, top.digest);
    const configDigest = configDigestOf(child.json, d.digest);
    if (configDigest === imageId) return { platformDigest: d.digest, nested: [], configDigest };
  }
  throw new SigguardError(
    ReasonCode.NODE_IMAGE_MISMATCH,
    `no manifest in index ${top.digest} has the node's image ${imageId}${looked > MAX_IMAGE_ID_CANDIDATES ? ` (looked at the first ${MAX_IMAGE_ID_CANDIDATES})` : ''}`,
  );
}

/** The manifest that runs for a fetched top-level manifest or index, and its config digest. */
export async function selectManifest(
  client: RegistryClient,
  repo: Repository,
  top: FetchedManifest,
  isIndex: boolean,
  sel: Selection,
): Promise<SelectedManifest> {
  if (!isIndex) {
    if (top.mediaType !== undefined && (isManifestType(top.mediaType) || isIndexType(top.mediaType)))
      checkDocumentType(top.json, top.mediaType, `manifest ${top.digest}`);
    return { nested: [], configDigest: configDigestOf(top.json, top.digest) };
  }
  checkDocumentType(top.json, top.mediaType ?? MediaType.OCI_INDEX, `index ${top.digest}`);
  if (sel.kind === 'containerd') return containerdChoice(client, repo, top, sel.platform);
  if (sel.kind === 'image-id') return imageIdChoice(client, repo, top, sel.imageId);
  throw new SigguardError(
    ReasonCode.NODE_LOOKUP_FAILED,
    `${top.digest} is a multi-arch index and the runtime could not be asked which of its manifests the container runs`,
  );
}
