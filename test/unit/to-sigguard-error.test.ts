/**
 * toSigguardError: what an error becomes before it reaches the exit code and the one-line reason.
 * The agent's and trust's bundles carry their own copy of SigguardError, so `instanceof` alone
 * would turn their USAGE errors into INTERNAL_ERROR (exit 1 instead of 2).
 */
import { describe, expect, it } from 'vitest';
import { ReasonCode, SigguardError, toSigguardError } from '../../src/errors.js';

/** What a SigguardError thrown by another bundle looks like here: another class, same shape. */
class ForeignSigguardError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SigguardError';
  }
}

describe('toSigguardError', () => {
  it('a SigguardError stays itself', () => {
    const e = new SigguardError(ReasonCode.USAGE, 'bad flag');
    expect(toSigguardError(e)).toBe(e);
  });

  it("another bundle's SigguardError keeps its code and message", () => {
    const got = toSigguardError(new ForeignSigguardError('USAGE', 'unknown flag --x'));
    expect(got).toBeInstanceOf(SigguardError);
    expect(got.code).toBe(ReasonCode.USAGE);
    expect(got.message).toBe('unknown flag --x');
  });

  it('a look-alike with a code sigguard does not have is an internal error', () => {
    const got = toSigguardError(new ForeignSigguardError('ALLOWED_BY_MAGIC', 'x'));
    expect(got.code).toBe(ReasonCode.INTERNAL_ERROR);
  });

  it('a code inherited from Object.prototype is not a reason code', () => {
    expect(toSigguardError(new ForeignSigguardError('toString', 'x')).code).toBe(ReasonCode.INTERNAL_ERROR);
  });

  it('any other error takes the fallback, with its message', () => {
    const got = toSigguardError(new TypeError('boom'), ReasonCode.REGISTRY_ERROR);
    expect([got.code, got.message]).toEqual([ReasonCode.REGISTRY_ERROR, 'boom']);
    expect(toSigguardError('text').code).toBe(ReasonCode.INTERNAL_ERROR);
  });
});
