/**
 * cosign's in-toto attestations (`cosign attest`), found as cosign writes them: cosign 2's
 * image under the tag `sha256-<hex>.att` (one DSSE envelope per layer, media type
 * application/vnd.dsse.envelope.v1+json, its predicate type in the layer's `predicateType`
 * annotation) and cosign 3's Sigstore bundles as referrers (the manifest's
 * `dev.sigstore.bundle.predicateType` annotation). The annotations only pre-select: an
 * attestation whose annotation names another type is not fetched, one without is; the
 * verified statement decides (engine/requirements/sigstore-attested.ts). cosign's signature
 * predicate (https://sigstore.dev/cosign/sign/v1) is never an attestation.
 *
 * Separate from signature discovery (legacy.ts, bundle.ts) on purpose: another tag, another
 * cap (attestations carry SBOMs and scan results: up to the requirement's maxBytes, within the
 * verification's budget), and nothing found here is ever judged as a signature, nor the reverse.
 */
import type { RegistryClient, Repository } from '../registry/client.js';
import { descriptorSchema } from '../registry/oci-schema.js';
import { bundleReferrer, listReferrers, mayBeBundle } from './bundle.js';
import { artifactProblem, examineInOrder } from './examine.js';
import type { UnreadableSignature } from './types.js';

export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const LEGACY_PREDICATE_ANNOTATION = 'predicateType';
export const BUNDLE_PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
const COSIGN_SIGNATURE_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export type FoundAttestation =
  | {
      format: 'legacy';
      /** The image digest the attestation is attached to. */
      subject: string;
      source: string;
      /** The DSSE envelope JSON (the layer's bytes). */
      envelope: Buffer;
      /** The layer's annotations (certificate, chain, Rekor bundle, as for legacy signatures). */
      annotations: Record<string, string>;
      /** The predicate type the layer's annotation names, unverified. */
      annotatedType: string | undefined;
    }
  | {
      format: 'bundle';
      subject: string;
      source: string;
      bundle: Buffer;
      mediaType: string;
      /** The predicate type the referrer's annotation names, unverified. */
      annotatedType: string | undefined;
    };

export interface AttestationDiscovery {
  attestations: FoundAttestation[];
  unreadable: UnreadableSignature[];
}

export interface AttestationWanted {
  /** The predicate types some requirement asks for. */
  predicateTypes: ReadonlySet<string>;
  /** The largest attestation any requirement reads (bytes). */
  maxBytes: number;
}

export function attestationTag(digest: string): string {
  return `${digest.replace(':', '-')}.att`;
}

/** Not fetched: an annotation naming a type no requirement wants (a signature's among them). */
const unwanted = (annotated: string | undefined, wanted: AttestationWanted): boolean =>
  annotated !== undefined && (annotated === COSIGN_SIGNATURE_PREDICATE || !wanted.predicateTypes.has(annotated));

type Examined = { skip: true } | { source: string; problem: string } | { found: FoundAttestation };

function collect(
  results: Examined[],
  out: AttestationDiscovery,
  unreadable: (source: string, problem: string) => void,
): AttestationDiscovery {
  for (const r of results) {
    if ('found' in r) out.attestations.push(r.found);
    else if ('problem' in r) unreadable(r.source, r.problem);
  }
  return out;
}

async function discoverLegacyAttestations(
  client: RegistryClient,
  repo: Repository,
  digest: string,
  wanted: AttestationWanted,
): Promise<AttestationDiscovery> {
  const tag = attestationTag(digest);
  const out: AttestationDiscovery = { attestations: [], unreadable: [] };
  const unreadable = (source: string, problem: string) => out.unreadable.push({ format: 'legacy', subject: digest, source, problem });
  let manifest: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    manifest = await client.getManifest(repo, tag);
  } catch (err) {
    unreadable(tag, artifactProblem(err));
    return out;
  }
  if (manifest === undefined) return out;
  const layers = (manifest.json as { schemaVersion?: unknown; layers?: unknown }).layers;
  if ((manifest.json as { schemaVersion?: unknown }).schemaVersion !== 2 || !Array.isArray(layers)) {
    unreadable(tag, 'attestation manifest is not an image manifest');
    return out;
  }
  const results = await examineInOrder(layers, tag, client.budget, async (raw, i): Promise<Examined> => {
    const source = `${tag} layer ${i}`;
    const parsed = descriptorSchema.safeParse(raw);
    if (!parsed.success) return { source, problem: 'layer is not a valid descriptor' };
    const layer = parsed.data;
    if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE)
      return { source, problem: `layer media type ${layer.mediaType} is not a DSSE envelope (${DSSE_ENVELOPE_MEDIA_TYPE})` };
    const annotations = layer.annotations ?? {};
    if (unwanted(annotations[LEGACY_PREDICATE_ANNOTATION], wanted)) return { skip: true };
    if (layer.size > wanted.maxBytes) return { source, problem: `attestation of ${layer.size} bytes is larger than ${wanted.maxBytes}` };
    try {
      const envelope = await client.getBlob(repo, layer.digest, layer.size, true);
      return {
        found: {
          format: 'legacy',
          subject: digest,
          source,
          envelope,
          annotations,
          annotatedType: annotations[LEGACY_PREDICATE_ANNOTATION],
        },
      };
    } catch (err) {
      return { source, problem: artifactProblem(err) };
    }
  });
  return collect(results, out, unreadable);
}

async function discoverBundleAttestations(
  client: RegistryClient,
  repo: Repository,
  digest: string,
  wanted: AttestationWanted,
): Promise<AttestationDiscovery> {
  const out: AttestationDiscovery = { attestations: [], unreadable: [] };
  const unreadable = (source: string, problem: string) => out.unreadable.push({ format: 'bundle', subject: digest, source, problem });
  let listed: { list: unknown[]; via: string };
  try {
    listed = await listReferrers(client, repo, digest, client.budget);
  } catch (err) {
    unreadable(`referrers of ${digest}`, artifactProblem(err));
    return out;
  }
  const { list, via } = listed;
  const candidates = list.filter((d) => mayBeBundle((d as { artifactType?: unknown } | null)?.artifactType));
  const results = await examineInOrder(candidates, `${via} of ${digest}`, client.budget, async (entry, i): Promise<Examined> => {
    const desc = descriptorSchema.safeParse(entry);
    if (!desc.success) return { source: `${via} entry ${i}`, problem: 'listed entry is not a valid descriptor' };
    const source = `${via} ${desc.data.digest}`;
    if (unwanted(desc.data.annotations?.[BUNDLE_PREDICATE_ANNOTATION], wanted)) return { skip: true };
    try {
      const r = await bundleReferrer(client, repo, digest, desc.data);
      if ('skip' in r) return r;
      if ('problem' in r) return { source, problem: r.problem };
      if (unwanted(r.manifest.annotations?.[BUNDLE_PREDICATE_ANNOTATION], wanted)) return { skip: true };
      const layer = r.layer;
      if (layer.size > wanted.maxBytes) return { source, problem: `attestation of ${layer.size} bytes is larger than ${wanted.maxBytes}` };
      const bundle = await client.getBlob(repo, layer.digest, layer.size, true);
      const annotatedType = r.manifest.annotations?.[BUNDLE_PREDICATE_ANNOTATION] ?? desc.data.annotations?.[BUNDLE_PREDICATE_ANNOTATION];
      return { found: { format: 'bundle', subject: digest, source, bundle, mediaType: layer.mediaType, annotatedType } };
    } catch (err) {
      return { source, problem: artifactProblem(err) };
    }
  });
  return collect(results, out, unreadable);
}

/** The attestations attached to each subject (the image, its nested indexes, the platform manifest), in the formats asked for. */
export async function discoverAttestations(
  client: RegistryClient,
  repo: Repository,
  subjects: readonly string[],
  formats: ReadonlySet<'legacy' | 'bundle'>,
  wanted: AttestationWanted,
): Promise<AttestationDiscovery> {
  const jobs: Array<Promise<AttestationDiscovery>> = [];
  for (const subject of subjects) {
    if (formats.has('legacy')) jobs.push(discoverLegacyAttestations(client, repo, subject, wanted));
    if (formats.has('bundle')) jobs.push(discoverBundleAttestations(client, repo, subject, wanted));
  }
  const all = await Promise.all(jobs);
  return { attestations: all.flatMap((d) => d.attestations), unreadable: all.flatMap((d) => d.unreadable) };
}
