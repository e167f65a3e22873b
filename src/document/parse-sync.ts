/** parseDocument for callers that must stay synchronous and are not on the hook's path (crio-policy). */
import { parse } from 'yaml';
import type { ReasonCode } from '../errors.js';
import { YAML_OPTIONS, tryJson, yamlError } from './parse.js';

export function parseDocumentSync(text: string, file: string, code: ReasonCode): unknown {
  const json = tryJson(text, file, code);
  if (json.ok) return json.value;
  try {
    return parse(text, YAML_OPTIONS);
  } catch (err) {
    throw yamlError(file, code, err);
  }
}
