/**
 * Edits that keep an operator's file as it was, byte for byte, except for
 * the one string sigguard inserts: the hook entry in a base runtime spec
 * (JSON), the import of sigguard's drop-in in containerd's config.toml. Each
 * edit is one splice, recorded, so uninstall splices the original bytes back.
 * Both are checked by parsing the result: the parsed document must be the
 * original plus exactly sigguard's entry, else the edit is refused.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { ReasonCode, SigguardError } from '../errors.js';
import { installHook } from './base-spec.js';
import { type OciHook, isSigguardHook } from './hook-entry.js';

/** One splice: at `offset`, `removed` (the original bytes) was replaced by `inserted`. */
export interface TextEdit {
  offset: number;
  removed: string;
  inserted: string;
}

const fail = (message: string) => new SigguardError(ReasonCode.CONFIG_INVALID, message);

export function applyEdit(text: string, e: TextEdit): string {
  return text.slice(0, e.offset) + e.inserted + text.slice(e.offset + e.removed.length);
}

/**
 * Takes an edit back: where the inserted bytes still are (at the recorded
 * offset, else at their only occurrence), the original bytes go back.
 * undefined: the inserted bytes are gone or ambiguous.
 */
export function undoEdit(text: string, e: TextEdit): string | undefined {
  let at = text.slice(e.offset, e.offset + e.inserted.length) === e.inserted ? e.offset : -1;
  if (at < 0 && e.inserted !== '') {
    const first = text.indexOf(e.inserted);
    if (first >= 0 && text.indexOf(e.inserted, first + 1) < 0) at = first;
  }
  if (at < 0) return undefined;
  return text.slice(0, at) + e.removed + text.slice(at + e.inserted.length);
}

// ---- JSON ------------------------------------------------------------------------------------

const WS = ' \t\r\n';

function skipWs(t: string, i: number): number {
  while (i < t.length && WS.includes(t[i]!)) i++;
  return i;
}

function skipString(t: string, i: number): number {
  for (i++; i < t.length; i++) {
    if (t[i] === '\\') i++;
    else if (t[i] === '"') return i + 1;
  }
  throw fail('unterminated JSON string');
}

interface Span {
  start: number;
  end: number;
}
interface Member extends Span {
  key: string;
  keyStart: number;
}

/** The members of the object at `open` ('{') or the elements of the array at `open` ('['), with their value spans. */
function children(t: string, open: number): Member[] {
  const obj = t[open] === '{';
  const close = obj ? '}' : ']';
  const out: Member[] = [];
  let i = skipWs(t, open + 1);
  if (t[i] === close) return out;
  for (;;) {
    let key = '';
    const keyStart = i;
    if (obj) {
      const ke = skipString(t, i);
      key = JSON.parse(t.slice(i, ke)) as string;
      i = skipWs(t, ke);
      i = skipWs(t, i + 1); // ':'
    }
    const start = i;
    const end = skipValue(t, i);
    out.push({ key, keyStart, start, end });
    i = skipWs(t, end);
    if (t[i] === ',') {
      i = skipWs(t, i + 1);
      continue;
    }
    if (t[i] === close) return out;
    throw fail(`unexpected ${JSON.stringify(t[i] ?? 'end')} in JSON`);
  }
}

function skipValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    const kids = children(t, i);
    const last = kids.at(-1);
    let j = skipWs(t, last ? last.end : i + 1);
    if (t[j] === ',') j = skipWs(t, j + 1);
    return j + 1;
  }
  let j = i;
  while (j < t.length && !',]}'.includes(t[j]!) && !WS.includes(t[j]!)) j++;
  return j;
}

/** The indentation of the line `offset` is on, when what precedes it there is only whitespace after a newline. */
function indentBefore(t: string, offset: number): string | undefined {
  const nl = t.lastIndexOf('\n', offset - 1);
  if (nl < 0) return undefined;
  const ind = t.slice(nl + 1, offset);
  return /^[ \t]*$/.test(ind) ? ind : undefined;
}

/** JSON text for `value`, laid out like its surroundings: multi-line at `indent` + `unit`, or compact. */
function layout(value: unknown, indent: string | undefined, unit: string | undefined): string {
  if (indent === undefined || unit === undefined || unit === '') return JSON.stringify(value);
  return JSON.stringify(value, null, unit).split('\n').join(`\n${indent}`);
}

/**
 * The base spec text with sigguard's hook first in `stage`: one splice, the
 * rest of the file untouched. An identical sigguard entry already there: no
 * edit; a different one (older flags): replaced.
 */
export function addHookText(text: string, stage: string, entry: OciHook): { text: string; edit?: TextEdit } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw fail(`not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('not a JSON object');
  const want = installHook(parsed as Record<string, unknown>, stage, entry);
  if (!want.changed) return { text };

  const t = text;
  const root = skipWs(t, 0);
  const rootKids = children(t, root);
  const unit = rootKids[0] ? indentBefore(t, rootKids[0].keyStart) : undefined;
  const hooks = rootKids.find((m) => m.key === 'hooks');
  let edit: TextEdit;
  if (!hooks) {
    const member = { hooks: { [stage]: [entry] } };
    edit = insertMember(t, root, rootKids, 'hooks', member.hooks, unit);
  } else {
    if (t[hooks.start] !== '{') throw fail('hooks is not an object');
    const hookKids = children(t, hooks.start);
    const list = hookKids.find((m) => m.key === stage);
    if (!list) {
      edit = insertMember(t, hooks.start, hookKids, stage, [entry], unit);
    } else {
      if (t[list.start] !== '[') throw fail(`hooks.${stage} is not a list`);
      const els = children(t, list.start);
      const mine = els.find((e) => isSigguardHook(JSON.parse(t.slice(e.start, e.end))));
      if (mine) {
        const ind = indentBefore(t, mine.start);
        edit = { offset: mine.start, removed: t.slice(mine.start, mine.end), inserted: layout(entry, ind, unit) };
      } else if (els.length === 0) {
        edit = { offset: list.start + 1, removed: '', inserted: JSON.stringify(entry) };
      } else {
        const ws = t.slice(list.start + 1, els[0]!.start);
        edit = { offset: list.start + 1, removed: '', inserted: `${ws}${layout(entry, indentBefore(t, els[0]!.start), unit)},` };
      }
    }
  }
  const out = applyEdit(t, edit);
  if (!isDeepStrictEqual(JSON.parse(out), want.spec)) throw fail('cannot add the hook without rewriting the file (an unusual layout)');
  return { text: out, edit };
}

/** Inserts `"key": value` as the first member of the object at `open`, in its layout. */
function insertMember(t: string, open: number, kids: Member[], key: string, value: unknown, unit: string | undefined): TextEdit {
  if (kids.length === 0) return { offset: open + 1, removed: '', inserted: `${JSON.stringify(key)}: ${JSON.stringify(value)}` };
  const first = kids[0]!;
  const ws = t.slice(open + 1, first.keyStart);
  const ind = indentBefore(t, first.keyStart);
  return { offset: open + 1, removed: '', inserted: `${ws}${JSON.stringify(key)}: ${layout(value, ind, unit)},` };
}

// ---- TOML ------------------------------------------------------------------------------------

const KEY_PART = `(?:[A-Za-z0-9_-]+|"(?:[^"\\\\\\n]|\\\\.)*"|'[^'\\n]*')`;
const KEY = `${KEY_PART}(?:[ \\t]*\\.[ \\t]*${KEY_PART})*`;
const KEY_LINE = new RegExp(`^(${KEY})[ \\t]*=[ \\t]*`);
const HEADER_LINE = new RegExp(`^(\\[\\[?)[ \\t]*(${KEY})[ \\t]*\\]\\]?[ \\t]*(?:#[^\\n]*)?(?:\\r?\\n|$)`);

/** A dotted TOML key, unquoted. */
function keyPath(raw: string): string[] {
  const out: string[] = [];
  for (const m of raw.matchAll(new RegExp(KEY_PART, 'g'))) {
    const part = m[0];
    out.push(part.startsWith('"') ? (JSON.parse(part) as string) : part.startsWith("'") ? part.slice(1, -1) : part);
  }
  return out;
}

interface TomlLine {
  header?: { path: string[]; array: boolean };
  /** A key line: its dotted key, under the table of the last header. */
  key?: string;
  table: string[];
  lineStart: number;
  valueStart: number;
  lineEnd: number;
}

/**
 * The lines of a TOML text that matter here: table headers and key lines,
 * with offsets. Strings, comments and multi-line arrays are skipped, not
 * interpreted; whatever is made of the result is checked by parsing it.
 */
function scanToml(t: string): { headerAt: number; lines: TomlLine[] } {
  const lines: TomlLine[] = [];
  let table: string[] = [];
  let headerAt = t.length;
  let i = 0;
  while (i < t.length) {
    const lineStart = i;
    while (i < t.length && (t[i] === ' ' || t[i] === '\t')) i++;
    if (t[i] === '#' || t[i] === '\n' || t[i] === '\r') {
      i = lineEndFrom(t, i);
      continue;
    }
    if (t[i] === '[') {
      const h = HEADER_LINE.exec(t.slice(i));
      if (!h) throw fail(`cannot read the table header at offset ${i} of the containerd config`);
      table = keyPath(h[2]!);
      headerAt = Math.min(headerAt, lineStart);
      const lineEnd = i + h[0].length;
      lines.push({ header: { path: table, array: h[1] === '[[' }, table, lineStart, valueStart: lineEnd, lineEnd });
      i = lineEnd;
      continue;
    }
    const eq = KEY_LINE.exec(t.slice(i));
    if (!eq) throw fail(`cannot read the line at offset ${i} of the containerd config`);
    const valueStart = i + eq[0].length;
    const lineEnd = lineEndFrom(t, skipTomlValue(t, valueStart));
    lines.push({ key: eq[1]!, table, lineStart, valueStart, lineEnd });
    i = lineEnd;
  }
  return { headerAt, lines };
}

/** The offset just after the end of the line `i` is on (after a comment, if any). */
function lineEndFrom(t: string, i: number): number {
  const nl = t.indexOf('\n', i);
  return nl < 0 ? t.length : nl + 1;
}

function skipTomlString(t: string, i: number): number {
  for (const q of ['"""', "'''"]) {
    if (t.startsWith(q, i)) {
      let j = i + 3;
      for (;;) {
        const k = t.indexOf(q, j);
        if (k < 0) throw fail('unterminated TOML string');
        if (q === '"""' && backslashes(t, k) % 2 === 1) {
          j = k + 1;
          continue;
        }
        let end = k + 3;
        while (t[end] === q[0]) end++; // up to two quotes may close it
        return end;
      }
    }
  }
  const q = t[i]!;
  for (let j = i + 1; j < t.length; j++) {
    if (q === '"' && t[j] === '\\') j++;
    else if (t[j] === q) return j + 1;
    else if (t[j] === '\n') break;
  }
  throw fail('unterminated TOML string');
}

function backslashes(t: string, k: number): number {
  let n = 0;
  while (t[k - 1 - n] === '\\') n++;
  return n;
}

/** The end of the value at `i`: strings, arrays and inline tables (with comments inside arrays) skipped. */
function skipTomlValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"' || c === "'") return skipTomlString(t, i);
  if (c === '[' || c === '{') {
    let depth = 0;
    let j = i;
    while (j < t.length) {
      const d = t[j]!;
      if (d === '"' || d === "'") {
        j = skipTomlString(t, j);
        continue;
      }
      if (d === '#') {
        j = t.indexOf('\n', j);
        if (j < 0) throw fail('unterminated TOML value');
        continue;
      }
      if (d === '[' || d === '{') depth++;
      if (d === ']' || d === '}') {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw fail('unterminated TOML value');
  }
  let j = i;
  while (j < t.length && !'\n#'.includes(t[j]!)) j++;
  return j;
}

/** In the array at `open`, the end of its last element (undefined: empty). */
function lastElementEnd(t: string, open: number): number | undefined {
  let j = open + 1;
  let last: number | undefined;
  for (;;) {
    while (j < t.length && ' \t\r\n,'.includes(t[j]!)) j++;
    if (t[j] === '#') {
      j = lineEndFrom(t, j);
      continue;
    }
    if (t[j] === ']') return last;
    j = skipTomlValue(t, j);
    last = j;
  }
}

const tomlString = (s: string) => JSON.stringify(s);

/**
 * config.toml with `path` added at the end of its top-level `imports` (the
 * line made when there is none, after `version`): one splice, checked by
 * parsing — everything else parses as before.
 */
export function addImportText(text: string, path: string): { text: string; edit: TextEdit } {
  const before = parseToml(text) as Record<string, unknown>;
  const { headerAt, lines } = scanToml(text);
  const keys = lines.filter((l) => l.key !== undefined && l.lineStart < headerAt).map((l) => ({ ...l, key: l.key! }));
  const imp = keys.find((k) => /^(imports|"imports"|'imports')$/.test(k.key));
  let edit: TextEdit;
  if (imp) {
    if (text[imp.valueStart] !== '[') throw fail('imports is not a list');
    const end = lastElementEnd(text, imp.valueStart);
    edit =
      end === undefined
        ? { offset: imp.valueStart + 1, removed: '', inserted: tomlString(path) }
        : { offset: end, removed: '', inserted: `, ${tomlString(path)}` };
  } else {
    const version = keys.find((k) => k.key === 'version');
    let offset = version ? version.lineEnd : 0;
    let prefix = '';
    if (offset > 0 && text[offset - 1] !== '\n') prefix = '\n';
    if (offset > headerAt) offset = headerAt;
    edit = { offset, removed: '', inserted: `${prefix}imports = [${tomlString(path)}]\n` };
  }
  const out = applyEdit(text, edit);
  const after = parseToml(out) as Record<string, unknown>;
  const { imports: a, ...restAfter } = after;
  const { imports: b, ...restBefore } = before;
  if (!isDeepStrictEqual(restAfter, restBefore) || !isDeepStrictEqual(a, [...((b as unknown[]) ?? []), path])) {
    throw fail(`cannot add ${path} to imports without rewriting the file; add it to imports yourself`);
  }
  return { text: out, edit };
}

function at(t: unknown, path: string[]): unknown {
  let cur = t;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * config.toml with `key = "value"` set in the table at `table`: one line
 * inserted under the table's own `[header]`, indented like its keys; or,
 * where the file has no such table, the table appended at the end with
 * `create`'s keys first. undefined where the table is written another way
 * (dotted keys, inline) or the key is there already: the caller does it
 * otherwise. Checked by parsing: everything else as before.
 */
export function setTableKeyText(
  text: string,
  table: string[],
  key: string,
  value: string,
  create: Record<string, string> = {},
): { text: string; edit: TextEdit } | undefined {
  const before = parseToml(text) as Record<string, unknown>;
  const existing = at(before, table);
  let edit: TextEdit;
  if (existing !== undefined) {
    if (typeof existing !== 'object' || existing === null || Array.isArray(existing) || key in existing) return undefined;
    let lines: TomlLine[];
    try {
      lines = scanToml(text).lines;
    } catch {
      return undefined;
    }
    const same = (p: string[]) => p.length === table.length && p.every((x, i) => x === table[i]);
    const header = lines.find((l) => l.header && !l.header.array && same(l.header.path));
    if (!header) return undefined;
    const firstKey = lines.find((l) => l.key !== undefined && same(l.table) && l.lineStart >= header.lineEnd);
    const headerIndent = /^[ \t]*/.exec(text.slice(header.lineStart))![0];
    const indent = firstKey ? /^[ \t]*/.exec(text.slice(firstKey.lineStart))![0] : `${headerIndent}  `;
    const nl = text[header.lineEnd - 1] === '\n' ? '' : '\n';
    edit = { offset: header.lineEnd, removed: '', inserted: `${nl}${indent}${key} = ${tomlString(value)}\n` };
  } else {
    const header = `[${table.map((p) => (/^[A-Za-z0-9_-]+$/.test(p) ? p : tomlString(p))).join('.')}]`;
    const body = Object.entries({ ...create, [key]: value }).map(([k, v]) => `  ${k} = ${tomlString(v)}\n`);
    edit = { offset: text.length, removed: '', inserted: `${text === '' || text.endsWith('\n') ? '' : '\n'}\n${header}\n${body.join('')}` };
  }
  const out = applyEdit(text, edit);
  let after: Record<string, unknown>;
  try {
    after = parseToml(out) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const want = structuredClone(before);
  let t = want as Record<string, unknown>;
  for (const p of table) {
    t[p] ??= {};
    t = t[p] as Record<string, unknown>;
  }
  Object.assign(t, existing === undefined ? create : {}, { [key]: value });
  return isDeepStrictEqual(structuredClone(after), want) ? { text: out, edit } : undefined; // (plain objects both: smol-toml's have no prototype)
}
