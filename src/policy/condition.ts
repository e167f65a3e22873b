/**
 * CEL conditions of sigstoreAttested requirements, through @marcbachmann/cel-js (a maintained
 * CEL implementation with a type checker, no dependencies). One environment: `predicate` (the
 * statement's predicate, dyn), `predicateType` (string), `subject` (the statement's subjects,
 * list of maps) and `image` ({name, digest}: the image as named and the digest verified).
 *
 * Checked when the policy is validated: the expression parses, type-checks against those
 * variables (an unknown variable, a field `image` does not have, `string + int` are errors) and
 * yields bool or dyn; length and nesting are capped. Evaluated under a wall-clock bound
 * (node:vm's timeout interrupts the evaluation, regular expressions included: the library has no
 * cost meter), and anything but `true` — false, another type, an error — refuses.
 *
 * This module loads the library: it is imported only where a policy has a condition
 * (policy/load.ts, engine/requirements/sigstore-attested.ts import it lazily).
 */
import vm from 'node:vm';
import { Environment } from '@marcbachmann/cel-js';
import { oneLine } from '../errors.js';

/** Parse-time caps (the length cap is the schema's CONDITION_MAX_CHARS). */
export const CONDITION_LIMITS = {
  maxAstNodes: 1000,
  maxDepth: 32,
  maxListElements: 256,
  maxMapEntries: 256,
  maxCallArguments: 8,
} as const;

/** The most one evaluation may take, whatever the deadline leaves (milliseconds). */
export const CONDITION_MAX_MS = 2000;

let environment: Environment | undefined;

function env(): Environment {
  environment ??= new Environment({ limits: CONDITION_LIMITS, unlistedVariablesAreDyn: false })
    .registerVariable('predicate', 'dyn')
    .registerVariable('predicateType', 'string')
    .registerVariable('subject', 'list<map<string, dyn>>')
    .registerVariable({ name: 'image', schema: { name: 'string', digest: 'string' } });
  return environment;
}

/** The library's message, first line (the rest is a caret under the expression). */
const firstLine = (message: string): string => oneLine(message.split('\n')[0] ?? message);

/** Why a condition cannot be used (parse or type error, not a bool), or undefined. */
export function conditionProblem(source: string): string | undefined {
  let result: ReturnType<Environment['check']>;
  try {
    result = env().check(source);
  } catch (err) {
    return `CEL: ${firstLine((err as Error).message)}`;
  }
  if (!result.valid) return `CEL: ${firstLine(result.error?.message ?? 'invalid expression')}`;
  if (result.type !== 'bool' && result.type !== 'dyn') return `CEL: the condition yields ${result.type}, not bool`;
  return undefined;
}

export interface ConditionInput {
  predicate: unknown;
  predicateType: string;
  subject: Array<{ name?: string | undefined; digest: Record<string, string> }>;
  image: { name: string; digest: string };
}

export type ConditionResult = { ok: true } | { ok: false; problem: string };

const programs = new Map<string, ReturnType<Environment['parse']>>();
let sandbox: vm.Context | undefined;
const runner = new vm.Script('run()');

/** Evaluates a condition; only `true` is ok. `ms`: the time it may take (capped at CONDITION_MAX_MS). */
export function evaluateCondition(source: string, input: ConditionInput, ms: number): ConditionResult {
  let program = programs.get(source);
  try {
    if (program === undefined) {
      const problem = conditionProblem(source);
      if (problem !== undefined) return { ok: false, problem };
      program = env().parse(source);
      programs.set(source, program);
    }
  } catch (err) {
    return { ok: false, problem: `CEL: ${firstLine((err as Error).message)}` };
  }
  const timeout = Math.max(1, Math.min(CONDITION_MAX_MS, Math.floor(ms)));
  const compiled = program;
  sandbox ??= vm.createContext({});
  sandbox.run = () => compiled({ ...input });
  let value: unknown;
  try {
    value = runner.runInContext(sandbox, { timeout });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
      return { ok: false, problem: `evaluation took longer than ${timeout} ms` };
    return { ok: false, problem: `evaluation failed: ${firstLine(err instanceof Error ? err.message : String(err))}` };
  } finally {
    sandbox.run = undefined;
  }
  if (value === true) return { ok: true };
  if (value === false) return { ok: false, problem: 'evaluated to false' };
  return { ok: false, problem: `evaluated to ${describe(value)}, not a bool` };
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `int ${value}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.slice(0, 60))}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `${typeof value} ${String(value)}`;
}
