/**
 * cosign's legacy (v2) signatures: an image manifest under the tag
 * `sha256-<hex>.sig` in the same repository, one simple-signing layer per
 * signature, the signature itself in the layer's
 * `dev.cosignproject.cosign/signature` annotation.
 */
import { Limits, type RegistryClient, type Repository } from '../registry/client.js';
import { MediaType, descriptorSchema } from '../registry/oci-schema.js';
import { artifactProblem, examineInOrder } from './examine.js';
import { knownPayload } from './known-payload.js';
import type { Discovery } from './types.js';

export const LEGACY_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export function legacySignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

type LayerResult = { source: string; problem: string } | { source: string; payload: Buffer; annotations: Record<string, string> };

export async function discoverLegacy(client: RegistryClient, repo: Repository, digest: string): Promise<Discovery> {
  const tag = legacySignatureTag(digest);
  const found: Discovery = { signatures: [], unreadable: [] };
  let manifest: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    manifest = await client.getManifest(repo, tag);
  } catch (err) {
    // a .sig manifest over its cap or ambiguous spoils the legacy signatures, not the bundles
    found.unreadable.push({ format: 'legacy', subject: digest, source: tag, problem: artifactProblem(err) });
    return found;
  }
  if (manifest === undefined) return found;
  // the layers as listed, each validated where it is examined: a bad or surplus one spoils no other
  const layers = (manifest.json as { schemaVersion?: unknown; layers?: unknown }).layers;
  if ((manifest.json as { schemaVersion?: unknown }).schemaVersion !== 2 || !Array.isArray(layers)) {
    found.unreadable.push({ format: 'legacy', subject: digest, source: tag, problem: 'signature manifest is not an image manifest' });
    return found;
  }
  // the layers in order, the first signaturesPerListing of them; the rest is noted, not refused
  const blobs = await examineInOrder(layers, tag, client.budget, async (raw, i): Promise<LayerResult> => {
    const source = `${tag} layer ${i}`;
    const parsed = descriptorSchema.safeParse(raw);
    if (!parsed.success) return { source, problem: 'layer is not a valid descriptor' };
    const layer = parsed.data;
    if (layer.mediaType !== MediaType.SIMPLE_SIGNING) {
      return { source, problem: `layer media type ${layer.mediaType} is not a cosign simple-signing payload` };
    }
    if (layer.size > Limits.signatureBlobBytes) {
      return { source, problem: `payload of ${layer.size} bytes is larger than ${Limits.signatureBlobBytes}` };
    }
    try {
      // cosign's payload for this very image, when the layer names its bytes: no round trip (known-payload.ts)
      const payload = knownPayload(layer, repo, digest) ?? (await client.getBlob(repo, layer.digest, layer.size, true));
      return { source, payload, annotations: layer.annotations ?? {} };
    } catch (err) {
      return { source, problem: artifactProblem(err) };
    }
  });
  for (const b of blobs) {
    if ('problem' in b) found.unreadable.push({ format: 'legacy', subject: digest, source: b.source, problem: b.problem });
    else {
      found.signatures.push({
        format: 'legacy',
        subject: digest,
        source: b.source,
        payload: b.payload,
        signature: b.annotations[LEGACY_SIGNATURE_ANNOTATION],
        annotations: b.annotations,
      });
    }
  }
  return found;
}
