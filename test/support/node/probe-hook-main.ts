/**
 * A createRuntime hook that only looks: it reads the OCI state, asks the
 * node's CRI socket for ContainerStatus(<id>, verbose) while the runtime is
 * still inside StartContainer, writes what it saw to <outDir>/<id>.json and
 * always exits 0. It tells sigguard's authors exactly what a hook can learn
 * about a container at that moment. Bundled by probe-hook.ts.
 *
 * The CRI call goes through @grpc/grpc-js and CRI's api.proto (cri-peer.ts), not sigguard's client.
 *
 *   node probe-hook.cjs <cri-socket> <outDir> <api.proto>   (OCI state on stdin)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CriPeer } from './cri-peer.js';

async function main(): Promise<void> {
  const [socket, outDir, protoPath] = process.argv.slice(2);
  if (!socket || !outDir || !protoPath) throw new Error('usage: probe-hook <cri-socket> <outDir> <api.proto>');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const state = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    id: string;
    bundle: string;
    status: string;
    annotations?: Record<string, string>;
  };
  let annotations = state.annotations ?? {};
  if (Object.keys(annotations).length === 0) {
    try {
      annotations = JSON.parse(readFileSync(join(state.bundle, 'config.json'), 'utf8')).annotations ?? {};
    } catch {
      /* keep none */
    }
  }
  const record: Record<string, unknown> = { id: state.id, ociStatus: state.status, annotations };
  const cri = new CriPeer(socket, 3000, protoPath);
  const t0 = performance.now();
  try {
    const res = await cri.containerStatus(state.id, true);
    record.containerStatus = res.status;
    const info: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(res.info)) {
      try {
        info[k] = JSON.parse(v);
      } catch {
        info[k] = v;
      }
    }
    record.info = info;
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    record.containerStatusMs = Math.round(performance.now() - t0);
    cri.close();
  }
  writeFileSync(join(outDir, `${state.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`probe-hook: ${(err as Error).message}\n`);
    process.exit(0); // a probe never refuses a container
  },
);
