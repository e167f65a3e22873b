/**
 * `sigguard agent --uninstall` on a containerd node: the hook is taken out of the base specs, but
 * containerd holds the base specs it read at its start until it is restarted. Until then it runs the
 * hook for every container, so the executable (and the policy it reads) must stay: removed first,
 * every container start on the node fails (the hook's executable is gone) until someone restarts
 * containerd. Attack/mistake cases: `--restart none`, a restart that fails (no containerd found),
 * and the uninstall pod's retry after such a failure (the install state already gone).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Http2Server, createServer } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testAgentOptions } from '../support/agent-options.js';
import { Agent, type AgentOptions } from '../../src/agent/run.js';

let dir: string;
let cri: Http2Server | undefined;
const lines: string[] = [];
const spec = '{"ociVersion":"1.1.0","process":{"cwd":"/"}}\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-uninstall-'));
  mkdirSync(join(dir, 'containerd'));
  // a containerd 2.x configuration (version 3) whose one handler already has a base spec
  writeFileSync(
    join(dir, 'containerd/config.toml'),
    `version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "${join(dir, 'containerd/runc.json')}"\n`,
  );
  writeFileSync(join(dir, 'containerd/runc.json'), spec);
  copyFileSync('/bin/true', join(dir, 'exe')); // an executable this host runs (the agent checks that first)
  lines.length = 0;
});
afterEach(async () => {
  await new Promise<void>((r) => (cri ? cri.close(() => r()) : r()));
  cri = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function agent(restart: AgentOptions['restart']): Agent {
  // no containerd binary: the version 3 config says 2.x
  const o = testAgentOptions(dir, { restart, restartTimeoutMs: 2000, hostRoot: '/' });
  return new Agent(o, pino({ base: null }, { write: (line: string) => void lines.push(line) }));
}

async function installed(): Promise<void> {
  const a = agent({ kind: 'none' });
  a.state.policyValid = true;
  await a.install();
  expect(readFileSync(join(dir, 'containerd/runc.json'), 'utf8')).toContain('opt/sigguard/bin/sigguard');
  expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(true);
}

/** A CRI that answers (NOT_FOUND for the agent's probe), as containerd does once restarted. */
function criAnswering(): Promise<void> {
  cri = createServer((_req, res) => {
    res.addTrailers({ 'grpc-status': '5', 'grpc-message': 'not found' });
    res.writeHead(200, { 'content-type': 'application/grpc' }).end();
  });
  return new Promise((r) => cri?.listen(join(dir, 'cri.sock'), () => r()));
}

describe('sigguard agent --uninstall keeps the executable until containerd no longer runs the hook', () => {
  it('--restart none: the base specs put back, the executable and the policy stay (containerd still holds the hook)', async () => {
    await installed();
    expect(await agent({ kind: 'none' }).uninstall()).toBe(false); // not done: the uninstall pod stays unready
    expect(readFileSync(join(dir, 'containerd/runc.json'), 'utf8')).toBe(spec);
    expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(true);
    expect(lines.join('')).toMatch(/restart/);
    // the uninstall run again once containerd can be restarted: now it all goes
    await criAnswering();
    expect(await agent({ kind: 'command', argv: ['true'] }).uninstall()).toBe(true);
    expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(false);
    expect(existsSync(join(dir, 'etc/agent.json'))).toBe(false);
  });

  it('a failed restart, then the uninstall pod’s retry (install state gone): containerd is restarted before the executable goes', async () => {
    await installed();
    await expect(agent({ kind: 'signal', signal: 'SIGTERM' }).uninstall()).rejects.toThrow(/no containerd process/);
    expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(true);
    // the retry: before, it found no install state, restarted nothing and removed the executable
    await expect(agent({ kind: 'signal', signal: 'SIGTERM' }).uninstall()).rejects.toThrow(/no containerd process/);
    expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(true);
    await criAnswering();
    await agent({ kind: 'command', argv: ['true'] }).uninstall();
    expect(existsSync(join(dir, 'opt/sigguard/bin/sigguard'))).toBe(false);
    expect(readFileSync(join(dir, 'containerd/runc.json'), 'utf8')).toBe(spec);
  });

  it('nothing installed: nothing restarted, nothing left', async () => {
    await agent({ kind: 'signal', signal: 'SIGTERM' }).uninstall();
    expect(existsSync(join(dir, 'etc'))).toBe(false);
  });
});

describe('sigguard agent: the restart after an install', () => {
  it('puts no hook in the base specs when a node user could replace the executable it names (a folder writable by others)', async () => {
    mkdirSync(join(dir, 'opt/sigguard/bin'), { recursive: true });
    chmodSync(join(dir, 'opt/sigguard'), 0o777); // a node's own /opt/sigguard, left open
    const a = agent({ kind: 'none' });
    a.state.policyValid = true;
    await expect(a.install()).rejects.toThrow(/writable by group and others/);
    expect(readFileSync(join(dir, 'containerd/runc.json'), 'utf8')).toBe(spec);
    expect(a.ready).toBe(false);
  });

  it('a containerd slow to answer after its restart is waited for at the next check, not restarted again (and again)', async () => {
    const counter = join(dir, 'restarts');
    const a = agent({ kind: 'command', argv: ['sh', '-c', `echo restart >> ${counter}`] });
    a.state.policyValid = true;
    await expect(a.install()).rejects.toThrow(/did not answer/);
    await expect(a.check()).rejects.toThrow(/did not answer/); // still starting: before, restarted once more
    expect(readFileSync(counter, 'utf8')).toBe('restart\n');
    expect(a.ready).toBe(false);
    await criAnswering();
    await a.check();
    expect(a.ready).toBe(true);
    expect(readFileSync(counter, 'utf8')).toBe('restart\n');
    // a new change to the base specs is restarted for again
    writeFileSync(join(dir, 'containerd/runc.json'), spec);
    await a.check();
    expect(readFileSync(counter, 'utf8')).toBe('restart\nrestart\n');
  });
});
