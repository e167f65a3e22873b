/**
 * The README's key types, with real cosign signatures: keys openssl makes (ECDSA P-256 and P-384,
 * RSA 2048 and 4096, Ed25519), imported by `cosign import-key-pair`, sign an image offline with
 * cosign 2 (a legacy .sig) and cosign 3 (a bundle); `sigguard check` verifies each with its public
 * key and refuses it with another key of the same type (UNTRUSTED_SIGNER).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguardCheck } from '../support/cli.js';
import { Cosign } from '../support/cosign.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import { Pusher } from '../support/push.js';
import { Registry } from '../support/registry.js';

type Format = 'legacy' | 'bundle';
const BOTH: Format[] = ['legacy', 'bundle'];
const KEY_TYPES: [name: string, genpkey: string[], formats: Format[]][] = [
  ['ecdsa-p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], BOTH],
  // (a P-384 bundle from cosign 3.1.1 verifies neither with cosign nor with sigguard: below)
  ['ecdsa-p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['legacy']],
  ['rsa-2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], BOTH],
  ['rsa-4096', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'], BOTH],
  // cosign 3.1.1 cannot make an Ed25519 bundle (its own check of the DSSE envelope fails:
  // "accepted signatures do not match threshold"), so Ed25519 is signed the legacy way only
  ['ed25519', ['-algorithm', 'ed25519'], ['legacy']],
];

let registry: Registry;
let cosign: Cosign;
const keys: Record<string, { key: string; pub: string; otherPub: string }> = {};
const images: Record<string, Partial<Record<Format, string>>> = {};

/** A private key made by openssl, imported by cosign. */
async function imported(name: string, genpkey: string[]): Promise<{ key: string; pub: string }> {
  const pem = join(cosign.dir, `${name}.pem`);
  execFileSync('openssl', ['genpkey', ...genpkey, '-out', pem], { stdio: 'pipe' });
  return cosign.importKeyPair(name, pem);
}

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3, '/usr/bin/openssl');
  registry = await Registry.start();
  cosign = await Cosign.create();
  const push = new Pusher(registry.host);
  await Promise.all(
    KEY_TYPES.map(async ([name, genpkey, formats]) => {
      const own = await imported(name, genpkey);
      const other = await imported(`${name}-other`, genpkey);
      keys[name] = { ...own, otherPub: other.pub };
      const ref = async (repo: string) => `${registry.host}/${repo}@${(await push.image(repo, 'v1', repo)).digest}`;
      images[name] = {};
      if (name === 'ecdsa-p384') images['ecdsa-p384-bundle'] = { bundle: await ref('ecdsa-p384-bundle') };
      for (const format of formats) {
        const image = await ref(`${name}-${format}`);
        await (format === 'legacy' ? cosign.sign2(own.key, image) : cosign.sign3(own.key, image));
        images[name][format] = image;
      }
    }),
  );
}, 300_000);

afterAll(async () => registry?.stop());

function policy(name: string, pub: string): string {
  const file = join(cosign.dir, `${name}-policy.yaml`);
  execFileSync('tee', [file], {
    input: `version: 1\ndefault: reject\nscopes:\n  "${registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n      signedIdentity: {type: matchRepository}\n`,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return file;
}

describe('key types cosign imports from openssl keys', () => {
  it.each(KEY_TYPES.flatMap(([name, , formats]) => formats.map((format) => [name, format] as const)))(
    '%s, %s signature: verified with its key, refused with another key of the type',
    async (name, format) => {
      const image = images[name]![format]!;
      const ok = await sigguardCheck(['--policy', policy(`${name}-${format}`, keys[name]!.pub), '--json', image]);
      expect(ok.verdict, ok.stderr).toBeDefined();
      expect(ok.verdict?.decision, ok.verdict?.reason).toBe('allow');
      expect(ok.verdict).toMatchObject({ code: 'ALLOWED' });
      expect(ok.verdict?.reason).toMatch(new RegExp(`^verified: ${format} signature by `));
      expect(ok.code).toBe(0);
      const wrong = await sigguardCheck(['--policy', policy(`${name}-${format}-other`, keys[name]!.otherPub), '--json', image]);
      expect(wrong.verdict, wrong.stderr).toBeDefined();
      expect(wrong.verdict).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
      expect(wrong.code).toBe(1);
    },
  );

  it('a P-384 bundle from cosign 3.1.1 is refused, as cosign 3.1.1 itself refuses it (invalid signature)', async () => {
    const image = images['ecdsa-p384-bundle']!.bundle!;
    await cosign.sign3(keys['ecdsa-p384']!.key, image);
    const theirs = await cosign.verify(3, keys['ecdsa-p384']!.pub, image);
    expect(theirs.reason, theirs.stderr).toBe('invalid-signature');
    const ours = await sigguardCheck(['--policy', policy('p384-bundle', keys['ecdsa-p384']!.pub), '--json', image]);
    expect(ours.verdict, ours.stderr).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
  });

  it('a key of another type is refused, not misread (P-384 signature, RSA and Ed25519 keys)', async () => {
    for (const other of ['rsa-2048', 'ed25519', 'ecdsa-p256']) {
      const r = await sigguardCheck(['--policy', policy(`p384-by-${other}`, keys[other]!.pub), '--json', images['ecdsa-p384']!.legacy!]);
      expect(r.verdict, r.stderr).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
    }
  });
});
