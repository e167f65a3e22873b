/** A failed zod parse as one line: the first problem, with its path in the document. */
import type { core } from 'zod';
import { formatPath } from './path.js';

/** The first problem of a failed zod parse, as "path: message". */
export function firstIssue(error: Pick<core.$ZodError, 'issues'>): { path: string; message: string } {
  const issue = error.issues[0]!;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    message = 'unknown or missing "type"';
  }
  return { path: formatPath(issue.path), message };
}
