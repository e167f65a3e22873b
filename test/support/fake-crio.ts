/**
 * A small CRI server on a unix socket that answers ImageStatus as CRI-O does (image id, repo
 * tags, repo digests), for the hook on CRI-O without a CRI-O. Every other call: UNIMPLEMENTED.
 * @grpc/grpc-js with CRI's own api.proto, not sigguard's CRI code: a bug in sigguard's codec or
 * transport cannot cancel out.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ociState } from './oci-bundle.js';
import { TOOLS } from './paths.js';
import { tempDir } from './temp.js';

/** CRI's api.proto as Debian ships it (build/tools.sh). */
const CRI_API_PROTO = join(TOOLS, 'cri-api/api.proto');

interface ImageStatusCall {
  image: { image: string } | null;
}

export class FakeCrio {
  /** image asked for → the image id and repo digests CRI-O would answer */
  readonly images = new Map<string, { id: string; repoDigests: string[] }>();
  /** The images asked for, in order. */
  readonly asked: string[] = [];

  private constructor(
    readonly socket: string,
    private readonly server: grpc.Server,
  ) {}

  /** `socket`: where to listen (a new temporary path if not given; a path another FakeCrio left is taken over). */
  static async start(socket = join(tempDir('sigguard-crio-'), 'crio.sock')): Promise<FakeCrio> {
    if (!existsSync(CRI_API_PROTO)) throw new Error(`CRI api.proto missing at ${CRI_API_PROTO}: run \`make tools\``);
    const definition = protoLoader.loadSync(CRI_API_PROTO, { keepCase: false, longs: Number, enums: String, defaults: true });
    const v1 = (grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: Record<string, grpc.ServiceClientConstructor> } })
      .runtime.v1;
    rmSync(socket, { force: true });
    const server = new grpc.Server();
    const crio = new FakeCrio(socket, server);
    // only ImageStatus; every other call of the service: UNIMPLEMENTED (grpc-js's answer for a missing handler)
    server.addService(v1.ImageService!.service, {
      imageStatus(call: grpc.ServerUnaryCall<ImageStatusCall, unknown>, callback: grpc.sendUnaryData<unknown>) {
        const asked = call.request.image?.image ?? '';
        crio.asked.push(asked);
        const image = crio.images.get(asked);
        callback(
          null,
          image ? { image: { id: image.id, repoTags: [`${image.repoDigests[0]!.split('@')[0]}:v1`], repoDigests: image.repoDigests } } : {},
        );
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    return crio;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.tryShutdown(() => r()));
  }
}

/** The OCI state CRI-O hands a hook for a container of `imageName` whose image has id `imageId`. */
export function crioState(id: string, imageName: string, imageId: string): string {
  return ociState(id, {
    'io.kubernetes.cri-o.ContainerType': 'container',
    'io.kubernetes.cri-o.ImageName': imageName,
    'io.kubernetes.cri-o.Image': imageId,
    'io.kubernetes.cri-o.ImageRef': imageId,
    'io.kubernetes.cri-o.Namespace': 'default',
    'io.kubernetes.pod.name': 'web',
    'io.kubernetes.container.name': 'app',
  });
}
