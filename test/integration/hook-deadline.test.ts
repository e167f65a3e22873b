/**
 * The hook's one deadline reaches CRI: a runtime that takes the call and never answers is
 * cut off by the hook's deadline, which refuses with DEADLINE_EXCEEDED and a decision-log
 * line (not NODE_LOOKUP_FAILED, and not by falling back to the annotation and the registry).
 */
import http2 from 'node:http2';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard } from '../support/cli.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-hook-deadline-');
const socket = join(dir, 'containerd.sock');
const asked: string[] = [];
let server: http2.Http2Server;

beforeAll(async () => {
  requireTools(SIGGUARD);
  server = http2.createServer();
  server.on('stream', (_stream, headers) => {
    // takes the call, never answers
    asked.push(`${String(headers[':path'])} ${String(headers['grpc-timeout'])}`);
  });
  await new Promise<void>((r) => server.listen(socket, r));
});

afterAll(async () => {
  (server as { closeAllSessions?: () => void }).closeAllSessions?.();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('the hook deadline through CRI', () => {
  it('a runtime that never answers: refused DEADLINE_EXCEEDED by the deadline, with its decision-log line', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = join(dir, 'trusted.pub');
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `version: 1\ndefault: reject\nscopes:\n  "127.0.0.1:9":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n`);
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `node:\n  containerdSocket: ${socket}\n`);
    const log = join(dir, 'decisions.log');
    const image = `127.0.0.1:9/app@sha256:${'b'.repeat(64)}`;
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: 'cri-hang',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(image),
    });
    // The runtime never answers: only the hook's deadline can end the call. A hook it did not end
    // would be killed by the outer 20 s timeout (a runtime's hook timeout) with neither a refusal
    // line nor a decision-log line, so no elapsed time is asserted.
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log, '--deadline', '1'], {
      input: state,
      timeoutMs: 20_000,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/: hook deadline of 1 s exceeded \[DEADLINE_EXCEEDED\]\n$/);
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect(line).toMatchObject({
      decision: 'deny',
      code: 'DEADLINE_EXCEEDED',
      containerId: 'cri-hang',
      reason: 'hook deadline of 1 s exceeded',
    });
    // the runtime was asked with what was left of the hook's deadline, not a timeout of its own
    expect(asked).toHaveLength(1);
    const [path, timeout] = asked[0]!.split(' ');
    expect(path).toBe('/runtime.v1.RuntimeService/ContainerStatus');
    expect(Number(/^(\d+)m$/.exec(timeout!)?.[1])).toBeLessThanOrEqual(1000);
  }, 30_000);
});
