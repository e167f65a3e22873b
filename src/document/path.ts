/** Formats a document path the way a user would write it: scopes."localhost:5001"[0].keyPath */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const s = String(part);
      const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : JSON.stringify(s);
      out += out === '' ? name : `.${name}`;
    }
  }
  return out;
}
