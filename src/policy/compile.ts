/**
 * Compiling a policy document that is already in memory, synchronously (crio-policy and the
 * tests). The hook goes through loadPolicy, which loads the schema only when it must.
 */
import { dirname } from 'node:path';
import { conditionProblem } from './condition.js';
import { buildPolicy, checkConditions, validatePolicyWith } from './load.js';
import type { Policy } from './types.js';
import * as schema from './schema.js';

/**
 * Checks and compiles a parsed policy document. `file` names it in messages;
 * relative key paths are read from `baseDir` (the policy file's folder).
 */
export function compilePolicy(doc: unknown, file: string, baseDir: string = dirname(file)): Policy {
  const input = validatePolicyWith(schema, doc, file);
  checkConditions(input, file, conditionProblem);
  return buildPolicy(input, file, baseDir);
}
