/**
 * `sigguard trust status`: what trust material a node has — the updated root kept by `trust
 * update` (its source, when fetched, TUF versions and expiries) and the one in use — and
 * whether it is current: fetched within `trust.maxAgeDays`, and each kind of authority it
 * carries (Rekor logs, Fulcio CAs, CT logs, timestamp authorities) with at least one key
 * valid now. `policy validate` asks the same of the roots a policy's requirements use.
 */
import { z } from '../zod.js';
import { type KeptRoot, type RootOrigin, builtInTargetsVersion, choosePublicGood, readKeptRoot } from '../policy/kept-root.js';
import { publicGoodTrustedRootBytes } from '../policy/public-good.js';

const time = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a timestamp');
const validFor = z.looseObject({ start: time.nullish(), end: time.nullish() }).nullish();
const log = z.looseObject({ baseUrl: z.string().nullish(), publicKey: z.looseObject({ validFor }) });
const authority = z.looseObject({ uri: z.string().nullish(), validFor });
const rootSchema = z.looseObject({
  tlogs: z.array(log).nullish(),
  ctlogs: z.array(log).nullish(),
  certificateAuthorities: z.array(authority).nullish(),
  timestampAuthorities: z.array(authority).nullish(),
});

export interface KeyWindow {
  kind: 'Rekor' | 'CT log' | 'Fulcio CA' | 'TSA';
  name: string;
  start: string | undefined;
  end: string | undefined;
  validNow: boolean;
}

/** Every authority of a trusted root with its validity window. */
export function keyWindows(bytes: Buffer, now: Date): KeyWindow[] | string {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const parsed = rootSchema.safeParse(json);
  if (!parsed.success) return `not a trusted root (${parsed.error.issues[0]?.message ?? 'invalid'})`;
  const r = parsed.data;
  const window = (
    kind: KeyWindow['kind'],
    name: string,
    v: { start?: string | null; end?: string | null } | null | undefined,
  ): KeyWindow => {
    const start = v?.start ?? undefined;
    const end = v?.end ?? undefined;
    const validNow = start !== undefined && Date.parse(start) <= now.getTime() && (end === undefined || now.getTime() < Date.parse(end));
    return { kind, name, start, end, validNow };
  };
  return [
    ...(r.tlogs ?? []).map((t) => window('Rekor', t.baseUrl ?? '(no url)', t.publicKey.validFor)),
    ...(r.certificateAuthorities ?? []).map((c) => window('Fulcio CA', c.uri ?? '(no uri)', c.validFor)),
    ...(r.ctlogs ?? []).map((t) => window('CT log', t.baseUrl ?? '(no url)', t.publicKey.validFor)),
    ...(r.timestampAuthorities ?? []).map((c) => window('TSA', c.uri ?? '(no uri)', c.validFor)),
  ];
}

/** Why the root is not current: a kind of authority with no key valid now, or material older than maxAgeDays. */
export function staleness(bytes: Buffer, origin: RootOrigin, maxAgeDays: number, now: Date): string[] {
  const problems: string[] = [];
  if (origin.problem !== undefined) return [origin.problem];
  if (origin.fetchedAt !== undefined) {
    const days = (now.getTime() - Date.parse(origin.fetchedAt)) / 86_400_000;
    if (days > maxAgeDays) problems.push(`fetched ${Math.floor(days)} days ago, more than trust.maxAgeDays (${maxAgeDays})`);
  }
  const windows = keyWindows(bytes, now);
  if (typeof windows === 'string') return [...problems, windows];
  for (const kind of ['Rekor', 'Fulcio CA', 'CT log', 'TSA'] as const) {
    const of = windows.filter((w) => w.kind === kind);
    if (of.length > 0 && !of.some((w) => w.validNow)) problems.push(`no ${kind} key it carries is valid now`);
  }
  return problems;
}

const day = (iso: string | undefined): string => (iso === undefined ? 'open' : iso.replace(/T.*$/, ''));

function keptLines(k: KeptRoot): string[] {
  return [
    `  source:    ${k.mirror} (target ${k.target})`,
    `  fetched:   ${k.fetchedAt}`,
    `  TUF root v${k.rootVersion} (expires ${k.rootExpires}), timestamp v${k.timestampVersion} (expires ${k.timestampExpires}), snapshot v${k.snapshotVersion}, targets v${k.targetsVersion} (expires ${k.targetsExpires})`,
  ];
}

export interface StatusReport {
  text: string;
  problems: string[];
}

/**
 * The status of the root kept at `out`. `publicGood`: `out` is where the public-good root is
 * kept, so the root in use is the newer of it and the built-in one.
 */
export function trustStatus(out: string, publicGood: boolean, maxAgeDays: number, now: Date = new Date()): StatusReport {
  const lines: string[] = [];
  const kept = readKeptRoot(out);
  lines.push(`updated root ${out}:`);
  if (kept.state === 'absent') lines.push('  none (never updated: sigguard trust update)');
  else if (kept.state === 'invalid') lines.push(`  unusable: ${kept.problem}`);
  else lines.push(...keptLines(kept.root));
  let bytes: Buffer;
  let origin: RootOrigin;
  if (publicGood) {
    const builtIn = publicGoodTrustedRootBytes();
    const chosen = choosePublicGood(builtIn, out);
    bytes = chosen.bytes;
    origin = chosen.origin;
    const v = builtInTargetsVersion(builtIn);
    lines.push(`built-in root: public-good, TUF targets ${v === undefined ? 'version unknown' : `v${v}`}`);
    lines.push(
      `in use for public-good: ${origin.problem !== undefined ? 'none: keyless verification is refused' : origin.source === 'built-in' ? 'the built-in root' : `the updated root (TUF targets v${origin.targetsVersion})`}`,
    );
  } else if (kept.state === 'ok') {
    bytes = kept.root.bytes;
    origin = { source: 'tuf', path: kept.root.path, targetsVersion: kept.root.targetsVersion, fetchedAt: kept.root.fetchedAt };
  } else {
    return { text: lines.join('\n'), problems: [kept.state === 'invalid' ? kept.problem : `no trusted root kept at ${out}`] };
  }
  const windows = keyWindows(bytes, now);
  if (typeof windows !== 'string' && origin.problem === undefined) {
    lines.push('keys:');
    for (const w of windows)
      lines.push(`  ${w.kind.padEnd(9)} ${w.name}: ${day(w.start)} .. ${day(w.end)}${w.validNow ? '' : ' (not valid now)'}`);
  }
  const problems = staleness(bytes, origin, maxAgeDays, now);
  if (origin.source === 'built-in' && kept.state === 'absent')
    problems.push('the built-in root has never been updated on this node: it is as old as this release');
  return { text: lines.join('\n'), problems };
}
