/** A runtime's gRPC answer on a node:http2 server stream (for tests of sigguard's own CRI client). */
import type http2 from 'node:http2';
import { encodeMessage } from '../../src/cri/codec.js';
import { RuntimeService } from '../../src/cri/gen/sigguard-cri.js';
import { frameMessage } from '../../src/cri/grpc.js';

/** Answers a ContainerStatus call with container `id`, a repo digest and an image id, status OK in the trailers. */
export function answerContainerStatus(stream: http2.ServerHttp2Stream, id: string): void {
  const body = encodeMessage(RuntimeService.ContainerStatus.output, {
    status: { id, imageRef: `registry.example/app@sha256:${'a'.repeat(64)}`, imageId: `sha256:${'b'.repeat(64)}` },
  });
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(frameMessage(body));
}
