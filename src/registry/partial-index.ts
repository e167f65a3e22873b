/**
 * The descriptors of an index's `manifests` array that are complete in a prefix
 * of the document: what a referrers list cut at the size cap still says. Only
 * used where the listing is a hint anyway (every referrer it names is fetched
 * by digest and checked), so a plain scanner is enough: it finds the first
 * `"manifests"` key, then reads whole `{...}` objects, honouring strings and
 * escapes, until the array or the text ends.
 */
export function descriptorsInPrefix(text: string): unknown[] {
  const key = /"manifests"\s*:\s*\[/.exec(text);
  if (key === null) return [];
  const out: unknown[] = [];
  let i = key.index + key[0].length;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ']') break;
    if (c !== '{') {
      i++;
      continue;
    }
    const end = objectEnd(text, i);
    if (end < 0) break;
    try {
      out.push(JSON.parse(text.slice(i, end + 1)));
    } catch {
      break;
    }
    i = end + 1;
  }
  return out;
}

/** Index of the `}` closing the object opened at `start`; -1 if the text ends first. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return c === '}' ? i : -1;
    }
  }
  return -1;
}
