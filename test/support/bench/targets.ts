/**
 * `make bench`'s closing table: each figure of issue 15 beside its target, met or not, and for a
 * time against cosign the 95% interval of that ratio over the run's rounds, so a reader of one run
 * on a noisy host can tell a miss (or a hit) inside that run's own noise from a clear one. Across
 * runs such a host moves more than that (a host slower for minutes moves a whole run).
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

/** Fewer pairs than this give no interval: a bootstrap of a median over 2-4 rounds says next to nothing. */
export const MIN_PAIRS = 5;

/**
 * The 95% interval of median(xs) / median(base), where xs[i] and base[i] were measured in the same
 * round (make bench interleaves its candidates round by round): a paired bootstrap, the rounds drawn
 * again with replacement `resamples` times, the ratio's 2.5th and 97.5th percentiles. Pairing keeps
 * what a round shares (the host slower for a while) out of the spread. It is this run's noise only:
 * rounds are taken as independent, and a host slower for minutes moves a whole run (make bench's
 * runs on a noisy host differ by more than one run's interval). A round where either time is not a
 * positive number (a failed run) is left out. Undefined: arrays of different lengths (no pairing),
 * fewer than MIN_PAIRS pairs, no resamples.
 */
export function ratioInterval(xs: readonly number[], base: readonly number[], resamples = 2000, seed = 15): [number, number] | undefined {
  if (xs.length !== base.length || !(resamples >= 1)) return undefined;
  const good = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x) && x > 0;
  const rounds = xs.flatMap((x, i) => (good(x) && good(base[i]) ? [i] : []));
  const n = rounds.length;
  if (n < MIN_PAIRS) return undefined;
  const random = seeded(seed);
  const ratios: number[] = [];
  const a: number[] = new Array(n);
  const b: number[] = new Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const k = rounds[Math.floor(random() * n)]!;
      a[i] = xs[k]!;
      b[i] = base[k]!;
    }
    ratios.push(median(a) / median(b));
  }
  ratios.sort((x, y) => x - y);
  // the 2.5% smallest and the 2.5% largest left out: 95% of the resamples between
  const lo = Math.min(resamples - 1, Math.round(0.025 * resamples));
  const hi = Math.max(lo, Math.round(0.975 * resamples) - 1);
  return [ratios[lo]!, ratios[hi]!];
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/**
 * Whether the row met its target, as the table says it: "yes" or "**no**", and "within this run's
 * noise" when the ratio's 95% interval holds the limit (the run's own rounds could have said the
 * other; a plain answer is clear within the run, not across runs).
 */
export function metCell(r: TargetRow): string {
  if (r.met === undefined) return '—';
  const said = r.met ? 'yes' : '**no**';
  if (r.interval === undefined || r.limit === undefined) return said;
  return r.interval[0] <= r.limit && r.limit < r.interval[1] ? `${said}, within this run's noise` : said;
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
