/**
 * The sigguard policy as written, for the CRI-O generator. The compiled Policy
 * (src/policy/load.ts) holds loaded keys, not the paths the file names; the
 * generator needs those paths, so it parses the document with the same schema
 * and the same scope checks, without reading any key.
 */
import { readFileSync } from 'node:fs';
import { ReasonCode, SigguardError } from '../errors.js';
import { parseDocumentSync as parseDocument } from '../document/parse-sync.js';
import { formatPath } from '../document/path.js';
import { firstIssue } from '../document/zod-issue.js';
import { type PolicyInput, policySchema } from '../policy/schema.js';
import { scopeProblem } from '../policy/scopes.js';

function invalid(file: string, path: string, message: string): SigguardError {
  return new SigguardError(ReasonCode.POLICY_INVALID, `invalid policy ${path === '' ? file : `${file}: ${path}`}: ${message}`);
}

/** Checks a parsed policy document (defaults filled in) without reading keys. */
export function parsePolicyInput(doc: unknown, file: string): PolicyInput {
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw invalid(file, path, message);
  }
  for (const scope of Object.keys(parsed.data.scopes)) {
    const problem = scopeProblem(scope);
    if (problem !== undefined) throw invalid(file, formatPath(['scopes', scope]), problem);
  }
  return parsed.data;
}

/** Reads a policy file (YAML or JSON) into its checked input form. */
export function readPolicyInput(file: string): { doc: unknown; input: PolicyInput } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SigguardError(ReasonCode.POLICY_INVALID, `cannot read policy ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  const doc = parseDocument(text, file, ReasonCode.POLICY_INVALID);
  return { doc, input: parsePolicyInput(doc, file) };
}
