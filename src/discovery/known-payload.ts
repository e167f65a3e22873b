/**
 * A legacy signature's payload without its blob fetch (issue 15). cosign writes one simple-signing
 * payload per image and name, byte for byte the same every time: the repository it signed (without
 * tag or digest), the manifest digest, the fixed type, and `optional` null when no annotations were
 * given. A `.sig` layer names its payload by digest and size; when the payload built here from the
 * image being verified has exactly that size and SHA-256, these ARE the bytes the blob fetch would
 * have had to return (it accepts no other bytes for that digest), so every check after it (the
 * signature over the bytes, the payload's fields against the policy) reads the same input as before,
 * one registry round trip earlier. Anything else (annotations, another name, another algorithm, a
 * size that differs) is fetched as before. What differs is only the fetch's own effect: one request
 * and ~250 bytes less in the budget, and a registry that lost such a blob (or answers it with an
 * error) no longer spoils that signature, where cosign would refuse: the signature over those bytes
 * is still the trusted key's (test/unit/known-payload-differential.test.ts compares both ways).
 *
 * It decides nothing: the signature in the layer's annotation is still verified over these bytes by
 * a key the policy trusts, and an attacker who can push anything gets no payload here that he could
 * not have served himself from the blob endpoint (any bytes with the named digest are these bytes).
 */
import { type Repository, digestOf } from '../registry/client.js';
import { DOCKER_HUB, repositoryName } from '../reference/reference.js';

/** go-containerregistry's (cosign's) name for Docker Hub, in a payload's docker-reference. */
const GGCR_HUB = 'index.docker.io';

/** The names cosign may have written for this repository: as named here, and Docker Hub's as cosign spells it. */
function signedNames(repo: Repository): string[] {
  const names = [repositoryName(repo)];
  if (repo.registry === DOCKER_HUB) names.push(`${GGCR_HUB}/${repo.repository}`);
  return names;
}

/** cosign's simple-signing payload for `name` at `digest`, with no annotations (Go's encoding/json field order). */
export function cosignPayload(name: string, digest: string): Buffer {
  const identity = `{"docker-reference":${JSON.stringify(name)}}`;
  const image = `{"docker-manifest-digest":${JSON.stringify(digest)}}`;
  return Buffer.from(`{"critical":{"identity":${identity},"image":${image},"type":"cosign container image signature"},"optional":null}`);
}

/**
 * The payload a `.sig` layer names (its digest and size), if it is cosign's payload for this
 * repository and image digest; undefined: fetch it.
 */
export function knownPayload(layer: { digest: string; size: number }, repo: Repository, digest: string): Buffer | undefined {
  if (!layer.digest.startsWith('sha256:')) return undefined;
  for (const name of signedNames(repo)) {
    const payload = cosignPayload(name, digest);
    if (payload.length === layer.size && digestOf(payload) === layer.digest) return payload;
  }
  return undefined;
}
