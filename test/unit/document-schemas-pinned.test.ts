/**
 * The policy's and the configuration's schemas moved from zod's classic API to zod/mini (f608a1a,
 * src/zod-docs.ts). What a document gives was meant to stay the same: accepted or refused, its
 * defaults and trimmed values, the first problem's path and message, the number of problems. Every
 * expectation here was established by running these documents through the classic schemas of
 * f608a1a's parent (and the mini ones agreed on them all, and on 30,000 generated documents per
 * schema, each side in a process of its own). The tricky parts: the superRefine checks (fulcio, pki,
 * keyless identities, the trust fields), defaults of absent blocks (prefault) and fields, trim before
 * the length limits, integer bounds, strict objects, the discriminated unions with an unknown type,
 * `__proto__` / `constructor` keys, and large or deeply nested documents (bounded time, no JIT).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { firstIssue } from '../../src/document/zod-issue.js';
import { ReasonCode } from '../../src/errors.js';
import { loadPolicy } from '../../src/policy/load.js';
import { policySchemas } from '../../src/policy/schema.js';
import { codeGeneratedBy } from '../support/generated-code.js';

type Expected = { data: unknown } | { first: string; issues: number };
const view = (r: { success: boolean; data?: unknown; error?: { issues: never[] } }): Expected =>
  r.success ? { data: r.data } : { first: Object.values(firstIssue(r.error!)).join(': '), issues: r.error!.issues.length };

const POLICY = {
  version: 1,
  mode: 'enforce',
  default: 'reject',
  exemptNamespaces: [],
  tagResolution: 'never',
  nonKubernetes: 'verify',
  scopes: {},
  denyDigests: [],
};
const CONFIG = {
  registry: { insecureRegistries: [], caFiles: {} },
  cache: { enabled: true },
  node: { containerdSocket: '/run/containerd/containerd.sock', crioSocket: '/var/run/crio/crio.sock' },
  trust: {},
};
const own = (json: string) => JSON.parse(json) as unknown; // "__proto__" as an own key, as the YAML and JSON readers give it
const s = (req: unknown) => ({ version: 1, scopes: { 'a.example': [req] } });
const ok = (req: unknown) => ({ data: { ...POLICY, scopes: { 'a.example': [req] } } });
const bad = (first: string, issues = 1) => ({ first, issues });
const at = (rest: string) => `scopes."a.example"[0]${rest}`;
const id = { issuer: 'https://i', subject: 's@x' };
const hex = 'a'.repeat(64);
const KEYS = 'keyPath, keyPaths, keyData, keyDatas, fulcio, pki, keyless';
const REKOR = 'rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData, rekorPublicKeyDatas';
const attested = (more: object) => ({ type: 'sigstoreAttested', predicateType: 'x:y', keyPath: '/k', ...more });

const policyCases: Array<[string, unknown, Expected]> = [
  ['defaults', { version: 1 }, { data: POLICY }],
  ['version as text', { version: '1' }, bad('version: Invalid input: expected 1')],
  ['mode loud', { version: 1, mode: 'loud' }, bad('mode: Invalid option: expected one of "enforce"|"warn"')],
  ['mode null', { version: 1, mode: null }, bad('mode: Invalid option: expected one of "enforce"|"warn"')],
  [
    'keyless defaults',
    s({ type: 'sigstoreSigned', keyless: { identities: [id] } }),
    ok({ type: 'sigstoreSigned', keyless: { trustedRoot: 'public-good', identities: [id], requireRekor: true, requireSCT: true } }),
  ],
  [
    'keyless explicit false',
    s({ type: 'sigstoreSigned', keyless: { trustedRoot: '/r.json', identities: [id], requireRekor: false, requireSCT: false } }),
    ok({ type: 'sigstoreSigned', keyless: { trustedRoot: '/r.json', identities: [id], requireRekor: false, requireSCT: false } }),
  ],
  [
    'keyless no identities',
    s({ type: 'sigstoreSigned', keyless: { identities: [] } }),
    bad(`${at('.keyless.identities')}: Too small: expected array to have >=1 items`),
  ],
  [
    'keyless identity both issuers, no subject',
    s({ type: 'sigstoreSigned', keyless: { identities: [{ issuer: 'a', issuerRegExp: 'b' }] } }),
    bad(`${at('.keyless.identities[0]')}: an identity needs exactly one of issuer, issuerRegExp`, 2),
  ],
  [
    'keyless identity empty',
    s({ type: 'sigstoreSigned', keyless: { identities: [{}] } }),
    bad(`${at('.keyless.identities[0]')}: an identity needs exactly one of issuer, issuerRegExp`, 2),
  ],
  [
    'keyless identity of a wrong type: no refinement on top',
    s({ type: 'sigstoreSigned', keyless: { identities: [{ issuer: 5 }] } }),
    bad(`${at('.keyless.identities[0].issuer')}: Invalid input: expected string, received number`),
  ],
  [
    'keyless extension unknown',
    s({ type: 'sigstoreSigned', keyless: { identities: [id], extensions: { githubWorkflowSha: 'x', nope: 'y' } } }),
    bad(`${at('.keyless.extensions')}: unknown field "nope"`),
  ],
  [
    'keyless with a rekor key',
    s({ type: 'sigstoreSigned', keyless: { identities: [id] }, rekorPublicKeyPath: '/r' }),
    bad(`${at('.rekorPublicKeyPath')}: rekorPublicKeyPath is not used with keyless: its transparency logs come from keyless.trustedRoot`),
  ],
  [
    'keyless with requireRekor outside',
    s({ type: 'sigstoreSigned', keyless: { identities: [id] }, requireRekor: true }),
    bad(`${at('.requireRekor')}: requireRekor belongs inside the keyless block (keyless.requireRekor)`),
  ],
  [
    'fulcio both CAs',
    s({ type: 'sigstoreSigned', fulcio: { caPath: '/c', caData: 'x', oidcIssuer: 'i', subjectEmail: 'e' }, rekorPublicKeyPath: '/r' }),
    bad(`${at('.fulcio')}: fulcio needs exactly one of caPath, caData`),
  ],
  [
    'fulcio no CA',
    s({ type: 'sigstoreSigned', fulcio: { oidcIssuer: 'i', subjectEmail: 'e' }, rekorPublicKeyPath: '/r' }),
    bad(`${at('.fulcio')}: fulcio needs exactly one of caPath, caData`),
  ],
  [
    'fulcio without rekor',
    s({ type: 'sigstoreSigned', fulcio: { caPath: '/c', oidcIssuer: 'i', subjectEmail: 'e' } }),
    bad(`${at('')}: fulcio needs one of ${REKOR} (a Fulcio certificate is trusted only with a Rekor entry)`),
  ],
  [
    'fulcio without email',
    s({ type: 'sigstoreSigned', fulcio: { caPath: '/c', oidcIssuer: 'i' } }),
    bad(`${at('.fulcio.subjectEmail')}: Invalid input: expected string, received undefined`),
  ],
  [
    'pki: everything wrong',
    s({ type: 'sigstoreSigned', pki: { caIntermediatesPath: '/i', caIntermediatesData: 'x' } }),
    bad(`${at('.pki')}: pki needs exactly one of caRootsPath, caRootsData`, 3),
  ],
  [
    'pki with rekor',
    s({ type: 'sigstoreSigned', pki: { caRootsPath: '/r', subjectHostname: 'h' }, rekorPublicKeyData: 'x' }),
    bad(`${at('.rekorPublicKeyData')}: rekorPublicKeyData is not supported with pki (a private PKI has no Rekor)`),
  ],
  [
    'pki',
    s({ type: 'sigstoreSigned', pki: { caRootsData: 'x', subjectEmail: 'e' } }),
    ok({ type: 'sigstoreSigned', pki: { caRootsData: 'x', subjectEmail: 'e' } }),
  ],
  [
    'two key sources',
    s({ type: 'sigstoreSigned', keyPath: '/k', keyData: 'x' }),
    bad(`${at('')}: only one of ${KEYS} may be set (found keyPath, keyData)`),
  ],
  ['no key source', s({ type: 'sigstoreSigned' }), bad(`${at('')}: a sigstoreSigned requirement needs exactly one of ${KEYS}`)],
  [
    'two rekor sources',
    s({ type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: '/r', rekorPublicKeyData: 'x' }),
    bad(`${at('')}: only one of ${REKOR} may be set (found rekorPublicKeyPath, rekorPublicKeyData)`),
  ],
  [
    'requireRekor false with a rekor key',
    s({ type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: '/r', requireRekor: false }),
    bad(`${at('.requireRekor')}: requireRekor: false contradicts rekorPublicKeyPath (a Rekor key means the entry is required)`),
  ],
  ['keyPaths empty', s({ type: 'sigstoreSigned', keyPaths: [] }), bad(`${at('.keyPaths')}: Too small: expected array to have >=1 items`)],
  [
    'keyPaths with an empty one',
    s({ type: 'sigstoreSigned', keyPaths: ['/k', ''] }),
    bad(`${at('.keyPaths[1]')}: Too small: expected string to have >=1 characters`),
  ],
  [
    'signatureFormats empty',
    s({ type: 'sigstoreSigned', keyPath: '/k', signatureFormats: [] }),
    bad(`${at('.signatureFormats')}: Too small: expected array to have >=1 items`),
  ],
  [
    'signatureFormats unknown',
    s({ type: 'sigstoreSigned', keyPath: '/k', signatureFormats: ['bundle', 'x'] }),
    bad(`${at('.signatureFormats[1]')}: Invalid option: expected one of "legacy"|"bundle"`),
  ],
  [
    'signedIdentity of an unknown type',
    s({ type: 'sigstoreSigned', keyPath: '/k', signedIdentity: { type: 'nope' } }),
    bad(`${at('.signedIdentity.type')}: unknown or missing "type"`),
  ],
  [
    'signedIdentity with a field of another type',
    s({ type: 'sigstoreSigned', keyPath: '/k', signedIdentity: { type: 'matchExact', dockerReference: 'x' } }),
    bad(`${at('.signedIdentity')}: unknown field "dockerReference"`),
  ],
  [
    'signedIdentity remapIdentity',
    s({ type: 'sigstoreSigned', keyPath: '/k', signedIdentity: { type: 'remapIdentity', prefix: 'a', signedPrefix: 'b' } }),
    ok({ type: 'sigstoreSigned', keyPath: '/k', signedIdentity: { type: 'remapIdentity', prefix: 'a', signedPrefix: 'b' } }),
  ],
  ['requirement of an unknown type', s({ type: 'nope' }), bad(`${at('.type')}: unknown or missing "type"`)],
  ['requirement without a type', s({ keyPath: '/k' }), bad(`${at('.type')}: unknown or missing "type"`)],
  ['requirement of type null', s({ type: null }), bad(`${at('.type')}: unknown or missing "type"`)],
  ['requirement not an object', s('reject'), bad(`${at('')}: Invalid input: expected object, received string`)],
  ['reject with a field', s({ type: 'reject', keyPath: '/k' }), bad(`${at('')}: unknown field "keyPath"`)],
  [
    "attestation of cosign's signature predicate",
    s(attested({ predicateType: 'https://sigstore.dev/cosign/sign/v1' })),
    bad(
      `${at('.predicateType')}: https://sigstore.dev/cosign/sign/v1 is cosign's signature, not an attestation: require it with sigstoreSigned`,
    ),
  ],
  [
    'attestation of no URI',
    s(attested({ predicateType: 'not a uri' })),
    bad(`${at('.predicateType')}: not a predicate type URI (scheme:…, no spaces)`),
  ],
  ['condition trimmed', s(attested({ condition: '  true \n' })), ok(attested({ condition: 'true' }))],
  ['condition blank', s(attested({ condition: ' \t ' })), bad(`${at('.condition')}: Too small: expected string to have >=1 characters`)],
  [
    'condition of 4096 within spaces (trimmed first)',
    s(attested({ condition: ` ${'x'.repeat(4096)}  ` })),
    ok(attested({ condition: 'x'.repeat(4096) })),
  ],
  ['condition of 4097', s(attested({ condition: 'x'.repeat(4097) })), bad(`${at('.condition')}: longer than 4096 characters`)],
  ['condition not text', s(attested({ condition: true })), bad(`${at('.condition')}: Invalid input: expected string, received boolean`)],
  ['maxBytes 1023', s(attested({ maxBytes: 1023 })), bad(`${at('.maxBytes')}: Too small: expected number to be >=1024`)],
  ['maxBytes 1024', s(attested({ maxBytes: 1024 })), ok(attested({ maxBytes: 1024 }))],
  ['maxBytes 32 MiB', s(attested({ maxBytes: 33554432 })), ok(attested({ maxBytes: 33554432 }))],
  ['maxBytes 32 MiB + 1', s(attested({ maxBytes: 33554433 })), bad(`${at('.maxBytes')}: Too big: expected number to be <=33554432`)],
  ['maxBytes a fraction', s(attested({ maxBytes: 2048.5 })), bad(`${at('.maxBytes')}: Invalid input: expected int, received number`)],
  ['maxBytes NaN', s(attested({ maxBytes: Number.NaN })), bad(`${at('.maxBytes')}: Invalid input: expected number, received NaN`)],
  [
    'maxBytes Infinity',
    s(attested({ maxBytes: Number.POSITIVE_INFINITY })),
    bad(`${at('.maxBytes')}: Invalid input: expected number, received Infinity`),
  ],
  ['maxBytes as text', s(attested({ maxBytes: '2048' })), bad(`${at('.maxBytes')}: Invalid input: expected number, received string`)],
  [
    'attestation with no key and a signature predicate',
    s({ type: 'sigstoreAttested', predicateType: 'https://sigstore.dev/cosign/sign/v1' }),
    bad(`${at('')}: a sigstoreAttested requirement needs exactly one of ${KEYS}`, 2),
  ],
  ['unknown top-level field', { version: 1, nope: true }, bad(': unknown field "nope"')],
  ['__proto__ top-level field', own('{"version": 1, "__proto__": {"mode": "warn"}}'), bad(': unknown field "__proto__"')],
  ['constructor top-level field', own('{"version": 1, "constructor": {}}'), bad(': unknown field "constructor"')],
  [
    '__proto__ in a requirement',
    own('{"version": 1, "scopes": {"a.example": [{"type": "reject", "__proto__": {"keyPath": "/k"}}]}}'),
    bad(`${at('')}: unknown field "__proto__"`),
  ],
  [
    'constructor and toString scopes (kept: scopes.ts refuses them)',
    own('{"version": 1, "scopes": {"constructor": [{"type": "reject"}], "toString": [{"type": "insecureAcceptAnything"}]}}'),
    { data: { ...POLICY, scopes: { constructor: [{ type: 'reject' }], toString: [{ type: 'insecureAcceptAnything' }] } } },
  ],
  [
    // zod's records drop a `__proto__` key, its value unchecked (policy/load.ts refuses the document)
    '__proto__ scope',
    own('{"version": 1, "scopes": {"__proto__": [{"type": "nope"}], "a.example": [{"type": "reject"}]}}'),
    { data: { ...POLICY, scopes: { 'a.example': [{ type: 'reject' }] } } },
  ],
  [
    'scope with no requirement',
    { version: 1, scopes: { 'a.example': [] } },
    bad('scopes."a.example": Too small: expected array to have >=1 items'),
  ],
  ['scopes a list', { version: 1, scopes: [] }, bad('scopes: Invalid input: expected record, received array')],
  [
    'exemptNamespaces with an empty one',
    { version: 1, exemptNamespaces: ['kube-system', ''] },
    bad('exemptNamespaces[1]: Too small: expected string to have >=1 characters'),
  ],
  [
    'denyDigests in upper case',
    { version: 1, denyDigests: [`sha256:${hex.toUpperCase()}`] },
    bad('denyDigests[0]: not a digest: sha256: and 64 lower-case hex digits (or sha512: and 128)'),
  ],
  [
    'denyDigests',
    { version: 1, denyDigests: [`sha256:${hex}`, `sha512:${hex}${hex}`] },
    { data: { ...POLICY, denyDigests: [`sha256:${hex}`, `sha512:${hex}${hex}`] } },
  ],
  ['text', 'version: 1', bad(': Invalid input: expected object, received string')],
  ['null', null, bad(': Invalid input: expected object, received null')],
  ['a list', [{ version: 1 }], bad(': Invalid input: expected object, received array')],
];

const withConfig = (over: object) => ({ data: { ...CONFIG, ...over } });
const configCases: Array<[string, unknown, Expected]> = [
  ['empty', {}, { data: CONFIG }],
  ['blocks empty', { registry: {}, cache: {}, node: {}, trust: {} }, { data: CONFIG }],
  ['cache disabled', { cache: { enabled: false } }, withConfig({ cache: { enabled: false } })],
  ['cache null (no prefault)', { cache: null }, bad('cache: Invalid input: expected object, received null')],
  ['registry null', { registry: null }, bad('registry: Invalid input: expected object, received null')],
  ['ttlSeconds 0', { cache: { ttlSeconds: 0 } }, bad('cache.ttlSeconds: Too small: expected number to be >0')],
  ['ttlSeconds a fraction', { cache: { ttlSeconds: 1.5 } }, bad('cache.ttlSeconds: Invalid input: expected int, received number')],
  ['denyBackoffSeconds 300', { cache: { denyBackoffSeconds: 300 } }, withConfig({ cache: { enabled: true, denyBackoffSeconds: 300 } })],
  ['denyBackoffSeconds 301', { cache: { denyBackoffSeconds: 301 } }, bad('cache.denyBackoffSeconds: Too big: expected number to be <=300')],
  ['denyBackoffSeconds -1', { cache: { denyBackoffSeconds: -1 } }, bad('cache.denyBackoffSeconds: Too small: expected number to be >=0')],
  ['maxStaleSeconds 0', { cache: { maxStaleSeconds: 0 } }, withConfig({ cache: { enabled: true, maxStaleSeconds: 0 } })],
  ['maxAgeDays 0', { trust: { maxAgeDays: 0 } }, bad('trust.maxAgeDays: Too small: expected number to be >0')],
  [
    'insecureRegistries as text',
    { registry: { insecureRegistries: 'a.example' } },
    bad('registry.insecureRegistries: Invalid input: expected array, received string'),
  ],
  [
    'caFiles',
    { registry: { caFiles: { 'a.example:5000': ['/ca.pem'] } } },
    withConfig({ registry: { insecureRegistries: [], caFiles: { 'a.example:5000': ['/ca.pem'] } } }),
  ],
  [
    'caFiles for __proto__ (dropped: no host has that name)',
    own('{"registry": {"caFiles": {"__proto__": ["/ca.pem"], "b.example": []}}}'),
    withConfig({ registry: { insecureRegistries: [], caFiles: { 'b.example': [] } } }),
  ],
  [
    'caFiles with an empty one',
    { registry: { caFiles: { 'a.example': [''] } } },
    bad('registry.caFiles."a.example"[0]: Too small: expected string to have >=1 characters'),
  ],
  [
    'containerdSocket empty',
    { node: { containerdSocket: '' } },
    bad('node.containerdSocket: Too small: expected string to have >=1 characters'),
  ],
  ['platform partial', { platform: { os: 'linux' } }, bad('platform.architecture: Invalid input: expected string, received undefined')],
  [
    'platform',
    { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    withConfig({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
  ],
  ['unknown field', { nope: 1 }, bad(': unknown field "nope"')],
  ['unknown nested field', { cache: { ttl: 5 } }, bad('cache: unknown field "ttl"')],
  ['__proto__ field', own('{"__proto__": {"cache": {"enabled": false}}}'), bad(': unknown field "__proto__"')],
  ['a number', 5, bad(': Invalid input: expected object, received number')],
];

describe('the policy schema gives what the classic one gave', () => {
  it.each(policyCases)('%s', (_name, doc, expected) => {
    expect(view(policySchemas().policySchema.safeParse(doc) as never)).toEqual(expected);
  });

  it('gives each document defaults of its own (a parse that changes them changes no other)', () => {
    const a = policySchemas().policySchema.safeParse({ version: 1 });
    const b = policySchemas().policySchema.safeParse({ version: 1 });
    expect(a.success && b.success).toBe(true);
    a.data!.exemptNamespaces.push('x');
    (a.data!.scopes as Record<string, unknown>).y = [];
    expect(b.data).toEqual(POLICY);
    expect(policySchemas().policySchema.safeParse({ version: 1 }).data).toEqual(POLICY);
  });
});

describe('a scope named __proto__', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-proto-scope-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // zod's records drop a `__proto__` key and never check its value: the policy loaded without the
  // scope instead of being refused as any other name that is not a scope (scopes.ts)
  it.each([
    ['YAML', 'version: 1\nscopes:\n  __proto__:\n    - type: nope\n  a.example:\n    - type: reject\n'],
    ['JSON', '{"version": 1, "scopes": {"a.example": [{"type": "reject"}], "__proto__": [{"type": "insecureAcceptAnything"}]}}'],
  ])('is refused (%s)', async (kind, text) => {
    const file = join(dir, `policy-${kind}.yaml`);
    writeFileSync(file, text, { mode: 0o600 });
    const err = await loadPolicy(file).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe(ReasonCode.POLICY_INVALID);
    expect(err?.message).toBe(`invalid policy ${file}: scopes.__proto__: not a valid host[:port]`);
  });
});

describe('the configuration schema gives what the classic one gave', () => {
  it.each(configCases)('%s', (_name, doc, expected) => {
    expect(view(configSchema.safeParse(doc) as never)).toEqual(expected);
  });
});

describe('large and deep documents', () => {
  it('are checked in bounded time, with no code generated from text (jitless)', () => {
    const scopes: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) scopes[`r${i}.example`] = [{ type: 'sigstoreSigned', keyPath: `/k${i}` }];
    let deep: unknown = 1;
    for (let i = 0; i < 50_000; i++) deep = { a: [deep] };
    const started = performance.now();
    const { result: results, generated } = codeGeneratedBy(() => [
      view(policySchemas().policySchema.safeParse({ version: 1, scopes }) as never),
      // an unknown field is refused without walking into it; a deep value where a string goes, at once
      view(policySchemas().policySchema.safeParse({ version: 1, nope: deep }) as never),
      view(policySchemas().policySchema.safeParse(s({ type: 'sigstoreSigned', keyPath: deep })) as never),
      view(configSchema.safeParse({ cache: { dir: deep } }) as never),
    ]);
    const ms = performance.now() - started;
    expect(generated).toEqual([]);
    expect('data' in results[0]! && Object.keys((results[0].data as typeof POLICY).scopes)).toHaveLength(20_000);
    expect(results.slice(1)).toEqual([
      bad(': unknown field "nope"'),
      bad(`${at('.keyPath')}: Invalid input: expected string, received object`),
      bad('cache.dir: Invalid input: expected string, received object'),
    ]);
    expect(ms, 'a loaded machine is slower, never this much').toBeLessThan(20_000);
  });
});
