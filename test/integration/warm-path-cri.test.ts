/**
 * The warm path on a containerd node: the hook asks the runtime over CRI (ContainerStatus,
 * verbose) on every start, through libuv's pipe handle (src/h2/unix-socket.ts), and so loads
 * none of node:net, the stream modules or node:http2 for it (node:net alone was ~1-2 ms of every
 * start while the CRI client imported it at load: issue 15). Run off the built bundle as the
 * hook on a cached allow, against a CRI stand-in (node:http2 in this test process) that answers
 * as containerd 2.1 does; the answer is what binds the cached verdict to what runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/cri/codec.js';
import { ContainerStatusResponse } from '../../src/cri/gen/sigguard-cri.js';
import { frameMessage } from '../../src/cri/grpc.js';
import { hookState } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { builtinsBeyondBoot, builtinsTracer, storeAllowVerdict, warmHookFiles } from '../support/warm-hook.js';

const BUNDLE = join(ROOT, 'build/out/sigguard.cjs');
const closers: Array<() => void> = [];
afterAll(() => {
  for (const c of closers) c();
});

describe('the warm path on a containerd node', () => {
  it('asks containerd over CRI and loads no node:net, stream or http2 module for it', async () => {
    expect(existsSync(BUNDLE), `${BUNDLE} missing: build first (node build/bundle.mjs)`).toBe(true);
    const { dir, policyFile, configFile } = warmHookFiles('sigguard-warm-cri-', 'containerd.sock');
    const socket = join(dir, 'containerd.sock');

    // the verdict a verification stored, bound to the image's config digest
    const digest = `sha256:${'a'.repeat(64)}`;
    const configDigest = `sha256:${'c'.repeat(64)}`;
    const image = `127.0.0.1:9/app@${digest}`;
    await storeAllowVerdict(policyFile, configFile, image, configDigest);

    // containerd 2.1's answer for the container: the pod's image, the digest it runs, the image id
    const asked: string[] = [];
    const answer = frameMessage(
      encodeMessage(ContainerStatusResponse, {
        status: { id: 'warm-1', image: { image: configDigest, userSpecifiedImage: image }, imageRef: image, imageId: '' },
        info: { info: JSON.stringify({ config: { image: { image: configDigest, user_specified_image: image } } }) },
      }),
    );
    const cri = http2.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked.push(req.url);
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
        res.end(answer);
      });
    });
    await new Promise<void>((r) => cri.listen(socket, r));
    closers.push(() => cri.close());

    const builtins = builtinsTracer(dir);
    const log = join(dir, 'decisions.log');
    const state = hookState('warm-1', image);
    // asynchronously: the CRI stand-in answers from this process
    const hook = () =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          ['--require', builtins, BUNDLE, 'hook', '--config', configFile, '--policy', policyFile, '--log', log],
          {
            env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SIGGUARD_TRACE')),
          },
        );
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => resolve({ status, stderr }));
        child.stdin.end(state);
      });
    expect((await hook()).status).toBe(0); // validates and keeps the documents
    const r = await hook();
    const decision = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect({ code: r.status, decision: decision.decision, cache: decision.cache }, r.stderr).toEqual({
      code: 0,
      decision: 'allow',
      cache: 'hit',
    });
    expect(asked).toEqual(['/runtime.v1.RuntimeService/ContainerStatus', '/runtime.v1.RuntimeService/ContainerStatus']);
    const loaded = builtinsBeyondBoot(r.stderr, builtins);
    expect(
      loaded.filter((m) => /^(net$|stream$|internal\/streams\/|http2$|internal\/http2\/|crypto$|internal\/crypto\/)/.test(m)),
      'built-in modules a warm start on a containerd node must not load',
    ).toEqual([]);
  });
});
