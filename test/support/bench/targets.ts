/** `make bench`'s closing table: each figure of issue 15 beside its target, met or not. */

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
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** A Markdown table of the rows. */
export function targetTable(rows: TargetRow[]): string {
  const out = ['| figure | measured | ratio | target | met |', '| --- | ---: | ---: | --- | :---: |'];
  for (const r of rows) {
    const met = r.met === undefined ? '—' : r.met ? 'yes' : '**no**';
    const ratio = r.ratio === undefined || !Number.isFinite(r.ratio) ? '—' : `${r.ratio.toFixed(2)}×`;
    out.push(`| ${cell(r.what)} | ${cell(r.figure)} | ${ratio} | ${cell(r.target)} | ${met} |`);
  }
  return out.join('\n');
}

/** A row for "figure ≤ limit × base". */
export function atMost(what: string, figure: string, value: number, base: number, limit: number, baseName: string): TargetRow {
  const ratio = value / base;
  return { what, figure, ratio, target: `≤ ${limit}× ${baseName}`, met: ratio <= limit };
}
