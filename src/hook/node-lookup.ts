/**
 * What the container really runs, asked of the runtime over CRI: the image as the pod named
 * it and the digest of the content on the node (a tag names no content, and resolving it at
 * the registry now is a time-of-check/time-of-use hole). Where the runtime cannot be asked,
 * an annotation that names a digest is used as it is; a bare tag is refused unless the policy
 * explicitly says `tagResolution: registry`. The runtime's image id (the config digest of what
 * runs) comes along where the runtime tells it; without it only a single manifest is verified.
 */
import { statSync } from 'node:fs';
import type { Config } from '../config/load.js';
import { ReasonCode, SigguardError } from '../errors.js';
import type { Policy } from '../policy/types.js';
import { type ImageReference, formatReference, withDigest } from '../reference/reference.js';
import type { ContainerContext } from './annotations.js';

export interface OnNode {
  /** The image as the pod named it. */
  named: ImageReference;
  /** The same, pinned to the digest of the content on the node where the runtime told it. */
  pinned: ImageReference;
  /** The runtime's image id (the config digest of what runs). */
  imageId?: string;
  /** The lookup fell back to the annotation: the runtime socket, and whether it was missing (else it failed). */
  unasked?: { socket: string; missing: boolean };
}

/** Why `socket` is not a socket (ENOENT: 'no such socket'), or undefined when it is one. */
export function socketProblem(socket: string): string | undefined {
  try {
    return statSync(socket).isSocket() ? undefined : 'not a socket';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such socket' : (err as Error).message;
  }
}

/** Asks the runtime, under the command's deadline (`signal`, src/deadline.ts); `keepConnection`: see criNodeImages. */
export async function resolveOnNode(
  ctx: ContainerContext,
  containerId: string,
  annotated: ImageReference,
  config: Config,
  policy: Policy,
  signal: AbortSignal,
  keepConnection = false,
): Promise<OnNode> {
  if (ctx.runtime === 'none') return { named: annotated, pinned: annotated };
  const socket = ctx.runtime === 'containerd' ? config.node.containerdSocket : config.node.crioSocket;
  const fallback = (err: unknown, missing = false): OnNode => {
    const unreachable = err instanceof SigguardError && err.code === ReasonCode.NODE_LOOKUP_FAILED;
    const unasked = { socket, missing };
    if (unreachable && annotated.digest !== undefined) return { named: annotated, pinned: annotated, unasked };
    if (unreachable && policy.tagResolution === 'registry') return { named: annotated, pinned: annotated, unasked };
    throw err;
  };
  // no socket, no runtime to ask: say so without loading the HTTP/2 stack (~15 ms)
  const missing = socketProblem(socket);
  if (missing) return fallback(new SigguardError(ReasonCode.NODE_LOOKUP_FAILED, `cannot ask the runtime at ${socket}: ${missing}`), true);
  const { criNodeImages } = await import('./cri-images.js');
  const { imageForContainer, digestForImage, imageIdForImage } = await import('./node-digest.js');
  const node = criNodeImages(socket, signal, keepConnection);
  try {
    if (ctx.runtime === 'containerd') {
      const found = await imageForContainer(node, containerId, annotated);
      return { named: found.named, pinned: withDigest(found.named, found.digest), ...(found.imageId ? { imageId: found.imageId } : {}) };
    }
    if (annotated.digest !== undefined) {
      // CRI-O, a digest named: only which image (which entry of an index) runs is asked
      const imageId = await imageIdForImage(node, ctx.imageId ?? formatReference(annotated));
      return { named: annotated, pinned: annotated, ...(imageId ? { imageId } : {}) };
    }
    const found = await digestForImage(node, ctx.imageId ?? formatReference(annotated), annotated);
    return { named: annotated, pinned: withDigest(annotated, found.digest), ...(found.imageId ? { imageId: found.imageId } : {}) };
  } catch (err) {
    return fallback(err);
  } finally {
    node.close();
  }
}
