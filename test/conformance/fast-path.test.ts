/**
 * The sigstore-conformance bundles through the fast path of key-only requirements
 * (src/verify/fast-key.ts) as well as the full one: each case's bundle, found as a cosign 3
 * signature would be, and read both ways. Where the fast path decides, the full path must read
 * it alike (the same claim; the same answer for the case's key and for another), and a case that
 * must fail is never one the fast path accepts as signed by its key. The cases are Sigstore's
 * attacks on bundles in general: nearly all are shapes the fast path hands over, which is the point.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FoundSignature } from '../../src/discovery/types.js';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { fastBundle } from '../../src/verify/fast-key.js';
import { type TrustedKey, parsePublicKey } from '../../src/verify/keys.js';
import { signedByKey } from '../../src/verify/trust.js';
import { ROOT } from '../support/paths.js';

const SUITE = process.env.SIGSTORE_CONFORMANCE_DIR ?? resolve(ROOT, 'test/fixtures/sigstore-conformance');
const CASES_DIR = join(SUITE, 'bundle-verify');
const cases = existsSync(CASES_DIR)
  ? readdirSync(CASES_DIR)
      .filter((n) => statSync(join(CASES_DIR, n)).isDirectory())
      .sort()
  : [];
const another = parsePublicKey(
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }),
  'another.pub',
);

describe('sigstore-conformance bundles through the fast path too', () => {
  it('has the 70 cases', () => expect(cases).toHaveLength(70));

  it.each(cases)('%s', (name) => {
    const dir = join(CASES_DIR, name);
    const file = join(dir, 'bundle.sigstore.json');
    if (!existsSync(file)) return;
    const keys: TrustedKey[] = [another];
    if (existsSync(join(dir, 'key.pub'))) {
      try {
        keys.push(parsePublicKey(readFileSync(join(dir, 'key.pub')), 'key.pub'));
      } catch {
        /* a case whose key file holds no key */
      }
    }
    const found: FoundSignature = {
      format: 'bundle',
      subject: 'sha256:unused',
      source: name,
      bundle: readFileSync(file),
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    };
    const fast = fastBundle(found);
    if (fast === undefined) return; // handed over: the full path alone decides, as verify-bundle does
    const full = prepareSignature(found);
    expect(full.ok && 'entity' in full, `${name}: the fast path read a bundle the full path refuses`).toBe(true);
    if (!full.ok || !('entity' in full)) return;
    expect(fast.claim).toEqual(full.claim);
    for (const k of keys) expect(fast.signedBy(k), `${name}: ${k.label}`).toBe(signedByKey(full.entity, k));
    if (name.endsWith('_fail')) expect(keys.some((k) => k.label === 'key.pub' && fast.signedBy(k))).toBe(false);
  });
});
