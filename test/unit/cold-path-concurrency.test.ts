/**
 * The cold path's registry round trips (issue 15): a digest's signatures are looked up while its
 * manifest is still on the way (engine/verify-image.ts's discoverEarly), once each; the referrers
 * tag schema's index is asked with the referrers API, not after it (discovery/bundle.ts); a tag is
 * resolved first (its digest is not known before). A registry stub that holds the manifest until
 * told, and records what it was asked.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { simpleSigningPayload } from '../support/simple-signing.js';
import { verifyImage } from '../../src/engine/verify-image.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { Budget } from '../../src/registry/budget.js';
import type { FetchedManifest, RegistryClient, Repository } from '../../src/registry/client.js';

const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyData = Buffer.from(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
const policy = compilePolicy(
  { version: 1, scopes: { 'r.io/app': [{ type: 'sigstoreSigned', keyData, signedIdentity: { type: 'matchRepository' } }] } },
  '/p.yaml',
  '/',
);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const desc = (mediaType: string, bytes: Buffer, annotations?: Record<string, string>) => ({
  mediaType,
  digest: sha(bytes),
  size: bytes.length,
  ...(annotations ? { annotations } : {}),
});

const imageBytes = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: desc('application/vnd.oci.image.config.v1+json', Buffer.from('{}')),
    layers: [],
  }),
);
const DIGEST = sha(imageBytes);
const payload = Buffer.from(simpleSigningPayload('r.io/app', DIGEST));
const sigBytes = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: desc('application/vnd.oci.image.config.v1+json', Buffer.from('{}')),
    layers: [
      desc('application/vnd.dev.cosign.simplesigning.v1+json', payload, {
        'dev.cosignproject.cosign/signature': sign('sha256', payload, pair.privateKey).toString('base64'),
      }),
    ],
  }),
);
const SIG_TAG = `${DIGEST.replace(':', '-')}.sig`;
const REFERRERS_TAG = DIGEST.replace(':', '-');

/** A registry of one signed image; the image's manifest is held until `release()`. */
function registry(opts: { referrersApi?: boolean } = {}) {
  const asked: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const fetched = (bytes: Buffer): FetchedManifest => ({
    digest: sha(bytes),
    mediaType: OCI_MANIFEST,
    bytes,
    json: JSON.parse(bytes.toString()),
  });
  const client = {
    budget: new Budget(new AbortController().signal),
    async getManifest(_repo: Repository, reference: string) {
      asked.push(`manifest ${reference}`);
      if (reference === DIGEST || reference === 'v1') {
        await held;
        return fetched(imageBytes);
      }
      if (reference === SIG_TAG) return fetched(sigBytes);
      return undefined;
    },
    async getReferrers(_repo: Repository, digest: string) {
      asked.push(`referrers ${digest}`);
      return opts.referrersApi ? { manifests: [], truncated: false } : undefined;
    },
    async getBlob(_repo: Repository, digest: string) {
      asked.push(`blob ${digest}`);
      if (digest === sha(payload)) return payload;
      throw new Error(`no blob ${digest}`);
    },
  } as unknown as RegistryClient;
  return { client, asked, release };
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const run = (client: RegistryClient, image: string) =>
  verifyImage(parseReference(image), {
    policy,
    client,
    platform: { os: 'linux', architecture: 'amd64' },
    allowTagResolution: true,
    requestCount: () => 0,
  });

describe('the cold path asks the registry concurrently', () => {
  it('by digest: the .sig tag, the referrers API and the referrers tag are asked before the manifest arrives, each once', async () => {
    const r = registry();
    const verdict = run(r.client, `r.io/app@${DIGEST}`);
    await tick();
    expect(r.asked).toEqual(
      expect.arrayContaining([`manifest ${SIG_TAG}`, `referrers ${DIGEST}`, `manifest ${REFERRERS_TAG}`, `manifest ${DIGEST}`]),
    );
    r.release();
    expect(await verdict).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
    for (const q of [`manifest ${SIG_TAG}`, `referrers ${DIGEST}`, `manifest ${REFERRERS_TAG}`, `manifest ${DIGEST}`])
      expect(r.asked.filter((a) => a === q)).toHaveLength(1);
  });

  it('by tag: nothing but the tag until its digest is known', async () => {
    const r = registry();
    const verdict = run(r.client, 'r.io/app:v1');
    await tick();
    expect(r.asked).toEqual(['manifest v1']);
    r.release();
    expect(await verdict).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
    expect(r.asked.filter((a) => a === `manifest ${SIG_TAG}`)).toHaveLength(1);
  });

  it('a registry with the referrers API: its list is the one read, the tag asked with it is left unread', async () => {
    const r = registry({ referrersApi: true });
    const verdict = run(r.client, `r.io/app@${DIGEST}`);
    r.release();
    const v = await verdict;
    expect(v).toMatchObject({ decision: 'allow' });
    expect(r.asked).toContain(`manifest ${REFERRERS_TAG}`);
  });

  it('a manifest the registry does not have: the signatures looked up meanwhile decide nothing', async () => {
    const r = registry();
    const client = Object.assign(Object.create(r.client as object), {
      budget: new Budget(new AbortController().signal),
      async getManifest(repo: Repository, reference: string) {
        if (reference === DIGEST) return undefined; // not found
        return (r.client as unknown as { getManifest: (a: Repository, b: string) => Promise<unknown> }).getManifest(repo, reference);
      },
    }) as RegistryClient;
    expect(await run(client, `r.io/app@${DIGEST}`)).toMatchObject({ decision: 'deny', code: 'IMAGE_NOT_FOUND' });
  });
});
