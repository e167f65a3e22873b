/**
 * sigguard agent's restart mechanism (src/agent/restart.ts): which process `--restart signal`
 * signals. Attack and mistake cases: another containerd on the node (another config), a shim, ctr,
 * anything merely named like containerd must never be signalled.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configOfCommandLine, containerdPids, parseRestart } from '../../src/agent/restart.js';

let proc: string;
beforeEach(() => {
  proc = mkdtempSync(join(tmpdir(), 'sigguard-agent-proc-'));
});
afterEach(() => {
  rmSync(proc, { recursive: true, force: true });
});

function processes(list: Record<number, string[]>): void {
  for (const [pid, argv] of Object.entries(list)) {
    mkdirSync(join(proc, pid));
    writeFileSync(join(proc, pid, 'cmdline'), `${argv.join('\0')}\0`);
  }
  mkdirSync(join(proc, 'self')); // not a pid
}

describe('sigguard agent: --restart', () => {
  it('names its mechanisms; anything else is a usage error', () => {
    expect(parseRestart('signal')).toEqual({ kind: 'signal', signal: 'SIGTERM' });
    expect(parseRestart('signal:SIGHUP')).toEqual({ kind: 'signal', signal: 'SIGHUP' });
    expect(parseRestart('command:systemctl restart containerd')).toEqual({ kind: 'command', argv: ['systemctl', 'restart', 'containerd'] });
    expect(parseRestart('command:["nsenter","-t","1","-m","--","systemctl","restart","containerd"]')).toMatchObject({ kind: 'command' });
    expect(parseRestart('none')).toEqual({ kind: 'none' });
    for (const bad of ['', 'systemd', 'signal:TERM', 'signal:SIGTERM;rm', 'command:', 'command:[1,2]', 'command:[broken']) {
      expect(() => parseRestart(bad), bad).toThrow(/restart/);
    }
  });

  it('signals only the containerd daemon that reads the agent’s config: not another containerd, a shim, ctr or a look-alike', () => {
    processes({
      100: ['/usr/bin/containerd'], // the node's, default config
      101: ['/opt/other/containerd', '--config', '/srv/other/config.toml'],
      102: ['/usr/bin/containerd-shim-runc-v2', '-namespace', 'k8s.io', '-address', '/run/containerd/containerd.sock'],
      103: ['ctr', 'images', 'ls'],
      104: ['/usr/local/bin/containerd', '-c', '/srv/node/config.toml'],
      105: ['/tmp/evil/containerd-helper', '--config', '/etc/containerd/config.toml'],
      106: ['containerd', '--config=/srv/node/config.toml', '--log-level', 'debug'],
      107: ['/usr/bin/containerd', '--config', '/etc/containerd/config.toml', 'config', 'dump'], // a command, not the daemon
      108: ['/usr/bin/containerd', '--log-level', 'info', '--config', '/etc/containerd/config.toml'],
    });
    expect(containerdPids('/etc/containerd/config.toml', proc).sort()).toEqual([100, 108]);
    expect(containerdPids('/srv/node/config.toml', proc).sort()).toEqual([104, 106]);
    expect(containerdPids('/srv/none.toml', proc)).toEqual([]);
    expect(configOfCommandLine(['containerd', '--config', 'rel/config.toml'])).toBe(join(process.cwd(), 'rel/config.toml'));
  });

  it('on CRI-O: only the crio daemon that reads the agent’s crio.conf, not `crio config`, not containerd', () => {
    processes({
      200: ['/usr/bin/crio'], // default /etc/crio/crio.conf
      201: ['/usr/bin/crio', '--log-level', 'info', '--config', '/srv/crio.conf'],
      202: ['/usr/bin/crio', 'config', '--default'],
      203: ['/usr/bin/containerd'],
      204: ['/usr/bin/conmon', '--cid', 'x', '-c', '/etc/crio/crio.conf'],
    });
    expect(containerdPids('/etc/crio/crio.conf', proc, 'crio')).toEqual([200]);
    expect(containerdPids('/srv/crio.conf', proc, 'crio')).toEqual([201]);
    expect(containerdPids('/etc/containerd/config.toml', proc, 'containerd')).toEqual([203]);
  });
});
