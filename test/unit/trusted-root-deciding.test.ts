/**
 * Tests written against mutants that survived `make mutation` in trusted-root.ts
 * (docs/mutation-survivors/verify.md): which trusted roots are read (media type, base64, times),
 * absent lists are empty ones, and an authority of any kind without validFor.start is set aside
 * rather than trusted since 1970.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadedRoot } from '../../src/verify/authority.js';
import { loadTrust, publicGoodTrustedRootJSON, trustFromJSON } from '../../src/verify/trusted-root.js';

// biome-ignore lint/suspicious/noExplicitAny: the public-good root changed field by field
type AnyJson = any;
const root = (): AnyJson => publicGoodTrustedRootJSON();
const loads = (json: unknown): string => {
  try {
    trustFromJSON(json, 't');
    return 'loaded';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('trusted-root.ts: what is read as a trusted root', () => {
  it('the two media type spellings of versions 0.1 and 0.2, nothing else', () => {
    for (const mediaType of [
      'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      'application/vnd.dev.sigstore.trustedroot+json;version=0.2',
      'application/vnd.dev.sigstore.trustedroot.v0.1+json',
      'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    ]) {
      expect(loads({ ...root(), mediaType }), mediaType).toBe('loaded');
    }
    for (const mediaType of [
      'x-application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      'application/vnd.dev.sigstore.trustedroot+json;version=0.1x',
      'application/vnd.dev.sigstore.trustedroot+json;version=0.3',
      'application/vnd.dev.sigstore.trustedroot.v0.3+json',
    ]) {
      expect(loads({ ...root(), mediaType }), mediaType).toBe(
        't: not a valid trusted root (mediaType: not a Sigstore trusted root media type)',
      );
    }
  });

  it('keys and certificates are base64, times are times', () => {
    for (const bad of ['!!', 'QQ=x', '', 'QQ===', ' QQ==', 'QQ== ']) {
      const r = root();
      r.tlogs[0].publicKey.rawBytes = bad;
      expect(loads(r), bad).toBe('t: not a valid trusted root (tlogs.0.publicKey.rawBytes: not base64)');
    }
    const r = root();
    r.tlogs[0].publicKey.rawBytes = 'QQ==';
    expect(loads(r)).not.toMatch(/not a valid trusted root/);
    const t = root();
    t.certificateAuthorities[0].validFor.start = 'yesterday';
    expect(loads(t)).toBe('t: not a valid trusted root (certificateAuthorities.0.validFor.start: not a timestamp)');
    const empty = root();
    empty.certificateAuthorities[0].certChain.certificates = [];
    expect(loads(empty)).toMatch(/^t: not a valid trusted root \(certificateAuthorities\.0\.certChain\.certificates: /);
  });

  it('absent lists are empty lists', () => {
    const r = root();
    for (const list of ['tlogs', 'ctlogs', 'timestampAuthorities', 'certificateAuthorities']) delete r[list];
    const t = trustFromJSON(r, 't');
    expect(t.trust.tlogs).toEqual([]);
    expect(t.trust.ctlogs).toEqual([]);
    expect(t.trust.timestampAuthorities).toEqual([]);
    expect(t.trust.certificateAuthorities).toEqual([]);
    expect(t.untrusted).toEqual([]);
    const n = root();
    for (const list of ['tlogs', 'ctlogs', 'timestampAuthorities', 'certificateAuthorities']) n[list] = null;
    expect(trustFromJSON(n, 't').trust.tlogs).toEqual([]);
  });

  it('an authority of any kind without validFor.start is set aside, not trusted since 1970', () => {
    const r = root();
    const counts = {
      tlogs: r.tlogs.length,
      ctlogs: r.ctlogs.length,
      certificateAuthorities: r.certificateAuthorities.length,
      timestampAuthorities: r.timestampAuthorities.length,
    };
    delete r.tlogs[0].publicKey.validFor;
    delete r.ctlogs[0].publicKey.validFor;
    delete r.certificateAuthorities[0].validFor;
    delete r.timestampAuthorities[0].validFor;
    const t = trustFromJSON(r, 't');
    expect(t.untrusted).toEqual([
      'tlogs[0]: validFor has no start',
      'ctlogs[0]: validFor has no start',
      'certificateAuthorities[0]: validFor has no start',
      'timestampAuthorities[0]: validFor has no start',
    ]);
    expect(t.trust.tlogs).toHaveLength(counts.tlogs - 1);
    expect(t.trust.ctlogs).toHaveLength(counts.ctlogs - 1);
    expect(t.trust.certificateAuthorities).toHaveLength(counts.certificateAuthorities - 1);
    expect(t.trust.timestampAuthorities).toHaveLength(counts.timestampAuthorities - 1);
    // a null start is no start either
    const n = root();
    n.certificateAuthorities[0].validFor.start = null;
    expect(trustFromJSON(n, 't').untrusted).toEqual(['certificateAuthorities[0]: validFor has no start']);
  });
});

describe('trusted-root.ts: loadTrust', () => {
  it('a given trusted root file is the one used, not the built-in public-good root', () => {
    const file = resolve(__dirname, '../fixtures/sigstore-conformance/bundle-verify/rekor2-happy-path/trusted_root.json');
    const given = loadTrust(file);
    expect(given.source).toBe(file);
    expect(given.fingerprint).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(loadTrust().source).toBe('public-good (built in)');
  });
});

describe('authority.ts: loadedRoot', () => {
  it('a trusted root without an origin (a plain file) is used; one whose origin has a problem is refused', () => {
    const file = { label: 'plain.json', json: root(), fingerprint: 'f' };
    expect(loadedRoot(file).trust.tlogs.length).toBeGreaterThan(0);
    const broken = { ...file, origin: { source: 'tuf' as const, path: '/x', problem: 'signature of the update does not verify' } };
    expect(() => loadedRoot(broken)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_INVALID', message: 'signature of the update does not verify' }),
    );
  });
});
