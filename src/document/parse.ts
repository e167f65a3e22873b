/**
 * Policy and config documents: YAML, which includes JSON. A JSON document takes JSON.parse;
 * the YAML parser is loaded only for the rest (evaluating it, and its first parse, cost a
 * hook ~13 ms on every container start). Errors are one line naming the file.
 */
import { type ReasonCode, SigguardError } from '../errors.js';
import { duplicateJsonKey } from './json-duplicates.js';

export const YAML_OPTIONS = { strict: true, uniqueKeys: true, maxAliasCount: 100 } as const;

/** A JSON document's value, or not JSON ({ok: false}: YAML reads it); a duplicate key is an error, as in YAML. */
export function tryJson(text: string, file: string, code: ReasonCode): { ok: true; value: unknown } | { ok: false } {
  if (!/^\s*\{/.test(text)) return { ok: false };
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return { ok: false }; // not JSON after all: YAML says why
  }
  const dup = duplicateJsonKey(text);
  if (dup !== undefined)
    throw new SigguardError(
      code,
      `cannot parse ${file}: duplicate key ${JSON.stringify(dup.key)}${dup.path === '' ? '' : ` in ${dup.path}`}`,
    );
  return { ok: true, value };
}

export function yamlError(file: string, code: ReasonCode, err: unknown): SigguardError {
  return new SigguardError(code, `cannot parse ${file}: ${(err as Error).message}`);
}

export async function parseDocument(text: string, file: string, code: ReasonCode): Promise<unknown> {
  const json = tryJson(text, file, code);
  if (json.ok) return json.value;
  const { parse } = await import('yaml');
  try {
    return parse(text, YAML_OPTIONS);
  } catch (err) {
    throw yamlError(file, code, err);
  }
}
