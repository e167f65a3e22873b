/**
 * `make bench`'s closing table: each figure of issue 15 beside its target, met or not, and for a
 * time against cosign the 95% interval of that ratio, so a reader of one run on a noisy host can
 * tell a miss (or a hit) that another run could turn from one the run makes clear.
 */

export interface TargetRow {
  what: string;
  /** The measured figure, as text (with its unit). */
  figure: string;
  /** The figure against what the target is a multiple of (undefined: no ratio). */
  ratio?: number;
  /** The target, as text ("≤ 1.5× cosign 2.5"). */
  target: string;
  /** undefined: reported only, no target. */
  met?: boolean;
  /** The ratio's 95% interval (ratioInterval), where the samples are paired by round. */
  interval?: [number, number];
  /** The limit the ratio is held to (with `interval`: whether the interval holds it). */
  limit?: number;
}

/** The median; of an even count, the mean of the middle two. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A seeded generator of numbers in [0, 1) (mulberry32): the same samples give the same interval. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The 95% interval of median(xs) / median(base), where xs[i] and base[i] were measured in the same
 * round (make bench interleaves its candidates round by round): a paired bootstrap, the rounds drawn
 * again with replacement `resamples` times, the ratio's 2.5th and 97.5th percentiles. Pairing keeps
 * what a round shares (the host slower for a while) out of the spread. Undefined without two pairs.
 */
export function ratioInterval(xs: readonly number[], base: readonly number[], resamples = 2000, seed = 15): [number, number] | undefined {
  const n = Math.min(xs.length, base.length);
  if (n < 2) return undefined;
  const random = seeded(seed);
  const ratios: number[] = [];
  const a: number[] = new Array(n);
  const b: number[] = new Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(random() * n);
      a[i] = xs[k]!;
      b[i] = base[k]!;
    }
    ratios.push(median(a) / median(b));
  }
  ratios.sort((x, y) => x - y);
  return [ratios[Math.floor(0.025 * (resamples - 1))]!, ratios[Math.ceil(0.975 * (resamples - 1))]!];
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/**
 * Whether the row met its target, as the table says it: "yes" or "**no**", and "within noise"
 * when the ratio's 95% interval holds the limit (another run could well say the other).
 */
export function metCell(r: TargetRow): string {
  if (r.met === undefined) return '—';
  const said = r.met ? 'yes' : '**no**';
  if (r.interval === undefined || r.limit === undefined) return said;
  return r.interval[0] <= r.limit && r.limit < r.interval[1] ? `${said}, within noise` : said;
}

/** A Markdown table of the rows. */
export function targetTable(rows: TargetRow[]): string {
  const out = ['| figure | measured | ratio | 95% interval | target | met |', '| --- | ---: | ---: | ---: | --- | :---: |'];
  for (const r of rows) {
    const ratio = r.ratio === undefined || !Number.isFinite(r.ratio) ? '—' : `${r.ratio.toFixed(2)}×`;
    const interval = r.interval === undefined ? '—' : `${r.interval[0].toFixed(2)}–${r.interval[1].toFixed(2)}×`;
    out.push(`| ${cell(r.what)} | ${cell(r.figure)} | ${ratio} | ${interval} | ${cell(r.target)} | ${metCell(r)} |`);
  }
  return out.join('\n');
}

/**
 * A row for "figure ≤ limit × base"; with `paired` (the figure's and the base's samples, round by
 * round) also the ratio's 95% interval.
 */
export function atMost(
  what: string,
  figure: string,
  value: number,
  base: number,
  limit: number,
  baseName: string,
  paired?: { xs: readonly number[]; base: readonly number[] },
): TargetRow {
  const ratio = value / base;
  const interval = paired ? ratioInterval(paired.xs, paired.base) : undefined;
  return { what, figure, ratio, target: `≤ ${limit}× ${baseName}`, met: ratio <= limit, ...(interval ? { interval, limit } : {}) };
}
