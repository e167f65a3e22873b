/**
 * The OCI image / distribution JSON this project reads, as zod schemas (there
 * is no maintained types package). Tolerant of extra fields, strict on the ones
 * we use.
 */
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { isValidDigest } from '../reference/reference.js';

export const MediaType = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  SIMPLE_SIGNING: 'application/vnd.dev.cosign.simplesigning.v1+json',
  SIGSTORE_BUNDLE_PREFIX: 'application/vnd.dev.sigstore.bundle',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
} as const;

export const ACCEPT_MANIFESTS = [MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_LIST].join(', ');

export const digestSchema = z.string().refine(isValidDigest, { message: 'not a valid digest' });

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).max(1000),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema).max(1000),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Index = z.infer<typeof indexSchema>;

/** Whether a fetched manifest document is an index (manifest list). */
export function isIndexMediaType(mediaType: string | undefined, json: unknown): boolean {
  if (mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_LIST) return true;
  if (mediaType === MediaType.OCI_MANIFEST || mediaType === MediaType.DOCKER_MANIFEST) return false;
  return typeof json === 'object' && json !== null && Array.isArray((json as { manifests?: unknown }).manifests);
}

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST]);
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.OCI_INDEX, MediaType.DOCKER_LIST]);

/**
 * A fetched manifest's media type, refusing documents that could be read as two things
 * (CVE-2021-41190, as distribution and containerd refuse them): both `manifests` and
 * `layers` or `config`; a `mediaType` other than the Content-Type it was served with, where
 * both name a manifest or index type; a manifest type on an index's body or the reverse.
 * Returns the declared media type, else the served one.
 */
export function checkUnambiguous(json: unknown, contentType: string | undefined, what: string): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is not a JSON object`);
  }
  const doc = json as { mediaType?: unknown; manifests?: unknown; layers?: unknown; config?: unknown };
  const hasIndexBody = doc.manifests !== undefined;
  const hasManifestBody = doc.layers !== undefined || doc.config !== undefined;
  if (hasIndexBody && hasManifestBody) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} has both "manifests" and "layers"/"config": an ambiguous document`);
  }
  if (doc.mediaType !== undefined && typeof doc.mediaType !== 'string') {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} has a mediaType that is not a string`);
  }
  const declared = doc.mediaType;
  const served = contentType !== undefined && (MANIFEST_TYPES.has(contentType) || INDEX_TYPES.has(contentType)) ? contentType : undefined;
  if (declared !== undefined && served !== undefined && declared !== served) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} declares mediaType ${declared} but was served as ${served}`);
  }
  const type = declared ?? served;
  if (type !== undefined && ((INDEX_TYPES.has(type) && hasManifestBody) || (MANIFEST_TYPES.has(type) && hasIndexBody))) {
    throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `${what} is a ${type} whose body is of the other kind`);
  }
  return declared ?? contentType;
}
