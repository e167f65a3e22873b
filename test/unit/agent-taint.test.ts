/**
 * `sigguard agent --remove-taint`: the registration taint removed from the agent's own Node through
 * the API server (src/agent/taint.ts), against a small API server on loopback (TLS from a test CA)
 * that keeps one Node and applies JSON patches as the API server does (test ops, then remove).
 * Cases: removed (only that taint, with a resourceVersion precondition), already gone, a conflict
 * (422 failed test, 409) retried (the Node changed between read and patch), 403, garbage and wrong-shape JSON,
 * a server that hangs, a server whose certificate another CA signed, an oversized answer.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type KubeAccess, inClusterAccess, parseTaint, removeTaint } from '../../src/agent/taint.js';
import { FakeApi, freshNode } from '../support/fake-kube-api.js';
import { makePki } from '../support/tls.js';

let dir: string;
let pki: ReturnType<typeof makePki>;
let otherPki: ReturnType<typeof makePki>;
const TOKEN = 'test-token-abc';

let api: FakeApi;
let access: KubeAccess;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-taint-'));
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  pki = makePki(join(dir, 'a'));
  otherPki = makePki(join(dir, 'b'), 'another CA');
  mkdirSync(join(dir, 'sa'));
  writeFileSync(join(dir, 'sa/token'), `${TOKEN}\n`);
  writeFileSync(join(dir, 'sa/ca.crt'), pki.ca);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startApi(cert = pki): Promise<void> {
  api = new FakeApi(TOKEN);
  const port = await api.start(cert);
  access = inClusterAccess(
    { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port), NODE_NAME: 'node-1' },
    join(dir, 'sa'),
  );
}
afterEach(async () => {
  await api?.stop();
});

const OURS = { key: 'sigguard.dev/not-ready', effect: 'NoSchedule' };
const KUBELETS = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };
const OTHER = { key: 'dedicated', value: 'gpu', effect: 'NoExecute' };
const want = parseTaint('sigguard.dev/not-ready');

describe('agent --remove-taint: parsing and the pod’s environment', () => {
  it('a qualified taint key, optionally :EFFECT; NODE_NAME, the API server and the CA must be there', () => {
    expect(parseTaint('sigguard.dev/not-ready')).toEqual({ key: 'sigguard.dev/not-ready', effect: undefined });
    expect(parseTaint('sigguard.dev/not-ready:NoSchedule')).toEqual({ key: 'sigguard.dev/not-ready', effect: 'NoSchedule' });
    for (const bad of ['', 'a b', 'x:Sometimes', 'a:NoSchedule:x', '/x', 'UPPER.example/x', `x/${'y'.repeat(64)}`])
      expect(() => parseTaint(bad), bad).toThrow(/--remove-taint/);
    const sa = join(dir, 'sa');
    expect(() => inClusterAccess({ NODE_NAME: 'n' }, sa)).toThrow(/KUBERNETES_SERVICE_HOST/);
    expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, sa)).toThrow(/NODE_NAME/);
    expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', NODE_NAME: '../nodes' }, sa)).toThrow(/NODE_NAME/);
    expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', NODE_NAME: 'n' }, join(dir, 'none'))).toThrow(/ca.crt/);
    expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: '[fd00::1]', KUBERNETES_SERVICE_PORT: '6443', NODE_NAME: 'n' }, sa)).toMatchObject({
      host: 'fd00::1',
      port: 6443,
      nodeName: 'n',
    });
  });
});

describe('agent --remove-taint: against an API server on loopback', () => {
  it('removes only that taint, by a JSON patch that tests the resourceVersion and the taint first', async () => {
    await startApi();
    api.node = freshNode([KUBELETS, OURS, OTHER]);
    expect(await removeTaint(access, want)).toBe('removed');
    expect(api.node.spec.taints).toEqual([KUBELETS, OTHER]);
    expect(api.node.metadata.labels).toEqual({ 'kubernetes.io/hostname': 'node-1' });
    const patch = api.requests.find((r) => r.method === 'PATCH');
    expect(patch?.auth).toBe(`Bearer ${TOKEN}`);
    expect(patch?.type).toBe('application/json-patch+json');
    expect(JSON.parse(patch?.body ?? '')).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '100' },
      { op: 'test', path: '/spec/taints/1', value: OURS },
      { op: 'remove', path: '/spec/taints/1' },
    ]);
    // with an effect named, a taint of that key with another effect stays
    api.node = freshNode([{ key: 'sigguard.dev/not-ready', effect: 'NoExecute' }]);
    expect(await removeTaint(access, parseTaint('sigguard.dev/not-ready:NoSchedule'))).toBe('absent');
    expect(api.node.spec.taints).toHaveLength(1);
  });

  it('the taint already gone (or no taints at all): nothing is patched', async () => {
    await startApi();
    api.node = freshNode([KUBELETS]);
    expect(await removeTaint(access, want)).toBe('absent');
    api.node = freshNode([]);
    delete api.node.spec.taints;
    expect(await removeTaint(access, want)).toBe('absent');
    expect(api.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  it('the Node changed between read and patch (a taint added before ours; its JSON-patch test fails, 422): read again, only ours removed', async () => {
    await startApi();
    api.node = freshNode([OURS, OTHER]);
    api.meanwhile = () => {
      api.node.spec.taints = [KUBELETS, ...(api.node.spec.taints ?? [])];
      api.node.metadata.resourceVersion = '101';
    };
    expect(await removeTaint(access, want)).toBe('removed');
    expect(api.node.spec.taints).toEqual([KUBELETS, OTHER]);
    expect(api.requests.map((r) => r.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
    // a Node that changes at every try (409 Conflict, the update's own resourceVersion check): bounded
    api.node = freshNode([OURS]);
    api.override = (req, _body, res) => {
      res.writeHead(req.method === 'GET' ? 200 : 409, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'GET' ? api.node : { kind: 'Status', reason: 'Conflict', message: 'changed' }));
    };
    await expect(removeTaint(access, want, { conflicts: 2 })).rejects.toThrow(/still conflicting after 3 tries/);
    // one failed JSON-patch test (422 Invalid), then the patch applies: read again the same way
    const before = api.requests.length;
    let patches = 0;
    const handle = (api as unknown as { handle: NonNullable<FakeApi['override']> }).handle.bind(api);
    api.override = (req, body, res) => {
      if (req.method === 'PATCH' && patches++ === 0) {
        res.writeHead(422, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', reason: 'Invalid', message: 'testing value /metadata/resourceVersion failed' }));
      } else handle(req, body, res);
    };
    expect(await removeTaint(access, want)).toBe('removed');
    expect(api.node.spec.taints).toEqual([]);
    expect(api.requests.slice(before).map((r) => r.method)).toEqual(['GET', 'PATCH', 'GET', 'PATCH']);
  });

  it('403 (no RBAC, or the admission policy refused): a one-line error with the API server’s message', async () => {
    await startApi();
    api.node = freshNode([OURS]);
    api.override = (req, _body, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(api.node));
        return;
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          reason: 'Forbidden',
          message: 'nodes "node-1" is forbidden: ValidatingAdmissionPolicy sigguard-agent-node-taint denied request',
        }),
      );
    };
    await expect(removeTaint(access, want)).rejects.toThrow(/HTTP 403: nodes "node-1" is forbidden: ValidatingAdmissionPolicy/);
    api.override = undefined;
    writeFileSync(join(dir, 'sa/token'), 'wrong\n'); // a token the server does not take
    try {
      await expect(removeTaint(access, want)).rejects.toThrow(/reading Node node-1: HTTP 401/);
    } finally {
      writeFileSync(join(dir, 'sa/token'), `${TOKEN}\n`);
    }
  });

  it('garbage, a Node of another name, a Status instead of a Node: refused, nothing patched', async () => {
    await startApi();
    for (const [text, err] of [
      ['{"kind":"Node",', /not JSON/],
      ['[1,2]', /not the expected object/],
      [JSON.stringify({ ...freshNode([OURS]), kind: 'Status' }), /not the expected object/],
      [JSON.stringify({ ...freshNode([OURS]), spec: { taints: [{ key: 1 }] } }), /not the expected object/],
      [JSON.stringify({ ...freshNode([OURS]), metadata: { name: 'node-2', resourceVersion: '1' } }), /answered Node node-2/],
    ] as const) {
      api.override = (_req, _body, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      };
      await expect(removeTaint(access, want), text).rejects.toThrow(err);
    }
    expect(api.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  it('a server that hangs, or answers without end: bounded', async () => {
    await startApi();
    api.override = () => {}; // never answers
    const t0 = Date.now();
    await expect(removeTaint(access, want, { timeoutMs: 500 })).rejects.toThrow(/no answer from the API server within 500 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
    api.override = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      for (let i = 0; i < 9; i++) res.write(chunk);
      res.end('{}');
    };
    await expect(removeTaint(access, want, { timeoutMs: 5000 })).rejects.toThrow(/larger than/);
  });

  it('the admission policy in force: a dry run adding a taint is refused (403), then only ours comes off', async () => {
    await startApi();
    api.node = freshNode([KUBELETS, OURS]);
    expect(await removeTaint(access, want, { probe: true })).toBe('removed');
    expect(api.node.spec.taints).toEqual([KUBELETS]);
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.url)).toEqual(['/api/v1/nodes/node-1?dryRun=All', '/api/v1/nodes/node-1']);
    expect(JSON.parse(patches[0]?.body ?? '')).toEqual([
      { op: 'add', path: '/spec/taints/-', value: { key: 'sigguard.dev/admission-probe', effect: 'NoSchedule' } },
    ]);
  });

  it('no admission policy narrowing the token (Kubernetes before 1.30, the policy not applied, its service account renamed): the dry run is accepted, the taint stays', async () => {
    await startApi();
    api.admissionPolicy = false; // this service account may patch any field of any node
    api.node = freshNode([KUBELETS, OURS]);
    await expect(removeTaint(access, want, { probe: true })).rejects.toThrow(
      /accepted a dry run adding a taint to Node node-1: no ValidatingAdmissionPolicy narrows/,
    );
    expect(api.node.spec.taints).toEqual([KUBELETS, OURS]); // nothing removed, the dry run kept nothing
    expect(api.node.metadata.resourceVersion).toBe('100');
    // any other answer to the dry run: an error too, the taint stays
    api.admissionPolicy = true;
    api.override = (req, _body, res) => {
      res.writeHead(req.method === 'GET' ? 200 : 500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'GET' ? api.node : { kind: 'Status', message: 'etcd is down' }));
    };
    await expect(removeTaint(access, want, { probe: true })).rejects.toThrow(
      /probing the admission policy on Node node-1: HTTP 500: etcd is down/,
    );
    expect(api.node.spec.taints).toEqual([KUBELETS, OURS]);
  });

  it('an API server whose certificate the service account’s CA did not sign: refused before the token is sent', async () => {
    await startApi(otherPki);
    await expect(removeTaint(access, want)).rejects.toThrow(/certificate/);
    expect(api.requests).toEqual([]);
  });
});
