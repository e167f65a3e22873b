/**
 * AgentOptions for a unit test of the agent under `dir`: containerd's config in dir/containerd, no
 * containerd or ctr binary (a version 3 config reads as containerd 2.x), restart `none`, no HTTP
 * server, one pass (`once`), its state folder dir/state and the hook's default cache folder dir/state/cache; `overrides` last.
 */
import { join } from 'node:path';
import type { AgentOptions } from '../../src/agent/run.js';

export function testAgentOptions(dir: string, overrides: Partial<AgentOptions> = {}): AgentOptions {
  return {
    containerdConfig: join(dir, 'containerd/config.toml'),
    containerd: join(dir, 'no-containerd'),
    ctr: join(dir, 'no-ctr'),
    binary: join(dir, 'exe'),
    installPath: join(dir, 'opt/sigguard/bin/sigguard'),
    etc: join(dir, 'etc'),
    log: join(dir, 'decisions.log'),
    socket: join(dir, 'cri.sock'),
    sources: [],
    namespace: 'sigguard-system',
    restart: { kind: 'none' },
    restartTimeoutMs: 1000,
    syncIntervalMs: 1000,
    checkIntervalMs: 1000,
    followIntervalMs: 1000,
    logMaxBytes: 0,
    logKeep: 1,
    listen: undefined,
    once: true,
    stateDir: join(dir, 'state'),
    hookCacheDir: join(dir, 'state/cache'),
    ...overrides,
  };
}
