/**
 * SHA-256 in JavaScript (src/sha256.ts), for what the hook computes on every start: the
 * verdict cache key, the validated-document cache's file names, trust material fingerprints.
 * node:crypto gives the same digests, but loading it (some forty of Node's modules) cost a
 * warm hook start ~5 ms, about a tenth of it (issue 15); the texts it hashes are small
 * (larger ones, a trusted root's JSON, go to node:crypto).
 * Strings are hashed as UTF-8, as createHash().update(string) does.
 */
import { sha256Hex as sha256Small } from './sha256.js';

type Part = string | Uint8Array;

const bytesOf = (p: Part): Uint8Array => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

/** Above this many bytes node:crypto is the faster (interpreted JavaScript hashes ~1 MB/s on a cold start). */
const SMALL = 4096;

/** The hex SHA-256 of the parts one after another (createHash('sha256').update(a).update(b)...digest('hex')). */
export function sha256Hex(...parts: Part[]): string {
  const bytes = parts.map(bytesOf);
  if (bytes.reduce((n, b) => n + b.length, 0) > SMALL) {
    const h = process.getBuiltinModule('node:crypto').createHash('sha256');
    for (const b of bytes) h.update(b);
    return h.digest('hex');
  }
  return sha256Small(bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes));
}
