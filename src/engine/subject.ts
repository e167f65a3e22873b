/** How a verdict names its image in reasons and logs. */
import type { Verdict } from './types.js';

/** `repo@digest` if the digest is known, else the reference as named: the subject of a reason line. */
export function verdictSubject(v: Pick<Verdict, 'image' | 'digest'>): string {
  if (v.digest === undefined) return v.image;
  let base = v.image;
  const at = base.indexOf('@');
  if (at >= 0) base = base.slice(0, at);
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) base = base.slice(0, colon);
  return `${base}@${v.digest}`;
}
