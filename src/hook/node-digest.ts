/**
 * The digest of what the node really runs, for a container whose image is
 * named by a tag. Resolving the tag at the registry at hook time is a
 * time-of-check/time-of-use hole (the tag may point elsewhere than the content
 * on the node), so the digest comes from the runtime itself over CRI:
 *
 * - containerd: ContainerStatus(id).image_ref is one repo digest of the image
 *   the container was created from. containerd keys images by id and picks one
 *   of its repo digests; the same content pulled under two names has several,
 *   so the one kept is the one whose repository is the annotation's
 *   (normalised) repository, asking ImageStatus(image id) for all of them where
 *   ContainerStatus shows another. None matching is a refusal.
 * - CRI-O: its annotations carry no manifest digest (ImageRef is a storage id);
 *   ImageStatus(image id) gives the repo digests, filtered the same way.
 */
import { ReasonCode, SigguardError } from '../errors.js';
import { type ImageReference, parseReference, repositoryName } from '../reference/reference.js';

/** What the lookup needs from a CRI runtime (an interface, so the logic is testable without one). */
export interface NodeImages {
  /**
   * ContainerStatus: the image id, the repo digest the runtime reports, and the image as the
   * pod spec named it (kubelet's user_specified_image, from the verbose info) for a container.
   */
  containerImage(containerId: string): Promise<{ imageId: string; imageRef: string; userSpecifiedImage: string | undefined }>;
  /** ImageStatus: every repo digest of an image on the node; undefined if the node does not have it. */
  repoDigests(imageId: string): Promise<string[] | undefined>;
  /** ImageStatus: the image's id (CRI-O: its storage id, the config digest's hex) and repo digests; undefined if the node does not have it. */
  imageStatus(image: string): Promise<{ id: string; repoDigests: string[] } | undefined>;
}

export interface NodeDigest {
  digest: string;
  /** Which repo digest was used, for the log. */
  repoDigest: string;
  /** The image id (config digest, `sha256:…`) the runtime reports; absent where it reports none. */
  imageId?: string;
}

/** A runtime's image id as a config digest: containerd says `sha256:<hex>`, CRI-O the bare hex. */
export function configDigestOfImageId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  if (/^[0-9a-f]{64}$/.test(id)) return `sha256:${id}`;
  if (/^sha256:[0-9a-f]{64}$/.test(id)) return id;
  return undefined;
}

export interface NodeImage extends NodeDigest {
  /** The image as the pod named it (scope and signedIdentity are judged on this name). */
  named: ImageReference;
}

function digestIn(repoDigests: string[], wanted: ImageReference): NodeDigest | undefined {
  const want = repositoryName(wanted);
  for (const rd of repoDigests) {
    try {
      const ref = parseReference(rd);
      if (ref.digest !== undefined && repositoryName(ref) === want) return { digest: ref.digest, repoDigest: rd };
    } catch {
      /* not a reference: skip */
    }
  }
  return undefined;
}

function noneMatch(wanted: ImageReference, imageId: string, repoDigests: string[]): SigguardError {
  const list = repoDigests.length > 0 ? repoDigests.join(', ') : 'none';
  return new SigguardError(
    ReasonCode.NODE_IMAGE_MISMATCH,
    `the node's image ${imageId || '(unknown)'} has no repo digest in ${repositoryName(wanted)} (repo digests: ${list})`,
  );
}

/**
 * containerd: by container id. containerd 1.7's image-name annotation is one of the image's
 * names (its first repo tag: possibly another registry's name for the same content), so the
 * name the pod spec used comes from ContainerStatus's verbose info where containerd gives it,
 * and the annotation only stands in where it does not.
 */
export async function imageForContainer(node: NodeImages, containerId: string, annotated: ImageReference): Promise<NodeImage> {
  const { imageId, imageRef, userSpecifiedImage } = await node.containerImage(containerId);
  const config = configDigestOfImageId(imageId);
  const id = config === undefined ? {} : { imageId: config };
  let named = annotated;
  if (userSpecifiedImage) {
    try {
      named = parseReference(userSpecifiedImage);
    } catch {
      throw new SigguardError(ReasonCode.NODE_LOOKUP_FAILED, `the runtime reports an unparsable pod image "${userSpecifiedImage}"`);
    }
  }
  if (named.digest !== undefined) return { named, digest: named.digest, repoDigest: `${repositoryName(named)}@${named.digest}`, ...id };
  const direct = imageRef ? digestIn([imageRef], named) : undefined;
  if (direct) return { named, ...direct, ...id };
  const all = imageId ? await node.repoDigests(imageId) : undefined;
  const found = all ? digestIn(all, named) : undefined;
  if (found) return { named, ...found, ...id };
  throw noneMatch(named, imageId, all ?? (imageRef ? [imageRef] : []));
}

/** CRI-O: by image id (from its annotations). */
export async function digestForImage(node: NodeImages, imageId: string, wanted: ImageReference): Promise<NodeDigest> {
  const status = await node.imageStatus(imageId);
  if (status === undefined) throw new SigguardError(ReasonCode.NODE_IMAGE_MISMATCH, `the node has no image ${imageId}`);
  const config = configDigestOfImageId(status.id);
  const found = digestIn(status.repoDigests, wanted);
  if (found) return { ...found, ...(config === undefined ? {} : { imageId: config }) };
  throw noneMatch(wanted, imageId, status.repoDigests);
}

/** CRI-O, the pod naming a digest: only the image id is needed (which entry of an index runs). */
export async function imageIdForImage(node: NodeImages, imageId: string): Promise<string | undefined> {
  const status = await node.imageStatus(imageId);
  if (status === undefined) throw new SigguardError(ReasonCode.NODE_IMAGE_MISMATCH, `the node has no image ${imageId}`);
  return configDigestOfImageId(status.id);
}
