/**
 * The single executable's bootstrap (build/sea.mjs's BOOTSTRAP, run before sigguard.cjs) writes its
 * trace line as src/trace.ts does, to fd 2 with fs.writeSync: with process.stderr it built the
 * stderr stream (~2 ms, and node:net for a pipe) in every traced start, so a trace showed node:net's
 * load (~1.7 ms of a `check`, at its first registry connection) nowhere (issue 15).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

function bootstrapText(): string {
  const sea = readFileSync(join(ROOT, 'build/sea.mjs'), 'utf8');
  const start = sea.indexOf('const BOOTSTRAP = `');
  expect(start).toBeGreaterThan(0);
  const end = sea.indexOf('`;\n', start);
  expect(end).toBeGreaterThan(start);
  return sea.slice(start, end);
}

describe('the executable’s bootstrap trace line', () => {
  it('goes to fd 2 directly, never through process.stderr', () => {
    const text = bootstrapText();
    expect(text).toContain('sigguard-trace main code cache');
    expect(text).toMatch(/writeSync\(2, /);
    expect(text).not.toContain('process.stderr');
    expect(text).not.toContain('console.');
  });
});
