/**
 * Deciding lines of src/engine and src/hook that the mutation run (Stryker at bc0bd73) left with
 * surviving mutants: each case here fails with the mutant named in its title and passes without
 * (docs/mutation-survivors/engine-hook.md). Legacy signatures are made here with a key, as cosign
 * writes them; the registry, where one is asked, is a stub that records what it was asked, or a
 * loopback port nobody listens on.
 */
import { type KeyObject, generateKeyPairSync, sign } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleSigningPayload } from '../support/simple-signing.js';
import { cacheKey } from '../../src/cache/key.js';
import { VerdictStore } from '../../src/cache/store.js';
import { loadConfig } from '../../src/config/load.js';
import type { FoundSignature, UnreadableSignature } from '../../src/discovery/types.js';
import { cachedFor } from '../../src/engine/binding.js';
import { cachedVerify } from '../../src/engine/cached-verify.js';
import { evaluateRequirement } from '../../src/engine/requirements/index.js';
import { type PreparedSignature, prepareSignature } from '../../src/engine/requirements/prepare.js';
import type { RequirementContext } from '../../src/engine/requirements/types.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { configDigestOf, indexEntries, selectManifest } from '../../src/engine/select-manifest.js';
import { verifyImage } from '../../src/engine/verify-image.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { type NodeImages, imageForContainer } from '../../src/hook/node-digest.js';
import { parseReference } from '../../src/reference/reference.js';
import type { FetchedManifest, RegistryClient } from '../../src/registry/client.js';
import { TOOLS } from '../support/paths.js';
import { type DeadPort, deadPort } from '../support/ports.js';
import { tempDir } from '../support/temp.js';

const h = (c: string) => `sha256:${c.repeat(64)}`;
const DIGEST = h('a');
const DENIED = h('d');
const CONFIG = h('c');

let trusted: KeyObject;
let other: KeyObject;
let keyData: string;

beforeAll(() => {
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  trusted = a.privateKey;
  keyData = Buffer.from(a.publicKey.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
  other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
});

const policy = (doc: Record<string, unknown>) => compilePolicy({ version: 1, ...doc }, '/p.yaml', '/');
const signed = (extra: Record<string, unknown> = {}) => ({
  type: 'sigstoreSigned',
  keyData,
  signedIdentity: { type: 'matchRepository' },
  ...extra,
});
const requirement = (extra: Record<string, unknown> = {}): Requirement =>
  policy({ scopes: { 'r.io/app': [signed(extra)] } }).scopes.get('r.io/app')![0]!;

/** A legacy (cosign simple-signing) signature of DIGEST naming r.io/app, by `key`. */
function legacy(key: KeyObject, payload?: string): FoundSignature {
  const body = Buffer.from(payload ?? simpleSigningPayload('r.io/app', DIGEST));
  return {
    format: 'legacy',
    subject: DIGEST,
    source: 'test layer',
    payload: body,
    signature: sign('sha256', body, key).toString('base64'),
    annotations: {},
  };
}

function ctx(found: FoundSignature[], over: Partial<RequirementContext> = {}): RequirementContext {
  return {
    signatures: () => found.map(prepareSignature),
    unreadable: [],
    intended: parseReference(`r.io/app@${DIGEST}`),
    checkpoint: () => {},
    ...over,
  };
}

describe('sigstoreSigned: judging the signatures found (requirements/sigstore-signed.ts)', () => {
  it('a legacy signature by the trusted key naming the repository is verified (identity check: `true` refuses all)', async () => {
    const { report } = await evaluateRequirement(requirement(), ctx([legacy(trusted)]));
    expect(report).toMatchObject({ satisfied: true, code: 'ALLOWED', satisfiedBy: 'legacy' });
  });

  it('a bundle names no repository: its identity is not checked (`format === legacy` → `true`)', async () => {
    const p = prepareSignature(legacy(trusted));
    if (!p.ok) throw new Error('not prepared');
    // the same signed entity, found as a cosign 3 bundle (whose statement carries no docker-reference)
    const bundle: PreparedSignature = {
      ...p,
      found: { ...p.found, format: 'bundle' } as never,
      claim: { digest: DIGEST, dockerReference: undefined },
    };
    const { report } = await evaluateRequirement(requirement(), ctx([], { signatures: () => [bundle] }));
    expect(report).toMatchObject({ satisfied: true, code: 'ALLOWED', satisfiedBy: 'bundle' });
  });

  it.each([
    ['after one by another key', () => [legacy(other), legacy(trusted)]],
    ['before one by another key', () => [legacy(trusted), legacy(other)]],
  ])('the verified signature decides, %s (RANK emptied, the ranking `true`)', async (_, found) => {
    const { report } = await evaluateRequirement(requirement(), ctx(found()));
    expect(report).toMatchObject({ satisfied: true, code: 'ALLOWED' });
  });

  it('a signature by another key only: UNTRUSTED_SIGNER (untrusted() emptied)', async () => {
    const { report } = await evaluateRequirement(requirement(), ctx([legacy(other)]));
    expect(report).toMatchObject({ satisfied: false, code: 'UNTRUSTED_SIGNER', detailCode: 'SIGNATURE' });
  });

  it('a passed deadline stops the key search within a signature (the checkpoint in the key loop removed)', async () => {
    let calls = 0;
    const checkpoint = () => {
      calls++;
      // the first call is the one before the signature; the second, the key loop's
      if (calls > 1) throw new Error('deadline passed');
    };
    await expect(evaluateRequirement(requirement(), ctx([legacy(trusted)], { checkpoint }))).rejects.toThrow('deadline passed');
  });

  it('an unreadable payload is a malformed signature, judged no further (`!sig.ok` → false)', async () => {
    const { report, judged } = await evaluateRequirement(requirement(), ctx([legacy(trusted, 'not json')]));
    expect(report).toMatchObject({ satisfied: false, code: 'MALFORMED_SIGNATURE' });
    expect(judged).toMatchObject([{ status: 'malformed' }]);
  });

  const unreadable = (format: 'legacy' | 'bundle'): UnreadableSignature =>
    ({ format, subject: DIGEST, source: 'test', problem: 'layer too large' }) as UnreadableSignature;

  it('an unreadable signature of an accepted format: MALFORMED_SIGNATURE; of another format: NO_SIGNATURE (the filter and its test)', async () => {
    const req = requirement({ signatureFormats: ['legacy'] });
    expect((await evaluateRequirement(req, ctx([], { unreadable: [unreadable('legacy')] }))).report).toMatchObject({
      satisfied: false,
      code: 'MALFORMED_SIGNATURE',
    });
    expect((await evaluateRequirement(req, ctx([], { unreadable: [unreadable('bundle')] }))).report).toMatchObject({
      satisfied: false,
      code: 'NO_SIGNATURE',
    });
  });
});

describe('verifyImage before any signature (engine/verify-image.ts)', () => {
  /** A registry that knows no manifest, recording the references it was asked for. */
  const stub = () => {
    const asked: Array<string | undefined> = [];
    const client = new Proxy({} as RegistryClient, {
      get: (_t, prop) => {
        if (prop === 'budget') return { notes: [], exhausted: undefined };
        if (prop === 'getManifest') return async (_repo: unknown, reference: string | undefined) => void asked.push(reference);
        throw new Error(`the registry was asked (${String(prop)})`);
      },
    });
    return { client, asked };
  };
  const opts = (p: ReturnType<typeof policy>, client: RegistryClient, allowTagResolution: boolean) => ({
    policy: p,
    client,
    platform: { os: 'linux', architecture: 'amd64' },
    allowTagResolution,
    requestCount: () => 0,
  });
  const signedScope = () => policy({ scopes: { 'r.io': [signed()] } });

  it('a tag with tagResolution never: TAG_NOT_RESOLVABLE, the registry never asked', async () => {
    const { client, asked } = stub();
    const v = await verifyImage(parseReference('r.io/app:v1'), opts(signedScope(), client, false));
    expect(v).toMatchObject({ decision: 'deny', code: 'TAG_NOT_RESOLVABLE' });
    expect(asked).toEqual([]);
  });

  it('a digest with tagResolution never is fetched by its digest, never by its tag (`&&`, `||`, `true`, `!==`)', async () => {
    for (const image of [`r.io/app@${DIGEST}`, `r.io/app:v1@${DIGEST}`]) {
      const { client, asked } = stub();
      const v = await verifyImage(parseReference(image), opts(signedScope(), client, false));
      // a decision (not a TypeError, not the scope's empty verdict), reached at the registry
      expect(v).toMatchObject({ decision: 'deny', code: 'IMAGE_NOT_FOUND' });
      // the image by its digest; meanwhile (verify-image.ts's discoverEarly) only its signature
      // tags (`.sig`, and the referrers tag schema's `sha256-…`), never the tag v1
      const sigTag = DIGEST.replace(':', '-');
      expect(asked.filter((a) => a !== `${sigTag}.sig` && a !== sigTag)).toEqual([DIGEST]);
      expect(asked).not.toContain('v1');
    }
  });

  it('a reject scope refuses by itself, denyDigests or not: the registry is not asked (`decision === allow` → `true`)', async () => {
    const { client, asked } = stub();
    const rejecting = policy({ denyDigests: [DENIED], scopes: { 'r.io': [{ type: 'reject' }] } });
    expect(await verifyImage(parseReference(`r.io/app@${DIGEST}`), opts(rejecting, client, true))).toMatchObject({
      decision: 'deny',
      code: 'POLICY_REJECT',
    });
    expect(asked).toEqual([]);
  });

  it('accepted by scope with denyDigests, a tag and tagResolution never: nothing to look up, the scope decides (`||` → `true`)', async () => {
    const { client, asked } = stub();
    const accepting = policy({ denyDigests: [DENIED], scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    expect(await verifyImage(parseReference('r.io/app:v1'), opts(accepting, client, false))).toMatchObject({
      decision: 'allow',
      code: 'POLICY_ACCEPT',
    });
    expect(asked).toEqual([]);
  });

  it('accepted by scope with denyDigests: the digest behind the name is looked up even with tagResolution never', async () => {
    const accepting = policy({ denyDigests: [DENIED], scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    const { client, asked } = stub();
    const v = await verifyImage(parseReference(`r.io/app@${DIGEST}`), opts(accepting, client, false));
    expect(v).toMatchObject({ decision: 'deny', code: 'IMAGE_NOT_FOUND' });
    expect(asked).toEqual([DIGEST]);
    // without denyDigests the scope alone decides
    const plain = stub();
    const free = policy({ scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    expect(await verifyImage(parseReference(`r.io/app@${DIGEST}`), opts(free, plain.client, false))).toMatchObject({
      decision: 'allow',
      code: 'POLICY_ACCEPT',
    });
    expect(plain.asked).toEqual([]);
  });
});

describe('the manifest that runs (engine/select-manifest.ts)', () => {
  const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
  const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
  const amd64 = { os: 'linux', architecture: 'amd64' };
  const index = (entries: unknown[], extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: entries,
    ...extra,
  });
  const manifest = (extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG, size: 1 },
    layers: [],
    ...extra,
  });
  const fetched = (digest: string, json: unknown, mediaType: string): FetchedManifest => ({
    digest,
    mediaType,
    bytes: Buffer.from(JSON.stringify(json)),
    json,
  });
  const refused = expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' });

  it('an index nesting an index: followed to the platform manifest and its config (isIndexType, isManifestType emptied)', async () => {
    const NESTED = h('b');
    const PLATFORM = h('e');
    const docs = new Map<string, FetchedManifest>([
      [NESTED, fetched(NESTED, index([{ mediaType: OCI_MANIFEST, digest: PLATFORM, size: 1, platform: amd64 }]), OCI_INDEX)],
      [PLATFORM, fetched(PLATFORM, manifest(), OCI_MANIFEST)],
    ]);
    const client = { getManifest: async (_repo: unknown, d: string) => docs.get(d) } as unknown as RegistryClient;
    const top = fetched(DIGEST, index([{ mediaType: OCI_INDEX, digest: NESTED, size: 1, platform: amd64 }]), OCI_INDEX);
    await expect(
      selectManifest(client, parseReference(`r.io/app@${DIGEST}`), top, true, { kind: 'containerd', platform: amd64 }),
    ).resolves.toEqual({ nested: [NESTED], platformDigest: PLATFORM, configDigest: CONFIG });
  });

  it('an invalid os.features or os.version: REGISTRY_BAD_RESPONSE (`!p.success` → `false`)', () => {
    const entry = (platform: unknown) => ({ mediaType: OCI_MANIFEST, digest: DIGEST, size: 1, platform });
    expect(() => indexEntries(index([entry({ ...amd64, 'os.features': 'x' })]), DIGEST)).toThrow(refused);
    expect(() => indexEntries(index([entry({ ...amd64, 'os.version': 10 })]), DIGEST)).toThrow(refused);
  });

  it('a manifest without config: REGISTRY_BAD_RESPONSE (`!parsed.success` → `false`)', () => {
    const { config: _, ...noConfig } = manifest();
    expect(() => configDigestOf(noConfig, DIGEST)).toThrow(refused);
  });

  it('every field list is checked for case variants Go would read (each list emptied)', () => {
    const subject = { mediaType: OCI_MANIFEST, digest: h('f'), size: 1 };
    // INDEX_FIELDS (not in UNKNOWN_DOCUMENT_FIELDS): Subject, SchemaVersion
    expect(() => indexEntries(index([], { Subject: subject }), DIGEST)).toThrow(refused);
    expect(() => indexEntries(index([], { SchemaVersion: 3 }), DIGEST)).toThrow(refused);
    // UNKNOWN_DOCUMENT_FIELDS (not in INDEX_FIELDS): Config, FsLayers on an index
    expect(() => indexEntries(index([], { Config: subject }), DIGEST)).toThrow(refused);
    expect(() => indexEntries(index([], { FsLayers: [{}] }), DIGEST)).toThrow(refused);
    // MANIFEST_FIELDS (not in UNKNOWN_DOCUMENT_FIELDS): Subject; UNKNOWN_DOCUMENT_FIELDS (not in MANIFEST_FIELDS): Manifests
    expect(() => configDigestOf(manifest({ Subject: subject }), DIGEST)).toThrow(refused);
    expect(() => configDigestOf(manifest({ Manifests: [subject] }), DIGEST)).toThrow(refused);
    // and the exact keys pass
    expect(configDigestOf(manifest({ subject }), DIGEST)).toBe(CONFIG);
    expect(indexEntries(index([], { subject }), DIGEST)).toEqual([]);
  });
});

describe('cachedFor (engine/binding.ts)', () => {
  it('no entry stands for nothing, with or without an image id (`e === undefined` → false)', () => {
    expect(cachedFor(undefined, CONFIG)).toBeUndefined();
    expect(cachedFor(undefined, undefined)).toBeUndefined();
  });
});

describe('cachedVerify: the verdict cache (engine/cached-verify.ts)', () => {
  // nothing listens here: a verification that runs is refused, never allowed
  let registry: DeadPort;
  beforeAll(async () => {
    registry = await deadPort();
  });
  afterAll(async () => registry?.close());

  const settings = () => {
    const dir = tempDir('sg-eh-cache-');
    return { dir: join(dir, 'cache'), ttlMs: 3_600_000, denyBackoffMs: 30_000, maxStaleMs: 0 };
  };

  /** Writes an allow for `ref` as verified `ageMs` ago, under the key the cache would use. */
  async function allowOnFile(
    s: ReturnType<typeof settings>,
    p: ReturnType<typeof policy>,
    ref: ReturnType<typeof parseReference>,
    ageMs: number,
    extra: Record<string, unknown> = {},
  ) {
    const config = await loadConfig(undefined);
    const { scope, requirements } = scopeVerdict(ref, ref, p);
    new VerdictStore(s.dir).write({
      key: cacheKey(ref, ref.digest as string, scope, requirements, config.platform),
      decision: 'allow',
      code: 'ALLOWED',
      reason: 'verified',
      image: 'r.io/app',
      digest: ref.digest ?? DIGEST,
      configDigest: CONFIG,
      scope,
      verifiedAt: Date.now() - ageMs,
      ...extra,
    });
    return config;
  }

  const decide = (
    ref: ReturnType<typeof parseReference>,
    p: ReturnType<typeof policy>,
    config: Awaited<ReturnType<typeof loadConfig>>,
    s: ReturnType<typeof settings>,
    allowTagResolution = false,
  ) =>
    cachedVerify(
      { ref, named: ref, imageId: CONFIG },
      { config, policy: p, signal: new AbortController().signal, cache: s, allowTagResolution },
    );

  it('a denied digest is refused under insecureAcceptAnything, before any scope (the list emptied, the test `false`)', async () => {
    const s = settings();
    const p = policy({ denyDigests: [DENIED], scopes: { 'r.io': [{ type: 'insecureAcceptAnything' }] } });
    const ref = parseReference(`r.io/app@${DENIED}`);
    const config = await loadConfig(undefined);
    expect((await decide(ref, p, config, s)).outcome).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
  });

  it('a reject scope refuses even with an allow on file for its key (the scope verdict ignored)', async () => {
    const s = settings();
    const p = policy({ scopes: { 'r.io': [{ type: 'reject' }] } });
    const ref = parseReference(`r.io/app@${DIGEST}`);
    const config = await allowOnFile(s, p, ref, 0);
    expect((await decide(ref, p, config, s)).outcome).toMatchObject({ decision: 'deny', code: 'POLICY_REJECT' });
  });

  it('a fresh allow without nested digests is a hit (`e.nestedDigests?.` → `.`)', async () => {
    const s = settings();
    const p = policy({ scopes: { 'r.io': [signed()] } });
    const ref = parseReference(`r.io/app@${DIGEST}`);
    const config = await allowOnFile(s, p, ref, 0);
    expect((await decide(ref, p, config, s)).outcome).toMatchObject({ decision: 'allow', cache: 'hit' });
  });

  it('an allow older than the TTL is not served: the image is verified again (here: refused) (`cached && isFresh` → `true`, `||`)', async () => {
    const s = settings();
    const p = policy({ scopes: { [registry.host]: [signed()] } });
    const ref = parseReference(`${registry.host}/app@${DIGEST}`);
    const config = await allowOnFile(s, p, ref, 2 * 3_600_000);
    const { outcome } = await decide(ref, p, config, s);
    expect(outcome.decision).toBe('deny');
    expect(outcome.cache).not.toBe('hit');
  });

  it('a tag is never looked up in the cache: an entry keyed without a digest is not served (`digest === undefined` dropped)', async () => {
    const s = settings();
    const p = policy({ scopes: { [registry.host]: [signed()] } });
    const ref = parseReference(`${registry.host}/app:v1`);
    const config = await allowOnFile(s, p, ref, 0);
    const { outcome } = await decide(ref, p, config, s, true);
    expect(outcome.decision).toBe('deny');
    expect(outcome.cache).not.toBe('hit');
  });
});

describe('the runtime, asked over CRI (hook/cri-images.ts)', () => {
  const POD_NAME = `r.io/app@${DIGEST}`;
  let socket: string;
  let server: grpc.Server;
  beforeAll(async () => {
    const proto = join(TOOLS, 'cri-api/api.proto');
    if (!existsSync(proto)) throw new Error(`CRI api.proto missing at ${proto}: run \`make tools\``);
    // containerd's answer: the pod spec's name only in the verbose info (as containerd 1.7 gives it)
    const definition = protoLoader.loadSync(proto, {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const v1 = (grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: Record<string, grpc.ServiceClientConstructor> } })
      .runtime.v1;
    socket = join(tempDir('sg-eh-cri-'), 'cri.sock');
    server = new grpc.Server();
    server.addService(v1.RuntimeService!.service, {
      containerStatus(call: grpc.ServerUnaryCall<{ containerId: string; verbose: boolean }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        const info = { config: { image: { image: CONFIG, user_specified_image: POD_NAME } } };
        cb(null, {
          status: { id: call.request.containerId, image: { image: 'other.io/app:v1' }, imageRef: `other.io/app@${DIGEST}`, imageId: '' },
          info: call.request.verbose ? { info: JSON.stringify(info) } : {},
        });
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  });
  afterAll(async () => {
    if (server) await new Promise<void>((r) => server.tryShutdown(() => r()));
  });

  it("the pod spec's name and the image id come from the verbose status (verbose `true` → `false`)", async () => {
    const node = criNodeImages(socket, new AbortController().signal);
    try {
      expect(await node.containerImage('c1')).toEqual({
        imageId: CONFIG,
        imageRef: `other.io/app@${DIGEST}`,
        userSpecifiedImage: POD_NAME,
      });
    } finally {
      node.close();
    }
  });

  it('a runtime that cannot be asked, before the deadline: NODE_LOOKUP_FAILED (`if (late)` → `true`)', async () => {
    const node = criNodeImages(join(tmpdir(), `sg-eh-none-${process.pid}.sock`), new AbortController().signal);
    try {
      await expect(node.containerImage('c1')).rejects.toMatchObject({ code: 'NODE_LOOKUP_FAILED' });
    } finally {
      node.close();
    }
  });
});

describe("the node's digest for a pod (hook/node-digest.ts)", () => {
  const node = (imageId: string, imageRef: string, repoDigests: string[]): NodeImages => ({
    containerImage: async () => ({ imageId, imageRef, userSpecifiedImage: undefined }),
    repoDigests: async () => repoDigests,
    imageStatus: async () => ({ id: imageId, repoDigests }),
  });
  const named = parseReference('r.io/app:v1');

  it('a reference without a digest in the right repository is no digest: the next one is taken (`ref.digest !== undefined` → `true`)', async () => {
    expect(await imageForContainer(node(CONFIG, 'r.io/app:v1', [`r.io/app@${DIGEST}`]), 'c', named)).toEqual({
      named,
      digest: DIGEST,
      repoDigest: `r.io/app@${DIGEST}`,
      imageId: CONFIG,
    });
  });

  it('an image id that is not a digest binds to nothing: no imageId at all (`config === undefined` → `false`)', async () => {
    const r = await imageForContainer(node('not-an-id', `r.io/app@${DIGEST}`, []), 'c', named);
    expect(r).toMatchObject({ digest: DIGEST });
    expect(r).not.toHaveProperty('imageId');
  });
});
