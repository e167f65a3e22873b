/**
 * Issue 13's keyless proof end to end, through the built executable and a real registry: an image
 * whose cosign legacy signature (a Fulcio-style leaf from a CA made here) is logged in a Rekor
 * shard that only the updated root knows (test/support/keyless-shard.ts). `check` with a policy
 * trusting `public-good` refuses it with the built-in root, allows it after `sigguard trust update`
 * (from a TUF repository the test signs) brings a root with the CA and the shard, naming that root,
 * and refuses with TRUST_ROOT_INVALID once the kept root no longer matches its signed metadata.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { EMAIL, KeylessShards, keylessPolicyYaml } from '../support/keyless-shard.js';
import { REGISTRY_BIN, SIGGUARD, requireTools } from '../support/paths.js';
import { Pusher } from '../support/push.js';
import { Registry } from '../support/registry.js';
import { TufRepoFixture } from '../support/tuf-repo.js';

let dir: string;
let registry: Registry;
let image: string;
let config: string;
let policy: string;
let out: string;
let keyless: KeylessShards;
let repo: TufRepoFixture;

beforeAll(async () => {
  requireTools(SIGGUARD, REGISTRY_BIN);
  dir = mkdtempSync(join(tmpdir(), 'sigguard-trust-keyless-'));
  keyless = new KeylessShards(dir);
  registry = await Registry.start();
  const push = new Pusher(registry.host);
  const pushed = await push.image('keyless', 'v1', 'keyless');
  image = `${registry.host}/keyless@${pushed.digest}`;

  // the cosign .sig manifest: one simple-signing layer with the signature, certificate and Rekor bundle
  const sig = keyless.signatureInShard2(pushed.digest, `${registry.host}/keyless`, await KeylessShards.loggedTime());
  const layer = await push.blob('keyless', sig.payload);
  const cfg = await push.blob('keyless', Buffer.from('{}'));
  await push.manifest(
    'keyless',
    `${pushed.digest.replace(':', '-')}.sig`,
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: layer.digest,
          size: layer.size,
          annotations: sig.annotations,
        },
      ],
    },
    'application/vnd.oci.image.manifest.v1+json',
  );

  out = join(mkdtempSync(join(dir, 'kept-')), 'public-good.json');
  config = join(dir, 'config.yaml');
  writeFileSync(config, `trust:\n  publicGood: ${out}\n`);
  policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    keylessPolicyYaml(`${registry.host}/keyless`, {
      requirement: ['signatureFormats: [legacy]'],
      keyless: ['requireRekor: true', 'requireSCT: false'],
    }),
  );
  repo = new TufRepoFixture(join(dir, 'tuf'));
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const check = () => sigguardCheck(['--config', config, '--policy', policy, '--json', image]);

describe('a keyless signature in a Rekor shard only the updated root knows (sigguard check, real registry)', () => {
  it('refused with the built-in root, allowed after trust update, refused with TRUST_ROOT_INVALID when the kept root is altered', async () => {
    const builtIn = await check();
    expect(builtIn.verdict, builtIn.stderr).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
    expect(builtIn.verdict?.requirements[0]?.trust).toBe('trusted root public-good (built in, TUF targets v14)');

    repo.publish({ 'trusted_root.json': keyless.trustedRoot([0, 1]) }, { targetsVersion: 21 });
    const update = await sigguard(['trust', 'update', '--from', repo.dir, '--root', repo.initialRoot, '--config', config]);
    expect(update.code, update.stderr).toBe(0);

    const updated = await check();
    expect(updated.verdict, updated.stderr).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
    expect(updated.verdict?.signer).toContain(EMAIL);
    expect(updated.verdict?.requirements[0]?.trust).toMatch(/^trusted root public-good \(TUF targets v21 from file:.*, fetched \d{4}-/);

    writeFileSync(out, keyless.trustedRoot([1, 0]), { mode: 0o600 });
    const altered = await check();
    expect(altered.verdict, altered.stderr).toMatchObject({ decision: 'deny', code: 'TRUST_ROOT_INVALID' });
    expect(altered.verdict?.reason).toMatch(
      /updated trusted root .*public-good\.json: its sha256 does not match the signed targets metadata version 21/,
    );
  }, 60_000);
});
