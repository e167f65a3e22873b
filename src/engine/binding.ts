/**
 * What was verified, bound to what runs. The runtime reports the image id (the
 * config digest) of the container's image; the manifest whose signature was
 * accepted (the platform manifest, or the platform manifest inside a signed
 * index) must have exactly that config, else the start is refused
 * (NODE_IMAGE_MISMATCH). A cached verdict is bound the same way.
 *
 * Loaded on every start (cache hits included): no registry or verification code here.
 */
import { ReasonCode } from '../errors.js';

interface Decided {
  decision: 'allow' | 'deny';
  code: string;
  reason: string;
  configDigest?: string | undefined;
}

/** An allow stands only if the verified manifest's config is the node's image id (when the runtime told it). */
export function bindToNode<O extends Decided>(o: O, imageId: string | undefined): O {
  if (imageId === undefined || o.decision !== 'allow' || o.configDigest === imageId) return o;
  return {
    ...o,
    decision: 'deny',
    code: ReasonCode.NODE_IMAGE_MISMATCH,
    reason: `the node runs image ${imageId}, but the verified manifest's config is ${o.configDigest ?? '(unknown)'}: not what was verified`,
  };
}

// refusals about the runtime's answer, not the content: never stand for another start
const ABOUT_THE_NODE = new Set<string>([ReasonCode.NODE_IMAGE_MISMATCH, ReasonCode.NODE_LOOKUP_FAILED]);

/**
 * Whether a cached verdict may stand for this start. With an image id: one about that config;
 * or a refusal reached before any manifest was chosen (registry down, a bad index: the same for
 * every image id), so deny back-off keeps working. Without: an allow only about a single
 * manifest (an index's allow assumed a runtime to ask); any refusal (a fresh verification could
 * only refuse too).
 */
export function cachedFor<
  E extends { decision: string; code: string; configDigest?: string | undefined; platformDigest?: string | undefined },
>(e: E | undefined, imageId: string | undefined): E | undefined {
  if (e === undefined) return undefined;
  if (imageId !== undefined) {
    if (e.configDigest === imageId) return e;
    const beforeChoice = e.decision === 'deny' && e.configDigest === undefined && !ABOUT_THE_NODE.has(e.code);
    return beforeChoice ? e : undefined;
  }
  if (e.decision === 'deny') return e;
  return e.configDigest !== undefined && e.platformDigest === undefined ? e : undefined;
}
