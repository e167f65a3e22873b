/**
 * The sigstore-conformance bundle-verify cases (test/fixtures/sigstore-conformance, see its
 * NOTICE.md), offline, through the built binary's `verify-bundle`, each case
 * twice: with the artifact file and with `sha256:<hex>` of it. `_fail` cases
 * must exit non-zero (1 not verified, or 2 for an unusable input such as a key
 * file that holds no key; never a crash; one line on stderr), the others 0.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Run, sigguard } from '../support/cli.js';
import { ROOT } from '../support/paths.js';

const SUITE = process.env.SIGSTORE_CONFORMANCE_DIR ?? resolve(ROOT, 'test/fixtures/sigstore-conformance');
const CASES_DIR = join(SUITE, 'bundle-verify');
const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';
const CONCURRENCY = 4;

const cases = existsSync(CASES_DIR)
  ? readdirSync(CASES_DIR)
      .filter((n) => statSync(join(CASES_DIR, n)).isDirectory())
      .sort()
  : [];

/** The command line the suite would give, per CLI_PROTOCOL.md, for one case and artifact mode. */
function argsFor(name: string, mode: 'file' | 'digest'): string[] {
  const dir = join(CASES_DIR, name);
  const at = (f: string) => join(dir, f);
  const artifact = existsSync(at('artifact')) ? at('artifact') : join(CASES_DIR, 'a.txt');
  const args = ['verify-bundle', '--bundle', at('bundle.sigstore.json')];
  if (existsSync(at('key.pub'))) {
    args.push('--key', at('key.pub'));
  } else {
    const identity = existsSync(at('identity')) ? readFileSync(at('identity'), 'utf8').trim() : DEFAULT_IDENTITY;
    const issuer = existsSync(at('issuer')) ? readFileSync(at('issuer'), 'utf8').trim() : DEFAULT_ISSUER;
    args.push('--certificate-identity', identity, '--certificate-oidc-issuer', issuer);
  }
  // Without trusted_root.json: the public-good root built into the binary.
  if (existsSync(at('trusted_root.json'))) args.push('--trusted-root', at('trusted_root.json'));
  args.push(mode === 'file' ? artifact : `sha256:${createHash('sha256').update(readFileSync(artifact)).digest('hex')}`);
  return args;
}

let slots = CONCURRENCY;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (slots === 0) await new Promise<void>((r) => waiting.push(r));
  else slots--;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else slots++;
  }
}

const tally = { file: { passed: 0, failed: 0 }, digest: { passed: 0, failed: 0 } };

describe('sigstore-conformance bundle-verify', () => {
  it('has the 70 cases', () => {
    expect(cases.length, `cases in ${CASES_DIR}`).toBe(70);
  });

  for (const mode of ['file', 'digest'] as const) {
    describe(`artifact as ${mode}`, () => {
      for (const name of cases) {
        it.concurrent(name, async () => {
          const shouldFail = name.endsWith('_fail');
          const run: Run = await limited(() => sigguard(argsFor(name, mode), { timeoutMs: 30_000 }));
          const detail = `${name} (${mode}): exit ${run.code}\n${run.stderr}${run.stdout}`;
          // rejected: 1 (not verified) or 2 (an input such as a key file that is no key), one line, no crash
          const rejected =
            (run.code === 1 || run.code === 2) &&
            /^sigguard: [^\n]*\n$/.test(run.stderr) &&
            !/internal error|INTERNAL_ERROR/i.test(run.stderr);
          const good = shouldFail ? rejected : run.code === 0;
          tally[mode][good ? 'passed' : 'failed']++;
          if (shouldFail) expect(rejected, detail).toBe(true);
          else expect(run.code, detail).toBe(0);
        });
      }
    });
  }

  afterAll(() => {
    const passed = tally.file.passed + tally.digest.passed;
    const failed = tally.file.failed + tally.digest.failed;
    console.log(`conformance by mode: file ${tally.file.passed}/${cases.length}, digest ${tally.digest.passed}/${cases.length}`);
    console.log(`conformance: ${passed} passed, ${failed} failed`);
  });
});
