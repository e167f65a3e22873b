/**
 * A small CRI server on a unix socket that answers ImageStatus as CRI-O does (image id, repo
 * tags, repo digests), for the hook on CRI-O without a CRI-O. Every other call: UNIMPLEMENTED.
 */
import { mkdtempSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameMessage, unframeMessage } from '../../src/cri/grpc.js';
import { encode } from '../../src/cri/messages.js';
import { ProtoMessage } from '../../src/cri/protobuf.js';

export class FakeCrio {
  /** image asked for → the image id and repo digests CRI-O would answer */
  readonly images = new Map<string, { id: string; repoDigests: string[] }>();
  /** The images asked for, in order. */
  readonly asked: string[] = [];

  private constructor(
    readonly socket: string,
    private readonly server: http2.Http2Server,
  ) {}

  static async start(): Promise<FakeCrio> {
    const socket = join(mkdtempSync(join(tmpdir(), 'sigguard-crio-')), 'crio.sock');
    const server = http2.createServer();
    const crio = new FakeCrio(socket, server);
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (String(headers[':path']) !== '/runtime.v1.ImageService/ImageStatus') {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
          return;
        }
        const asked = ProtoMessage.decode(unframeMessage(Buffer.concat(chunks))).message(1)?.string(1) ?? '';
        crio.asked.push(asked);
        const image = crio.images.get(asked);
        // ImageStatusResponse { image = 1 (Image { id = 1; repo_tags = 2; repo_digests = 3 }) }; none: no image
        const body = encode((m) =>
          m.message(1, image ? (i) => i.string(1, image.id).string(2, `${image.repoDigests[0]!.split('@')[0]}:v1`).strings(3, image.repoDigests) : undefined),
        );
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(frameMessage(body));
      });
    });
    await new Promise<void>((r) => server.listen(socket, r));
    return crio;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The OCI state CRI-O hands a hook for a container of `imageName` whose image has id `imageId`. */
export function crioState(id: string, imageName: string, imageId: string): string {
  return JSON.stringify({
    ociVersion: '1.2.0',
    id,
    status: 'creating',
    pid: 1,
    bundle: '/nonexistent',
    annotations: {
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.ImageName': imageName,
      'io.kubernetes.cri-o.Image': imageId,
      'io.kubernetes.cri-o.ImageRef': imageId,
      'io.kubernetes.cri-o.Namespace': 'default',
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.container.name': 'app',
    },
  });
}
