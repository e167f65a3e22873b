/** NodeImages over a CRI socket (containerd or CRI-O), with every failure a one-line refusal. */
import { CriClient, CriError, GrpcUnixClient } from '../cri/client.js';
import { expired } from '../deadline.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { object, optional, string } from '../schema/lite.js';
import type { NodeImages } from './node-digest.js';

function failure(socket: string, call: string, err: unknown, signal: AbortSignal): SigguardError {
  // a call cut short by the deadline is the deadline's refusal, never a runtime that cannot be asked
  const late = expired(signal);
  if (late) return late;
  const what = err instanceof CriError ? err.message : (err as Error).message;
  return new SigguardError(ReasonCode.NODE_LOOKUP_FAILED, `cannot ask the runtime at ${socket} (${call}): ${what}`);
}

// The lite schema, not zod: this runs on every containerd container start (see schema/lite.ts).
const verboseInfoSchema = object({
  config: optional(object({ image: optional(object({ image: optional(string()), user_specified_image: optional(string()) })) })),
});

/** containerd's verbose ContainerStatus info: {"config": {"image": {"image": <id>, "user_specified_image": <pod spec>}}}. */
function verboseImage(raw: string | undefined): { image?: string; userSpecifiedImage?: string } {
  if (raw === undefined) return {};
  try {
    const parsed = verboseInfoSchema.parse(JSON.parse(raw));
    const img = parsed.ok ? parsed.value.config?.image : undefined;
    return {
      ...(img?.image ? { image: img.image } : {}),
      ...(img?.user_specified_image ? { userSpecifiedImage: img.user_specified_image } : {}),
    };
  } catch {
    return {};
  }
}

/** Connections kept to each runtime socket, for a process that asks on every start (the agent). */
const kept = new Map<string, GrpcUnixClient>();

/**
 * The runtime's answers under the command's deadline (src/deadline.ts). `keep`: over a connection
 * kept open for the next call (the agent, which asks on every start: no connect and HTTP/2
 * handshake each time, ~0.2 ms of a warm decision on a containerd 2.1 node); one that closed (the
 * runtime restarted) is opened again on the next call. The hook, which asks once and exits, opens
 * its own.
 */
export function criNodeImages(socket: string, signal: AbortSignal, keep = false): NodeImages & { close(): void } {
  let transport: GrpcUnixClient | undefined;
  if (keep) {
    transport = kept.get(socket);
    if (transport === undefined) {
      transport = new GrpcUnixClient(socket);
      kept.set(socket, transport);
    }
  }
  const client = new CriClient(socket, { signal, ...(transport ? { transport } : {}) });
  return {
    async containerImage(containerId) {
      try {
        const { status, info } = await client.containerImage(containerId);
        if (status === undefined) throw new Error(`no status for container ${containerId}`);
        const spec = verboseImage(info);
        const imageId = status.imageId || spec.image || (status.image?.image.startsWith('sha256:') ? status.image.image : '');
        return { imageId, imageRef: status.imageRef, userSpecifiedImage: spec.userSpecifiedImage ?? status.image?.userSpecifiedImage };
      } catch (err) {
        throw failure(socket, 'ContainerStatus', err, signal);
      }
    },
    async repoDigests(imageId) {
      try {
        const { image } = await client.imageStatus({ image: imageId });
        return image?.repoDigests;
      } catch (err) {
        throw failure(socket, 'ImageStatus', err, signal);
      }
    },
    async imageStatus(image) {
      try {
        const { image: found } = await client.imageStatus({ image });
        return found ? { id: found.id, repoDigests: found.repoDigests } : undefined;
      } catch (err) {
        throw failure(socket, 'ImageStatus', err, signal);
      }
    },
    close: () => client.close(),
  };
}
