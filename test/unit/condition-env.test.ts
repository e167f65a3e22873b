/**
 * The CEL environment a condition is checked in when the policy loads (src/policy/condition.ts):
 * only the documented variables, `image` with only its two fields, and sigguard's own parse-time
 * caps rather than the library's. Mutation survivors of make mutation (docs/mutation-survivors/
 * attestations.md): without these, a policy naming an unknown variable or field, or a condition over
 * the caps, would load and only fail (and refuse) at container start.
 */
import { describe, expect, it } from 'vitest';
import { CONDITION_LIMITS, conditionProblem } from '../../src/policy/condition.js';

describe('a condition is checked against the documented variables only', () => {
  it('the four variables type-check', () => {
    expect(
      conditionProblem(
        'predicateType != "" && size(subject) > 0 && image.name != "" && image.digest.startsWith("sha256:") && predicate != null',
      ),
    ).toBeUndefined();
  });

  it('an unknown variable is refused at load', () => {
    expect(conditionProblem('foo == 1')).toMatch(/^CEL: /);
  });

  it('a field image does not have is refused at load', () => {
    expect(conditionProblem('image.tag == "v1"')).toMatch(/^CEL: /);
  });
});

describe("sigguard's parse-time caps, not the library's", () => {
  it(`more than ${CONDITION_LIMITS.maxAstNodes} syntax nodes`, () => {
    const within = Array.from({ length: 200 }, () => '1').join(' + ');
    expect(conditionProblem(`${within} > 0`)).toBeUndefined();
    const over = Array.from({ length: CONDITION_LIMITS.maxAstNodes + 1 }, () => '1').join('+');
    expect(over.length).toBeLessThan(4096);
    expect(conditionProblem(`${over} > 0`)).toMatch(/^CEL: /);
  });

  it(`nesting deeper than ${CONDITION_LIMITS.maxDepth}`, () => {
    const nest = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
    expect(conditionProblem(`size(${nest(4)}) == 1`)).toBeUndefined();
    expect(conditionProblem(`size(${nest(CONDITION_LIMITS.maxDepth + 8)}) == 1`)).toMatch(/^CEL: /);
  });

  it(`a list literal of more than ${CONDITION_LIMITS.maxListElements} elements`, () => {
    const list = (n: number) => `[${Array.from({ length: n }, () => '1').join(',')}]`;
    expect(conditionProblem(`size(${list(10)}) == 10`)).toBeUndefined();
    expect(conditionProblem(`size(${list(CONDITION_LIMITS.maxListElements + 1)}) > 0`)).toMatch(/^CEL: /);
  });
});
