/**
 * Which entry of a multi-arch index a node runs, decided the way containerd
 * decides it (containerd/platforms: Normalize, Only, the ordered comparer's
 * Less; containerd's images.Manifest / LimitManifests for the walk itself).
 * sigguard must verify the manifest containerd will run, so nothing here is
 * "sensible" on its own account: every rule mirrors containerd's, including
 * its quirks (an empty os is the node's, `arm` without variant is v7, an
 * arm64 variant outside the v8.x/v9.x table matches nothing).
 *
 * Not mirrored: Windows `os.version` matching (sigguard guards Linux nodes; a
 * Windows entry never matches a Linux platform anyway). `os.features` follow
 * containerd/platforms ≥ 1.0.0-rc.3 (containerd 2.3): an entry naming features
 * the node's platform does not have does not match. containerd ≤ 2.2 ignores
 * features; where the two differ the hook's binding to the runtime's image id
 * (not this module) is what refuses the start.
 */

/** A platform as an index descriptor or an image config states it (raw, not normalised). */
export interface RawPlatform {
  os: string;
  architecture: string;
  variant?: string | undefined;
  osVersion?: string | undefined;
  osFeatures?: readonly string[] | undefined;
}

/** A normalised platform: lower case, canonical architecture, variant '' for none, features sorted and unique. */
export interface NormalPlatform {
  os: string;
  architecture: string;
  variant: string;
  osFeatures: string[];
}

/** The OS containerd substitutes for an empty one (its runtime.GOOS): the node's, Linux. */
const NODE_OS = 'linux';

function normalizeOS(os: string): string {
  if (os === '') return NODE_OS;
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/** containerd/platforms normalizeArch: canonical architecture names and variant defaults. */
export function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return [a, v];
}

export function normalizePlatform(p: RawPlatform): NormalPlatform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const osFeatures = [...new Set(p.osFeatures ?? [])].sort(compareGo);
  return { os: normalizeOS(p.os), architecture, variant, osFeatures };
}

/** Go's string order (bytes of UTF-8; equal to UTF-16 code unit order except around surrogates, fine for feature names). */
function compareGo(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/** containerd/platforms matcher.Match: equal os/architecture/variant after normalising; the entry's features a subset of the wanted ones. */
function exactMatch(want: NormalPlatform, entry: RawPlatform): boolean {
  const n = normalizePlatform(entry);
  if (n.os !== want.os || n.architecture !== want.architecture || n.variant !== want.variant) return false;
  if (n.osFeatures.length === 0) return true;
  if (want.osFeatures.length < n.osFeatures.length) return false;
  // both sorted: a merge walk, as containerd does
  let j = 0;
  for (const f of n.osFeatures) {
    let found = false;
    for (; j < want.osFeatures.length; j++) {
      if (f === want.osFeatures[j]) {
        found = true;
        j++;
        break;
      }
      if (compareGo(f, want.osFeatures[j]!) < 0) return false;
    }
    if (!found) return false;
  }
  return true;
}

// containerd/platforms arm64variantToVersion: for each variant, the major versions and the highest minor of each it covers
const ARM64_VERSIONS: Record<string, Array<[number, number]>> = {
  v8: [[8, 0]],
  'v8.0': [[8, 0]],
  ...Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9].map((m): [string, Array<[number, number]>] => [`v8.${m}`, [[8, m]]])),
  v9: [
    [9, 0],
    [8, 5],
  ],
  'v9.0': [
    [9, 0],
    [8, 5],
  ],
  ...Object.fromEntries(
    [1, 2, 3, 4, 5, 6, 7].map((m): [string, Array<[number, number]>] => [
      `v9.${m}`,
      [
        [9, m],
        [8, Math.min(m + 5, 9)],
      ],
    ]),
  ),
};

const atoiVariant = (variant: string): number | undefined => {
  const s = variant.startsWith('v') ? variant.slice(1) : variant;
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
};

/** containerd/platforms platformVector: the platforms `Only` accepts, best first (input already normalised). */
export function platformVector(p: NormalPlatform): NormalPlatform[] {
  const like = (architecture: string, variant: string): NormalPlatform => ({ os: p.os, architecture, variant, osFeatures: p.osFeatures });
  let vector: NormalPlatform[] = [p];
  switch (p.architecture) {
    case 'amd64': {
      const n = atoiVariant(p.variant);
      if (n !== undefined && n > 1) for (let v = n - 1; v >= 1; v--) vector.push(like('amd64', `v${v}`));
      vector.push(like('386', ''));
      break;
    }
    case 'arm': {
      const n = atoiVariant(p.variant);
      if (n !== undefined && n > 5) for (let v = n - 1; v >= 5; v--) vector.push(like('arm', `v${v}`));
      break;
    }
    case 'arm64': {
      let variant = p.variant === '' ? 'v8' : p.variant;
      vector = [];
      const versions = Object.hasOwn(ARM64_VERSIONS, variant) ? ARM64_VERSIONS[variant]! : undefined;
      if (versions === undefined) break;
      for (const [major, top] of versions) {
        for (let minor = top; minor >= 0; minor--) vector.push(like('arm64', minor === 0 ? `v${major}` : `v${major}.${minor}`));
      }
      if (variant.startsWith('v8') || variant.startsWith('v9')) variant = 'v8';
      vector.push(...platformVector(like('arm', variant)));
      break;
    }
  }
  return vector;
}

/** A containerd MatchComparer: Match and Less. */
export interface MatchComparer {
  match(p: RawPlatform): boolean;
  less(a: RawPlatform, b: RawPlatform): boolean;
}

/** containerd/platforms Ordered: matches any of the platforms, ranked in the order given. */
export function ordered(platforms: NormalPlatform[]): MatchComparer {
  // NewMatcher normalises each platform once more (arm64/v8 becomes arm64, amd64/v1 amd64)
  const matchers = platforms.map((p) => normalizePlatform(p));
  const less = (p1: RawPlatform, p2: RawPlatform): boolean => {
    for (const m of matchers) {
      const p1m = exactMatch(m, p1);
      const p2m = exactMatch(m, p2);
      if (p1m && !p2m) return true;
      if (p1m || p2m) {
        // both match: prefer the one naming more features (as stated, not de-duplicated)
        if (p1m && p2m && (p1.osFeatures?.length ?? 0) !== (p2.osFeatures?.length ?? 0))
          return (p1.osFeatures?.length ?? 0) > (p2.osFeatures?.length ?? 0);
        return false;
      }
    }
    if ((p1.osFeatures?.length ?? 0) > 0 || (p2.osFeatures?.length ?? 0) > 0)
      return less({ ...p1, osFeatures: undefined }, { ...p2, osFeatures: undefined });
    return false;
  };
  return { match: (p) => matchers.some((m) => exactMatch(m, p)), less };
}

/** containerd/platforms Only: the platform and what it can also run (amd64 → 386, arm/v7 → v6, v5, arm64 → arm64 v8.x, arm), ranked. */
export function only(p: RawPlatform): MatchComparer {
  return ordered(platformVector(normalizePlatform(p)));
}

/** containerd/platforms OnlyStrict: the platform alone (non-canonical spellings included). */
export function onlyStrict(p: RawPlatform): MatchComparer {
  return ordered([normalizePlatform(p)]);
}

/**
 * The candidates of one index level as containerd's images.Manifest and LimitManifests see them:
 * entries whose platform matches (or that state none), stably sorted by Less with platform-less
 * entries last, so index order is kept between equals. The first is the one containerd takes.
 */
export function rankEntries<T extends { platform?: RawPlatform | undefined }>(entries: readonly T[], m: MatchComparer): T[] {
  const kept = entries.filter((d) => d.platform === undefined || m.match(d.platform));
  // Array.prototype.sort is stable; Less is a strict weak order on matching platforms (rank of the
  // first matcher, then feature count), so this is the order Go's sort.SliceStable produces.
  return kept.sort((a, b) => {
    if (a.platform === undefined) return b.platform === undefined ? 0 : 1;
    if (b.platform === undefined) return -1;
    if (m.less(a.platform, b.platform)) return -1;
    if (m.less(b.platform, a.platform)) return 1;
    return 0;
  });
}

export function formatPlatform(p: RawPlatform): string {
  const features = p.osFeatures && p.osFeatures.length > 0 ? `(+${p.osFeatures.join('+')})` : '';
  return [`${p.os}${features}`, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}
