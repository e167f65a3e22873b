/**
 * Default paths are written once in TypeScript (src/defaults.ts). The files that cannot import
 * them — the node installer script and the Kind configuration — must name the same paths: a
 * hook that reads one policy while the installer writes another refuses every container.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHE_DEFAULTS } from '../../src/cache/verdict-cache.js';
import { DEFAULT_PATHS, HOOK_DEFAULTS } from '../../src/defaults.js';
import { DEFAULT_PUBLIC_GOOD_KEPT } from '../../src/policy/kept-root.js';
import { ROOT } from '../support/paths.js';

const shellVars = (file: string): Record<string, string> => {
  const vars: Record<string, string> = {};
  for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/^readonly ([A-Z_]+)=(\S+)$/gm)) {
    vars[m[1]!] = m[2]!.replace(/\$([A-Z_]+)/g, (_, v: string) => vars[v] ?? `$${v}`);
  }
  return vars;
};

describe('default paths', () => {
  it('the hook, the cache and the configuration take theirs from src/defaults.ts', () => {
    expect(HOOK_DEFAULTS).toMatchObject({ policy: DEFAULT_PATHS.policy, config: DEFAULT_PATHS.config, log: DEFAULT_PATHS.decisionLog });
    expect(CACHE_DEFAULTS.dir).toBe(DEFAULT_PATHS.cacheDir);
    expect(DEFAULT_PUBLIC_GOOD_KEPT).toBe(DEFAULT_PATHS.trustPublicGood);
  });

  it('install/install.sh puts the policy, configuration, install state and log where sigguard looks', () => {
    const v = shellVars('install/install.sh');
    expect({ policy: v.POLICY, config: v.CONFIG, state: v.STATE, log: v.LOG }).toEqual({
      policy: DEFAULT_PATHS.policy,
      config: DEFAULT_PATHS.config,
      state: DEFAULT_PATHS.installState,
      log: DEFAULT_PATHS.decisionLog,
    });
  });

  it("the Kind node's configuration keeps the cache in the default folder", () => {
    expect(readFileSync(join(ROOT, 'install/kind/config.yaml'), 'utf8')).toMatch(new RegExp(`^\\s+dir: ${DEFAULT_PATHS.cacheDir}$`, 'm'));
  });
});
