/**
 * What the warm-path tests (test/integration/warm-path*.test.ts) set up alike: a verdict as a
 * verification stores it, and a --require script that names the built-in modules a process
 * loaded, to tell which ones a hook start loads beyond a bare Node's boot.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheKey } from '../../src/cache/key.js';
import { VerdictStore } from '../../src/cache/store.js';
import { loadConfig } from '../../src/config/load.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { loadPolicy } from '../../src/policy/load.js';
import { parseReference } from '../../src/reference/reference.js';
import { tempDir } from './temp.js';

/** Stores the allow a verification of `image` (a digest reference) under these files would store, bound to `configDigest`. */
/**
 * A folder with a trusted key (`trusted.pub`), a policy trusting it for `127.0.0.1:9` (requirements
 * after the sigstoreSigned one: `more` of the key's path, YAML list items) and a config whose cache is in the folder and
 * whose containerd socket is `<dir>/<socket>`: what a warm hook start reads.
 */
export function warmHookFiles(
  prefix: string,
  socket: string,
  more: (pub: string) => string = () => '',
): { dir: string; policyFile: string; configFile: string } {
  const dir = tempDir(prefix);
  const pub = join(dir, 'trusted.pub');
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1\ndefault: reject\nscopes:\n  "127.0.0.1:9":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n      signedIdentity: {type: matchRepository}\n${more(pub)}`,
  );
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, `cache:\n  dir: ${join(dir, 'cache')}\nnode:\n  containerdSocket: ${join(dir, socket)}\n`);
  return { dir, policyFile, configFile };
}

export async function storeAllowVerdict(policyFile: string, configFile: string, image: string, configDigest: string): Promise<void> {
  const ref = parseReference(image);
  const digest = ref.digest;
  if (digest === undefined) throw new Error(`${image} names no digest`);
  const policy = await loadPolicy(policyFile);
  const config = await loadConfig(configFile, configFile);
  const { scope, requirements } = scopeVerdict(ref, ref, policy);
  const store = new VerdictStore(config.cache!.dir);
  if (!store.ensureDir()) throw new Error(`cannot make the verdict cache ${config.cache!.dir}`);
  store.write({
    key: cacheKey(ref, digest, scope, requirements, config.platform),
    decision: 'allow',
    code: 'ALLOWED',
    reason: 'verified: test',
    image: image.slice(0, image.indexOf('@')),
    digest,
    configDigest,
    scope,
    signer: 'trusted',
    verifiedAt: Date.now(),
  });
}

/** Writes the script (for node --require) that prints `sigguard-builtin <module>` for each built-in module loaded, at exit. */
export function builtinsTracer(dir: string): string {
  const file = join(dir, 'builtins.cjs');
  writeFileSync(
    file,
    `process.on('exit', () => { const l = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')); require('node:fs').writeSync(2, l.map((m) => 'sigguard-builtin ' + m.slice(13) + '\\n').join('')); });\n`,
  );
  return file;
}

/**
 * The built-in modules a traced process's stderr names that the baseline (a bare Node by default;
 * other arguments to Node, with the same tracer) does not load.
 */
export function builtinsBeyondBoot(stderr: string, tracer: string, baseline: string[] = ['-e', '0']): string[] {
  const atBoot = spawnSync(process.execPath, ['--require', tracer, ...baseline], { encoding: 'utf8' }).stderr;
  const named = (text: string) => [...text.matchAll(/^sigguard-builtin (\S+)$/gm)].map((m) => m[1]!);
  const boot = new Set(named(atBoot));
  return named(stderr).filter((m) => !boot.has(m));
}
