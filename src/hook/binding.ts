/**
 * Which manifest of an index the hook verifies, from what the runtime told about what runs.
 * The verdict is then bound to the runtime's image id by the engine (engine/binding.ts).
 *
 * Loaded on every start (cache hits included): no registry or engine code here.
 */
import type { Selection } from '../engine/select-manifest.js';
import type { Platform } from '../registry/platform.js';

/**
 * How to pick the entry of an index: containerd's own choice for the node's platform; on
 * CRI-O (whose choice differs) the entry with the runtime's image id; where the runtime told
 * no image id, a single manifest only (which entry of an index runs cannot be known).
 */
export function selectionFor(runtime: 'containerd' | 'cri-o' | 'none', imageId: string | undefined, platform: Platform): Selection {
  if (imageId === undefined) return { kind: 'single-only' };
  return runtime === 'cri-o' ? { kind: 'image-id', imageId } : { kind: 'containerd', platform };
}
