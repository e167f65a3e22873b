/**
 * Duplicate keys in a JSON document. JSON.parse keeps the last of two equal keys without a
 * word, so `{"default": "reject", …, "default": "accept"}` reads as accept while a reviewer
 * reads the first; YAML documents are refused for this by the yaml parser (uniqueKeys), JSON
 * documents here. The values still come from JSON.parse (the yaml parser reads some JSON
 * differently, e.g. 1e400), so this only scans the text JSON.parse has accepted.
 */
import { formatPath } from './path.js';

interface Frame {
  /** Keys seen so far (objects); undefined for arrays. */
  keys: Set<string> | undefined;
  /** The current key (objects) or index (arrays), for the path. */
  at: string | number;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * The first key that appears twice in one object, and where (`scopes."a.io"[0]`, or "" at
 * the top). `text` must be JSON that JSON.parse accepted. O(length), no recursion.
 */
export function duplicateJsonKey(text: string): { key: string; path: string } | undefined {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      let k = j + 1;
      while (isSpace(text[k])) k++;
      if (top?.keys !== undefined && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, path: formatPath(stack.slice(0, -1).map((f) => f.at)) };
        top.keys.add(key);
        top.at = key;
      }
      i = j + 1;
      continue;
    }
    if (c === '{') stack.push({ keys: new Set(), at: '' });
    else if (c === '[') stack.push({ keys: undefined, at: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys === undefined) top.at = (top.at as number) + 1;
    }
    i++;
  }
  return undefined;
}
