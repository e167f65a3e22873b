/**
 * The OCI image / distribution JSON this project reads (there is no maintained types
 * package). Tolerant of extra fields (left out of what is returned), strict on the ones we use.
 * Checked by hand, not with zod: these are the registry's documents on every cold verification,
 * and zod costs a process ~17 ms to load (zod stays for the documents a person writes).
 * test/unit/oci-schema-lite.test.ts compares each with the zod schema it replaces.
 */
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

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** What a check returns: the known fields of a valid document, or that it is not one. */
export type Parsed<T> = { success: true; data: T } | { success: false };

/** Thrown inside a check; safeParse turns it into `{ success: false }`. */
class Invalid extends Error {}
const invalid = (): never => {
  throw new Invalid();
};

type Fields = Record<string, unknown>;
const object = (v: unknown): Fields => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Fields) : invalid());
const string = (v: unknown): string => (typeof v === 'string' ? v : invalid());
const optional = <T>(v: unknown, check: (v: unknown) => T): T | undefined => (v === undefined ? undefined : check(v));
/** Every index, holes included (Array.prototype.map would skip them). */
const list = <T>(v: unknown, max: number, check: (v: unknown) => T): T[] =>
  Array.isArray(v) && v.length <= max ? Array.from(v, check) : invalid();
function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(object(v))) out[k] = string(x);
  return out;
}
/** Only the fields present: an absent optional field is absent from what is returned, not undefined. */
function defined<T extends Fields>(fields: T): T {
  for (const k of Object.keys(fields)) if (fields[k] === undefined) delete fields[k];
  return fields;
}

function platform(v: unknown): NonNullable<Descriptor['platform']> {
  const p = object(v);
  return defined({ os: string(p.os), architecture: string(p.architecture), variant: optional(p.variant, string) });
}

function descriptor(v: unknown): Descriptor {
  const d = object(v);
  const digest = string(d.digest);
  if (!isValidDigest(digest)) invalid();
  const size = d.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid();
  return defined({
    mediaType: string(d.mediaType),
    digest,
    size: size as number,
    annotations: optional(d.annotations, stringRecord),
    artifactType: optional(d.artifactType, string),
    platform: optional(d.platform, platform),
  });
}

const schemaVersion2 = (v: unknown): 2 => (v === 2 ? 2 : invalid());
/** The most entries a manifest's layers or an index's manifests may list. */
const MAX_ENTRIES = 1000;

function manifest(v: unknown): Manifest {
  const m = object(v);
  return defined({
    schemaVersion: schemaVersion2(m.schemaVersion),
    mediaType: optional(m.mediaType, string),
    artifactType: optional(m.artifactType, string),
    config: descriptor(m.config),
    layers: list(m.layers, MAX_ENTRIES, descriptor),
    subject: optional(m.subject, descriptor),
    annotations: optional(m.annotations, stringRecord),
  });
}

function index(v: unknown): Index {
  const i = object(v);
  return defined({
    schemaVersion: schemaVersion2(i.schemaVersion),
    mediaType: optional(i.mediaType, string),
    manifests: list(i.manifests, MAX_ENTRIES, descriptor),
    annotations: optional(i.annotations, stringRecord),
  });
}

function checker<T>(check: (v: unknown) => T): { safeParse(v: unknown): Parsed<T> } {
  return {
    safeParse(v) {
      try {
        return { success: true, data: check(v) };
      } catch (err) {
        if (err instanceof Invalid) return { success: false };
        throw err;
      }
    },
  };
}

export const descriptorSchema = checker(descriptor);
export const manifestSchema = checker(manifest);
export const indexSchema = checker(index);

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
