/**
 * The platform matcher against tables derived from containerd/platforms' own
 * tests (TestOnly, TestOnlyStrict, TestParseSelector's `matches`,
 * TestCompareOSFeatures) and containerd's images.Manifest / LimitManifests
 * rules (platform-less entries last, stable between equals). Our own table:
 * the cases are theirs, the code is not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RawPlatform, formatPlatform, normalizePlatform, only, onlyStrict, rankEntries } from '../../src/registry/platform-match.js';

/** "os[(version)(+feature…)]/arch[/variant]" as a raw platform (unnormalised: the matcher normalises). */
function P(spec: string): RawPlatform {
  const [osPart, architecture = '', variant] = spec.split('/');
  const m = /^([^()]*)(?:\(([^+)]*)((?:\+[^+)]+)*)\))?$/.exec(osPart!)!;
  const features = m[3] ? m[3].slice(1).split('+') : undefined;
  return {
    os: m[1]!,
    architecture,
    ...(variant !== undefined ? { variant } : {}),
    ...(m[2] ? { osVersion: m[2] } : {}),
    ...(features ? { osFeatures: features } : {}),
  };
}

// TestOnly (containerd/platforms compare_test.go): what platforms.Only(p) matches.
const ONLY: Array<[string, string[], string[]]> = [
  ['linux/amd64', ['linux/amd64', 'linux/386'], ['linux/amd64/v2', 'linux/arm/v7', 'linux/arm64', 'windows/amd64', 'windows/arm']],
  [
    'linux/amd64/v2',
    ['linux/amd64', 'linux/amd64/v1', 'linux/amd64/v2', 'linux/386'],
    ['linux/amd64/v3', 'linux/amd64/v4', 'linux/arm/v7', 'linux/arm64', 'windows/amd64'],
  ],
  ['linux/386', ['linux/386'], ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/amd64']],
  ['windows/amd64', ['windows/amd64', 'windows(10.0.17763)/amd64'], ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/arm']],
  [
    'linux/arm/v8',
    ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8'],
    ['linux/amd64', 'linux/arm/v4', 'linux/arm64', 'windows/arm'],
  ],
  [
    'linux/arm/v7',
    ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7'],
    ['linux/amd64', 'linux/arm/v4', 'linux/arm/v8', 'linux/arm64', 'windows/arm'],
  ],
  [
    'linux/arm/v6',
    ['linux/arm/v5', 'linux/arm/v6'],
    ['linux/amd64', 'linux/arm', 'linux/arm/v4', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm/v5',
    ['linux/arm/v5'],
    ['linux/amd64', 'linux/arm', 'linux/arm/v4', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm/v4',
    ['linux/arm/v4'],
    ['linux/amd64', 'linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm64/v9.6',
    [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
      'linux/arm64/v8.2',
      'linux/arm64/v8.3',
      'linux/arm64/v8.4',
      'linux/arm64/v8.5',
      'linux/arm64/v8.6',
      'linux/arm64/v8.7',
      'linux/arm64/v8.8',
      'linux/arm64/v8.9',
      'linux/arm64/v9',
      'linux/arm64/v9.0',
      'linux/arm64/v9.1',
      'linux/arm64/v9.2',
      'linux/arm64/v9.3',
      'linux/arm64/v9.4',
      'linux/arm64/v9.5',
      'linux/arm64/v9.6',
    ],
    ['linux/amd64', 'linux/arm/v4', 'windows/amd64', 'windows/arm', 'linux/arm64/v8.10'],
  ],
  [
    'linux/arm64/v9',
    [
      'linux/arm',
      'linux/arm/v5',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm/v8',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
      'linux/arm64/v8.2',
      'linux/arm64/v8.3',
      'linux/arm64/v8.4',
      'linux/arm64/v8.5',
      'linux/arm64/v9',
      'linux/arm64/v9.0',
    ],
    ['linux/amd64', 'linux/arm/v4', 'windows/amd64', 'linux/arm64/v8.6'],
  ],
  [
    'linux/arm64/v8.1',
    ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64', 'linux/arm64/v8', 'linux/arm64/v8.1'],
    ['linux/amd64', 'linux/arm/v4', 'linux/arm/v9', 'linux/arm64/v9', 'windows/amd64'],
  ],
  [
    'linux/arm64',
    ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64', 'linux/arm64/v8'],
    ['linux/amd64', 'linux/arm/v4', 'linux/arm/v9', 'linux/arm64/v9', 'windows/amd64'],
  ],
];

// TestOnlyStrict: the platform alone.
const ONLY_STRICT: Array<[string, string[], string[]]> = [
  ['linux/amd64', ['linux/amd64'], ['linux/386', 'linux/arm/v7', 'linux/arm64', 'windows/amd64']],
  ['linux/386', ['linux/386'], ['linux/amd64', 'linux/arm/v7', 'linux/arm64', 'windows/amd64']],
  [
    'linux/arm/v8',
    ['linux/arm/v8'],
    ['linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/amd64', 'linux/arm/v4', 'linux/arm64'],
  ],
  [
    'linux/arm/v7',
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v5', 'linux/arm/v6', 'linux/amd64', 'linux/arm/v4', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm/v6',
    ['linux/arm/v6'],
    ['linux/arm/v5', 'linux/amd64', 'linux/arm', 'linux/arm/v4', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm/v5',
    ['linux/arm/v5'],
    ['linux/amd64', 'linux/arm', 'linux/arm/v4', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm/v4',
    ['linux/arm/v4'],
    ['linux/amd64', 'linux/arm', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm/v8', 'linux/arm64'],
  ],
  [
    'linux/arm64/v9.5',
    ['linux/arm64/v9.5'],
    [
      'linux/arm',
      'linux/arm/v8',
      'linux/amd64',
      'linux/arm64/v8',
      'linux/arm64/v8.1',
      'linux/arm64/v9',
      'linux/arm64/v9.1',
      'linux/arm64/v9.4',
    ],
  ],
  [
    'linux/arm64/v9',
    ['linux/arm64/v9', 'linux/arm64/v9.0'],
    ['linux/arm', 'linux/arm/v8', 'linux/amd64', 'linux/arm/v9', 'linux/arm64/v8', 'linux/arm64/v8.1'],
  ],
  [
    'linux/arm64/v8.1',
    ['linux/arm64/v8.1'],
    ['linux/arm', 'linux/arm/v8', 'linux/amd64', 'linux/arm/v9', 'linux/arm64/v8', 'linux/arm64/v9'],
  ],
  ['linux/arm64', ['linux/arm64', 'linux/arm64/v8'], ['linux/arm', 'linux/arm/v8', 'linux/amd64', 'linux/arm/v9', 'linux/arm64/v9']],
];

for (const [name, comparer, table] of [
  ['platforms.Only (containerd/platforms TestOnly)', only, ONLY],
  ['platforms.OnlyStrict (containerd/platforms TestOnlyStrict)', onlyStrict, ONLY_STRICT],
] as const) {
  describe(name, () => {
    for (const [want, yes, no] of table) {
      it(want, () => {
        const m = comparer(P(want));
        for (const p of yes) expect(m.match(P(p)), `${want} should match ${p}`).toBe(true);
        for (const p of no) expect(m.match(P(p)), `${want} should not match ${p}`).toBe(false);
      });
    }
  });
}

describe('Normalize (TestParseSelector and database.go)', () => {
  // [as stated in a descriptor, what containerd normalises it to]
  const cases: Array<[RawPlatform, string]> = [
    [{ os: 'linux', architecture: 'aarch64' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'aarch64', variant: 'v8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8.0' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: '9' }, 'linux/arm64/v9'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v9.0' }, 'linux/arm64/v9'],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '7' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'armhf' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armhf', variant: 'v5' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armel' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'x86_64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'x86-64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'V1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v2' }, 'linux/amd64/v2'],
    [{ os: 'linux', architecture: 'i386', variant: 'v5' }, 'linux/386'],
    [{ os: 'Linux', architecture: 'X86_64' }, 'linux/amd64'],
    [{ os: 'LINUX', architecture: 'AMD64' }, 'linux/amd64'],
    [{ os: 'macos', architecture: 'Aarch64' }, 'darwin/arm64'],
    // an empty os is containerd's own (runtime.GOOS): the node's
    [{ os: '', architecture: 'amd64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'ppc64le' }, 'linux/ppc64le'],
  ];
  for (const [raw, want] of cases) {
    it(`${JSON.stringify(raw)} → ${want}`, () => expect(formatPlatform(normalizePlatform(raw))).toBe(want));
  }
  it('sorts and de-duplicates os.features', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'amd64', osFeatures: ['b', 'a', 'b'] }).osFeatures).toEqual(['a', 'b']);
  });
});

describe('the node platform linux/amd64 (this node): what it runs', () => {
  const node = only({ os: 'linux', architecture: 'amd64' });
  it.each([
    ['linux/x86_64', true],
    ['Linux/AMD64', true],
    ['linux/amd64/v1', true],
    ['/amd64', true],
    ['linux/amd64/v2', false],
    ['linux/amd64/v3', false],
    ['linux/386', true],
    ['linux/i386', true],
    ['linux(+gpu)/amd64', false],
    ['windows/amd64', false],
  ])('%s → %s', (p, want) => expect(node.match(P(p))).toBe(want));
  it('ranks amd64 before 386, whatever it is called', () => {
    expect(node.less(P('linux/386'), P('linux/x86_64'))).toBe(false);
    expect(node.less(P('linux/x86_64'), P('linux/386'))).toBe(true);
    expect(node.less(P('linux/x86_64'), P('linux/amd64'))).toBe(false);
    expect(node.less(P('linux/amd64'), P('linux/x86_64'))).toBe(false);
  });
});

describe('ordering with os.features (TestCompareOSFeatures, Only)', () => {
  const cases: Array<[string, string[], string[]]> = [
    [
      'linux/amd64',
      ['windows/amd64', 'linux/amd64', 'linux(+other)/amd64', 'linux/arm64'],
      ['linux/amd64', 'linux(+other)/amd64', 'windows/amd64', 'linux/arm64'],
    ],
    [
      'linux(+none)/amd64',
      ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
      ['linux/amd64', 'linux(+other)/amd64', 'windows/amd64', 'linux/arm64'],
    ],
    [
      'linux(+other)/amd64',
      ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
      ['linux(+other)/amd64', 'linux/amd64', 'windows/amd64', 'linux/arm64'],
    ],
    [
      'linux(+af+other+zf)/amd64',
      ['windows/amd64', 'linux/amd64', 'linux/arm64', 'linux(+other)/amd64'],
      ['linux(+other)/amd64', 'linux/amd64', 'windows/amd64', 'linux/arm64'],
    ],
    [
      'linux(+f1+f2)/amd64',
      ['linux/amd64', 'linux(+f2)/amd64', 'linux(+f1)/amd64', 'linux(+f1+f2)/amd64'],
      ['linux(+f1+f2)/amd64', 'linux(+f2)/amd64', 'linux(+f1)/amd64', 'linux/amd64'],
    ],
  ];
  for (const [want, input, sorted] of cases) {
    for (const [name, mc] of [
      ['only', only(P(want))],
      ['only strict', onlyStrict(P(want))],
    ] as const) {
      it(`${name} ${want}`, () => {
        const out = input.map(P).sort((a, b) => (mc.less(a, b) ? -1 : mc.less(b, a) ? 1 : 0));
        expect(out.map(formatPlatform)).toEqual(sorted);
      });
    }
  }
});

describe('images.Manifest / LimitManifests: which entry containerd takes', () => {
  type E = { name: string; platform?: RawPlatform };
  const e = (name: string, spec?: string): E => (spec === undefined ? { name } : { name, platform: P(spec) });
  const pick = (want: string, entries: E[]): string[] => rankEntries(entries, only(P(want))).map((x) => x.name);
  it('keeps index order between equals: x86_64 first wins over amd64', () => {
    expect(pick('linux/amd64', [e('E', 'linux/x86_64'), e('M', 'linux/amd64')])).toEqual(['E', 'M']);
    expect(pick('linux/amd64', [e('M', 'linux/amd64'), e('E', 'linux/x86_64')])).toEqual(['M', 'E']);
  });
  it('case: Linux/AMD64 is amd64', () => {
    expect(pick('linux/amd64', [e('E', 'Linux/AMD64'), e('M', 'linux/amd64')])[0]).toBe('E');
  });
  it('variant: amd64/v1 is amd64; amd64/v2 is not run on a plain amd64 node', () => {
    expect(pick('linux/amd64', [e('E', 'linux/amd64/v1'), e('M', 'linux/amd64')])[0]).toBe('E');
    expect(pick('linux/amd64', [e('V2', 'linux/amd64/v2'), e('M', 'linux/amd64')])).toEqual(['M']);
  });
  it('ranks: amd64 before 386 whatever the index order', () => {
    expect(pick('linux/amd64', [e('X', 'linux/386'), e('M', 'linux/amd64')])).toEqual(['M', 'X']);
  });
  it('entries without a platform are kept, last, in index order', () => {
    expect(pick('linux/amd64', [e('N1'), e('X', 'linux/386'), e('N2'), e('A', 'linux/arm64')])).toEqual(['X', 'N1', 'N2']);
    expect(pick('linux/amd64', [e('N1'), e('A', 'linux/arm64')])).toEqual(['N1']);
  });
  it('arm64 node: arm64/v8 and arm64 are equals (index order), arm/v7 after', () => {
    expect(pick('linux/arm64/v8', [e('A7', 'linux/arm/v7'), e('E', 'linux/aarch64'), e('M', 'linux/arm64/v8')])).toEqual(['E', 'M', 'A7']);
    expect(pick('linux/arm64/v8', [e('V81', 'linux/arm64/v8.1'), e('M', 'linux/arm64')])).toEqual(['M']);
  });
  it('arm/v7 node: v7 before v6 before v5, armhf is v7', () => {
    expect(pick('linux/arm/v7', [e('5', 'linux/arm/v5'), e('6', 'linux/armel'), e('7', 'linux/armhf'), e('8', 'linux/arm/v8')])).toEqual([
      '7',
      '6',
      '5',
    ]);
  });
  it('arm64 with a variant outside the table matches nothing (as containerd)', () => {
    expect(pick('linux/arm64/v10', [e('M', 'linux/arm64'), e('N')])).toEqual(['N']);
  });
  it('os.features: an entry naming features the node lacks is not run', () => {
    expect(pick('linux/amd64', [e('F', 'linux(+gpu)/amd64'), e('M', 'linux/amd64')])).toEqual(['M']);
  });
});

describe('properties (fast-check)', () => {
  const archs = [
    'amd64',
    'AMD64',
    'x86_64',
    'x86-64',
    '386',
    'i386',
    'arm64',
    'aarch64',
    'Aarch64',
    'arm',
    'armhf',
    'armel',
    'ppc64le',
    '',
  ];
  const variants = [undefined, '', 'v1', 'V1', 'v2', 'v5', '6', 'v7', '7', 'v8', '8', 'v8.0', 'v8.2', 'v9', '9', 'v9.3'];
  const oses = ['linux', 'Linux', 'LINUX', '', 'windows', 'darwin', 'macos'];
  const raw = fc.record({ os: fc.constantFrom(...oses), architecture: fc.constantFrom(...archs), variant: fc.constantFrom(...variants) });
  const nodes = ['linux/amd64', 'linux/amd64/v2', 'linux/arm64/v8', 'linux/arm64/v9.2', 'linux/arm/v7', 'linux/arm/v6', 'linux/386'];

  it('Normalize is idempotent', () => {
    fc.assert(
      fc.property(raw, (p) => {
        const n = normalizePlatform(p);
        expect(normalizePlatform({ os: n.os, architecture: n.architecture, variant: n.variant })).toEqual(n);
      }),
      { seed: 10, numRuns: 2000 },
    );
  });

  it('the entry taken: none matching ranks better, every earlier one ranks worse (index order between equals); platform-less only when none matches', () => {
    fc.assert(
      fc.property(fc.constantFrom(...nodes), fc.array(fc.option(raw, { nil: undefined }), { maxLength: 8 }), (node, platforms) => {
        const entries: Array<{ i: number; platform?: RawPlatform }> = platforms.map((platform, i) => ({
          i,
          ...(platform ? { platform } : {}),
        }));
        const m = only(P(node));
        const matching = entries.filter((e) => e.platform !== undefined && m.match(e.platform)) as Array<{
          i: number;
          platform: RawPlatform;
        }>;
        const taken = rankEntries(entries, m)[0];
        if (matching.length === 0) {
          expect(taken?.i).toBe(entries.find((e) => e.platform === undefined)?.i);
          return;
        }
        expect(taken?.platform).toBeDefined();
        for (const e of matching) {
          expect(m.less(e.platform, taken!.platform!)).toBe(false);
          if (e.i < taken!.i) expect(m.less(taken!.platform!, e.platform)).toBe(true);
        }
      }),
      { seed: 11, numRuns: 2000 },
    );
  });
});
