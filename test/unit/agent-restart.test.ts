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

/** Stand-in processes; owners: pid -> real uid (root unless named). */
function processes(list: Record<number, string[]>, owners: Record<number, number> = {}): void {
  for (const [pid, argv] of Object.entries(list)) {
    mkdirSync(join(proc, pid));
    writeFileSync(join(proc, pid, 'cmdline'), `${argv.join('\0')}\0`);
    const uid = owners[Number(pid)] ?? 0;
    writeFileSync(join(proc, pid, 'status'), `Name:\tx\nPid:\t${pid}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t0\t0\t0\t0\n`);
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
    expect(parseRestart('systemd').kind).toBe('systemd'); // agent-systemd.test.ts
    for (const bad of ['', 'systemd-run', 'signal:TERM', 'signal:SIGTERM;rm', 'command:', 'command:[1,2]', 'command:[broken']) {
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

  it('never signals a look-alike an unprivileged node user runs (its own containerd, or any program so named, reading the node’s config)', () => {
    // a user's process that ignores SIGTERM kept the agent waiting for it, unready, and had the
    // node's containerd signalled again at every handler check
    processes(
      {
        100: ['/usr/bin/containerd'],
        110: ['/home/mallory/containerd', '--config', '/etc/containerd/config.toml'],
        111: ['containerd'],
        112: ['/usr/bin/containerd'], // no status (gone, or unreadable): not signalled
        113: ['/usr/bin/containerd'], // setuid-to-root effective uid, real uid a user's
      },
      { 110: 1000, 111: 65534 },
    );
    rmSync(join(proc, '112', 'status'));
    writeFileSync(join(proc, '113', 'status'), 'Name:\tx\nUid:\t1000\t0\t0\t0\n');
    expect(containerdPids('/etc/containerd/config.toml', proc)).toEqual([100]);
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
