/**
 * bench/storm.svg: the storm curve as a small hand-written SVG (no plotting library): two
 * panels against the number of hooks started at once, time until the last decision and peak
 * total RSS, each with the process floor (`sigguard version` started as many times at once).
 */

export interface CurvePoint {
  starts: number;
  images: number;
  /** Time until the last hook decided (ms). */
  hookMs: number;
  /** Time until the last of as many `sigguard version` processes ended (ms). */
  floorMs: number;
  hookRssMb: number;
  floorRssMb: number;
  /** Hooks whose verdict was wrong (marked on the time panel). */
  wrong?: number;
}

export const escapeXml = (s: string): string =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  ys: number[];
  /** A note beside each point (empty: none). */
  marks?: string[];
}

const W = 360;
const H = 240;
const M = { left: 56, right: 12, top: 28, bottom: 40 };
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function panel(x0: number, title: string, unit: string, xs: number[], series: Series[]): string {
  const xMax = niceMax(Math.max(...xs));
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.ys)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number) => x0 + M.left + (x / xMax) * pw;
  const py = (y: number) => M.top + ph - (y / yMax) * ph;
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    out.push(`<line x1="${px(0)}" y1="${py(y)}" x2="${px(xMax)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${px(0) - 4}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  for (const x of xs) out.push(`<text x="${px(x)}" y="${py(0) + 14}" text-anchor="middle">${x}</text>`);
  out.push(`<text x="${px(xMax / 2)}" y="${H - 6}" text-anchor="middle">hooks started at once</text>`);
  out.push(
    `<text x="${x0 + 12}" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 ${x0 + 12} ${M.top + ph / 2})">${escapeXml(unit)}</text>`,
  );
  out.push(`<polyline points="${px(0)},${py(0)} ${px(xMax)},${py(0)}" stroke="#000" fill="none"/>`);
  series.forEach((s, k) => {
    const pts = xs.map((x, i) => `${px(x).toFixed(1)},${py(s.ys[i]!).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" stroke="${s.color}" fill="none" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    for (const [i, p] of pts.split(' ').entries()) {
      const [cx, cy] = p.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`);
      const mark = s.marks?.[i];
      if (mark) out.push(`<text x="${cx}" y="${Number(cy) - 6}" text-anchor="end" fill="${s.color}">${escapeXml(mark)}</text>`);
    }
    const ly = M.top + 6 + k * 14;
    out.push(
      `<line x1="${px(0) + 8}" y1="${ly}" x2="${px(0) + 28}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
    );
    out.push(`<text x="${px(0) + 32}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  return out.join('\n');
}

/** The whole SVG document for `points` (sorted by starts); `note` goes under the panels. */
export function stormSvg(points: CurvePoint[], note: string): string {
  const ps = [...points].sort((a, b) => a.starts - b.starts);
  const xs = ps.map((p) => p.starts);
  const time = panel(0, 'Time until the last decision', 'ms', xs, [
    {
      label: 'sigguard hook, cold cache (n wrong: verdicts not right)',
      color: '#c0392b',
      ys: ps.map((p) => p.hookMs),
      marks: ps.map((p) => (p.wrong ? `${p.wrong} wrong` : '')),
    },
    { label: 'process floor (sigguard version)', color: '#555', dashed: true, ys: ps.map((p) => p.floorMs) },
  ]);
  const rss = panel(W, 'Peak total RSS', 'MiB', xs, [
    { label: 'sigguard hook, cold cache', color: '#2e86c1', ys: ps.map((p) => p.hookRssMb) },
    { label: 'process floor (sigguard version)', color: '#555', dashed: true, ys: ps.map((p) => p.floorRssMb) },
  ]);
  const images = ps.map((p) => `${p.starts}: ${p.images}`).join(', ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 36}" viewBox="0 0 ${2 * W} ${H + 36}" font-family="sans-serif" font-size="11" role="img" aria-label="sigguard node-boot storm curve">
<title>sigguard: time until the last decision and peak total RSS against hooks started at once</title>
<rect width="100%" height="100%" fill="#fff"/>
${time}
${rss}
<text x="8" y="${H + 14}">distinct images per point (starts: images): ${escapeXml(images)}</text>
<text x="8" y="${H + 28}">${escapeXml(note)}</text>
</svg>
`;
}
