/**
 * @sigstore/verify TrustMaterial for a requirement's trust rule, built from
 * the bytes the policy loader read (src/policy/trust.ts), once per rule:
 *
 * - `fulcio` and `pki`: one certificate authority per root, whose chain holds
 *   the configured intermediates and that root, valid at all times (the CA
 *   files are the policy's to date, as in containers/image); `fulcio` adds the
 *   Rekor keys as transparency logs, their log ID the sha256 of the key;
 * - `keyless`: the trusted root (trusted-root.ts, with its stricter rules);
 * - keys with Rekor: the Rekor keys, or the public-good root's logs.
 */
import { createHash } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import { ReasonCode, SigguardError } from '../errors.js';
import type { CertificatePool, RekorLogs, TrustRule, TrustedRootFile } from '../policy/types.js';
import { type LoadedTrust, TrustedRootError, trustFromJSON } from './trusted-root.js';

const BEGINNING_OF_TIME = new Date(0);
const END_OF_TIME = new Date(8640000000000000);

type CertAuthority = TrustMaterial['certificateAuthorities'][number];
type TLogAuthority = TrustMaterial['tlogs'][number];

const noKeys: TrustMaterial['publicKey'] = () => {
  throw new Error('no public keys in this trust material');
};

function authorities(pool: CertificatePool): CertAuthority[] {
  const intermediates = pool.intermediates.map((d) => X509Certificate.parse(Buffer.from(d)));
  return pool.roots.map((root) => ({
    certChain: [...intermediates, X509Certificate.parse(Buffer.from(root))],
    validFor: { start: BEGINNING_OF_TIME, end: END_OF_TIME },
  }));
}

const trustedRoots = new WeakMap<TrustedRootFile, LoadedTrust>();

/** The parsed trusted root; a broken one is the policy's fault (POLICY_INVALID). */
export function loadedRoot(file: TrustedRootFile): LoadedTrust {
  let loaded = trustedRoots.get(file);
  // an updated root that failed its checks: refused with why, never verified against an older one
  if (file.origin?.problem !== undefined) throw new SigguardError(ReasonCode.TRUST_ROOT_INVALID, file.origin.problem);
  if (loaded === undefined) {
    try {
      loaded = trustFromJSON(file.json, file.label, file.fingerprint);
    } catch (err) {
      if (err instanceof TrustedRootError) throw new SigguardError(ReasonCode.POLICY_INVALID, err.message);
      throw err;
    }
    trustedRoots.set(file, loaded);
  }
  return loaded;
}

function tlogs(logs: RekorLogs): TLogAuthority[] {
  if (logs.kind === 'trustedRoot') return loadedRoot(logs.root).trust.tlogs;
  return logs.keys.map((k) => ({
    baseURL: '',
    logID: createHash('sha256').update(k.spki).digest(),
    publicKey: k.key,
    validFor: { start: BEGINNING_OF_TIME, end: END_OF_TIME },
  }));
}

const materials = new WeakMap<TrustRule, TrustMaterial>();

/** The TrustMaterial a rule verifies against (keys themselves are given to the verifier separately). */
export function trustMaterial(rule: TrustRule): TrustMaterial {
  let m = materials.get(rule);
  if (m !== undefined) return m;
  const empty: TrustMaterial = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: noKeys };
  switch (rule.kind) {
    case 'keys':
      m = { ...empty, tlogs: rule.rekor ? tlogs(rule.rekor) : [] };
      break;
    case 'fulcio':
      m = { ...empty, certificateAuthorities: authorities(rule.ca), tlogs: tlogs(rule.rekor) };
      break;
    case 'pki':
      m = { ...empty, certificateAuthorities: authorities(rule.ca) };
      break;
    case 'keyless':
      m = loadedRoot(rule.root).trust;
      break;
  }
  materials.set(rule, m);
  return m;
}

/** Builds every rule's material now: `policy validate` reports what a verification would trip on. */
export function checkTrustRules(rules: Array<{ where: string; rule: TrustRule }>): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const { where, rule } of rules) {
    try {
      trustMaterial(rule);
      const root =
        rule.kind === 'keyless' ? rule.root : rule.kind !== 'pki' && rule.rekor?.kind === 'trustedRoot' ? rule.rekor.root : undefined;
      const untrusted = root ? loadedRoot(root).untrusted : [];
      if (untrusted.length > 0) warnings.push(`${where}: trusted root ${root!.label} sets aside ${untrusted.join(', ')}`);
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
    }
  }
  return { errors, warnings };
}
