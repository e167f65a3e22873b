/**
 * containers/image versions and what each can read. containers/image parses
 * policy.json strictly: a version that does not know a key refuses the whole
 * file (5.23: `Unknown key "keyPaths"`), and CRI-O then pulls nothing. So the
 * generator writes only what the target version knows.
 */
import { ReasonCode, SigguardError } from '../errors.js';

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

/** The oldest target: sigstoreSigned and use-sigstore-attachments came in containers/image 5.22. */
export const OLDEST_TARGET: Version = { major: 5, minor: 22, patch: 0 };
/** The newest version whose policy.json sigguard knows; the default target. */
export const NEWEST_KNOWN: Version = { major: 5, minor: 35, patch: 0 };

/**
 * The first containers/image release that reads each feature sigguard may write.
 * - fulcio and rekorPublicKeyPath/rekorPublicKeyData (with fulcio or with a key) came with 5.24;
 * - keyPaths/keyDatas and rekorPublicKeyPaths/rekorPublicKeyDatas came with 5.33 and were
 *   backported to 5.32.2 (containers/image #2524, #2526);
 * - pki came with 5.35 (containers/image #2579, merged after 5.34.0).
 */
export const FEATURES = {
  sigstoreSigned: { since: OLDEST_TARGET, what: 'sigstoreSigned requirements and use-sigstore-attachments in registries.d' },
  fulcio: { since: { major: 5, minor: 24, patch: 0 }, what: 'fulcio, rekorPublicKeyPath and rekorPublicKeyData in sigstoreSigned' },
  keyPaths: {
    since: { major: 5, minor: 32, patch: 2 },
    what: 'keyPaths, keyDatas, rekorPublicKeyPaths and rekorPublicKeyDatas in sigstoreSigned (5.33; backported to 5.32.2)',
  },
  pki: { since: { major: 5, minor: 35, patch: 0 }, what: 'pki in sigstoreSigned' },
} as const satisfies Record<string, { since: Version; what: string }>;
export type Feature = keyof typeof FEATURES;

export function formatVersion(v: Version): string {
  return v.patch === 0 ? `${v.major}.${v.minor}` : `${v.major}.${v.minor}.${v.patch}`;
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export const atLeast = (v: Version, min: Version): boolean => compareVersions(v, min) >= 0;

/** Parses `X.Y` or `X.Y.Z` (an optional leading `v`); refuses versions older than 5.22. */
export function parseVersion(text: string): Version {
  const m = /^v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?$/.exec(text.trim());
  if (!m) {
    throw new SigguardError(ReasonCode.USAGE, `--containers-image-version takes X.Y or X.Y.Z (e.g. 5.23), not "${text}"`);
  }
  const v: Version = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
  if (v.major !== 5) {
    throw new SigguardError(ReasonCode.USAGE, `containers/image ${text}: only containers/image v5 (5.22 and later) is supported`);
  }
  if (!atLeast(v, OLDEST_TARGET)) {
    throw new SigguardError(
      ReasonCode.USAGE,
      `containers/image ${text} cannot verify cosign signatures: sigstoreSigned and use-sigstore-attachments need ${formatVersion(OLDEST_TARGET)} or later`,
    );
  }
  return v;
}
