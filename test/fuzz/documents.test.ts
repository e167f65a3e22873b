/**
 * Fuzzing policy and configuration documents: YAML/JSON text and parsed trees near real ones.
 * Only POLICY_INVALID / CONFIG_INVALID (one line) ever comes out; a policy that loads never
 * turns a default refusal into acceptance by accident (it accepts only where it says so).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import { parseDocument } from '../../src/document/parse.js';
import { buildPolicy, validatePolicyWith } from '../../src/policy/load.js';
import * as policySchema from '../../src/policy/schema.js';
import { TEST_TIMEOUT_MS, countedAsync, expectOnly, jsonNear, params, textNear, thrownAsync } from './fuzz-support.js';
import { tempDir } from '../support/temp.js';

let dir: string;
let keyB64: string;
beforeAll(() => {
  // the yaml package reports odd input with process.emitWarning: thousands of lines here
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
    if ((w instanceof Error ? w.name : String(rest[0] ?? '')) === 'YAMLWarning') return;
    (emit as (...a: unknown[]) => void)(w, ...rest);
  }) as typeof process.emitWarning;
  dir = tempDir('sigguard-fuzz-doc-');
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  writeFileSync(join(dir, 'cosign.pub'), pem);
  keyB64 = Buffer.from(pem).toString('base64');
});

const POLICY_YAML = `version: 1
mode: enforce
default: reject
exemptNamespaces: [kube-system]
tagResolution: never
nonKubernetes: verify
scopes:
  "localhost:5001":
    - type: sigstoreSigned
      keyPath: cosign.pub
      signedIdentity: {type: matchRepository}
  "localhost:5001/team/app":
    - type: sigstoreSigned
      keyPaths: [cosign.pub, cosign.pub]
      signedIdentity: {type: remapIdentity, prefix: localhost:5001/team, signedPrefix: registry.example.com/team}
      signatureFormats: [legacy]
  "*.example.com":
    - type: reject
  "registry.k8s.io":
    - type: insecureAcceptAnything
`;
const policyDoc = () => ({
  version: 1,
  default: 'reject',
  exemptNamespaces: ['kube-system'],
  scopes: {
    'localhost:5001': [{ type: 'sigstoreSigned', keyPath: 'cosign.pub', signedIdentity: { type: 'matchRepository' } }],
    'localhost:5001/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef': [{ type: 'reject' }],
    'docker.io/library/busybox': [
      {
        type: 'sigstoreSigned',
        keyData: keyB64,
        signedIdentity: { type: 'exactReference', dockerReference: 'docker.io/library/busybox:1.36' },
      },
    ],
    '*.example.com': [{ type: 'reject' }],
  },
});

const CONFIG_YAML = `registry:
  authFiles: [/root/.docker/config.json]
  certsDir: /etc/containerd/certs.d
  insecureRegistries: ["registry.lan:5000"]
  caFiles: {"registry.lan:5443": [/etc/sigguard/ca.pem]}
node:
  containerdSocket: /run/containerd/containerd.sock
  crioSocket: /var/run/crio/crio.sock
cache:
  enabled: true
  dir: /var/lib/sigguard/cache
  ttlSeconds: 3600
  denyBackoffSeconds: 30
  maxStaleSeconds: 86400
platform: {os: linux, architecture: amd64}
`;
const configDoc = () => ({
  registry: { insecureRegistries: ['registry.lan:5000'], caFiles: { 'registry.lan:5443': ['/etc/sigguard/ca.pem'] } },
  node: { containerdSocket: '/run/containerd/containerd.sock' },
  cache: { enabled: true, ttlSeconds: 60, maxStaleSeconds: 0 },
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
});

const is = (code: ReasonCode) => (e: unknown) => e instanceof SigguardError && e.code === code && !/\n/.test(e.message);

async function loadPolicyText(text: string) {
  const doc = await parseDocument(text, 'fuzz.yaml', ReasonCode.POLICY_INVALID);
  return buildPolicy(validatePolicyWith(policySchema, doc, 'fuzz.yaml'), 'fuzz.yaml', dir);
}

/** What a loaded policy says about a scope-free image: only `default: accept` (or its absence of a reject) may accept it. */
function checkLoaded(policy: Awaited<ReturnType<typeof loadPolicyText>>): void {
  expect(['enforce', 'warn']).toContain(policy.mode);
  expect(['reject', 'accept']).toContain(policy.default);
  for (const [scope, reqs] of policy.scopes) {
    expect(typeof scope).toBe('string');
    expect(reqs.length).toBeGreaterThan(0);
    for (const r of reqs) {
      if (r.type === 'sigstoreSigned') {
        expect(r.signatureFormats.length).toBeGreaterThan(0);
        // a sigstoreSigned requirement always has something to trust
        expect(r.keys.length > 0 || r.trust.kind !== 'keys').toBe(true);
      }
    }
  }
}

describe('fuzz: policy and config documents', () => {
  it(
    'policy text (YAML and JSON) near a real policy: a policy or POLICY_INVALID',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          textNear(POLICY_YAML, JSON.stringify(policyDoc(), null, 2)),
          countedAsync('policy.text', async (text) => {
            let policy: Awaited<ReturnType<typeof loadPolicyText>> | undefined;
            expectOnly(
              await thrownAsync(async () => (policy = await loadPolicyText(text))),
              is(ReasonCode.POLICY_INVALID),
              'POLICY_INVALID',
            );
            if (policy) checkLoaded(policy);
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'policy trees near a real policy: a policy or POLICY_INVALID',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          jsonNear(policyDoc()),
          countedAsync('policy.tree', async (doc) => {
            let policy: ReturnType<typeof buildPolicy> | undefined;
            expectOnly(
              await thrownAsync(async () => (policy = buildPolicy(validatePolicyWith(policySchema, doc, 'fuzz.json'), 'fuzz.json', dir))),
              is(ReasonCode.POLICY_INVALID),
              'POLICY_INVALID',
            );
            if (policy) checkLoaded(policy);
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'config text and trees near a real config: a config or CONFIG_INVALID',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            textNear(CONFIG_YAML).map((t) => ({ text: t })),
            jsonNear(configDoc()).map((d) => ({ doc: d })),
          ),
          countedAsync('config', async (input) => {
            let cfg: Awaited<ReturnType<typeof compileConfig>> | undefined;
            const err = await thrownAsync(async () => {
              const doc = 'text' in input ? await parseDocument(input.text, 'fuzz.yaml', ReasonCode.CONFIG_INVALID) : input.doc;
              cfg = await compileConfig(doc, 'fuzz.yaml');
            });
            expectOnly(err, is(ReasonCode.CONFIG_INVALID), 'CONFIG_INVALID');
            if (cfg) {
              expect(typeof cfg.node.containerdSocket).toBe('string');
              if (cfg.cache) expect(cfg.cache.ttlMs).toBeGreaterThanOrEqual(0);
            }
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
