/**
 * `sigguard agent` keeps the trust material current (issue 13): its trust step runs `trust update`
 * (here from a folder the test signs) into the kept root the hook reads, and a failed update is
 * logged while the root in force stays.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { testAgentOptions } from '../support/agent-options.js';
import { Agent, type AgentOptions } from '../../src/agent/run.js';
import { readKeptRoot } from '../../src/policy/kept-root.js';
import { publicGoodTrustedRootBytes } from '../../src/policy/public-good.js';
import { TufRepoFixture } from '../support/tuf-repo.js';

const dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function agent(trust: AgentOptions['trust'], lines: string[]): Agent {
  const o = testAgentOptions(dir, {
    containerdConfig: join(dir, 'config.toml'),
    containerd: undefined,
    ctr: undefined,
    binary: '',
    installPath: join(dir, 'sigguard'),
    socket: join(dir, 'none.sock'),
    stateDir: join(dir, 'state'),
    ...(trust ? { trust } : {}),
  });
  const log = pino({ base: null }, { write: (line: string) => void lines.push(line) });
  return new Agent(o, log);
}

describe('the agent keeps the trust material current', () => {
  it('updates the kept root; a failed update is logged and the root in force stays', async () => {
    const repo = new TufRepoFixture(join(dir, 'repo'));
    repo.publish({ 'trusted_root.json': publicGoodTrustedRootBytes() }, { targetsVersion: 20 });
    const out = join(dir, 'trust', 'public-good.json');
    const lines: string[] = [];
    const a = agent({ intervalMs: 86_400_000, out, from: repo.dir, root: repo.initialRoot }, lines);
    await a.refreshTrust();
    expect(lines.join('')).toMatch(/"msg":"trust updated"/);
    const kept = readKeptRoot(out);
    expect(kept.state === 'ok' && kept.root.targetsVersion).toBe(20);

    const before = readFileSync(out);
    repo.publish({ 'trusted_root.json': Buffer.from('{"mediaType":"nonsense"}') }, { timestampExpiresInDays: -1 });
    await a.refreshTrust();
    expect(lines.at(-1)).toMatch(/"err":"[^"]*expired[^"]*".*"msg":"trust update failed: the trust material in force stays"/);
    expect(readFileSync(out)).toEqual(before);
  });

  it('without --trust-out, the update lands where the configuration in force tells the hook to read it (trust.publicGood)', async () => {
    const repo = new TufRepoFixture(join(dir, 'repo-config'));
    repo.publish({ 'trusted_root.json': publicGoodTrustedRootBytes() }, { targetsVersion: 21 });
    const configured = join(dir, 'state', 'elsewhere', 'kept-root.json');
    mkdirSync(join(dir, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'etc', 'config.yaml'), `trust:\n  publicGood: ${configured}\n`);
    const lines: string[] = [];
    await agent({ intervalMs: 86_400_000, from: repo.dir, root: repo.initialRoot }, lines).refreshTrust();
    expect(lines.join('')).toMatch(/"msg":"trust updated"/);
    const kept = readKeptRoot(configured);
    expect(kept.state === 'ok' && kept.root.targetsVersion).toBe(21);
  });

  it('never writes over a file that is no kept root (trust.publicGood naming the hook’s executable or containerd’s config, from a ConfigMap)', async () => {
    const repo = new TufRepoFixture(join(dir, 'repo-victim'));
    repo.publish({ 'trusted_root.json': publicGoodTrustedRootBytes() }, { targetsVersion: 22 });
    const victim = join(dir, 'state', 'victim', 'config.toml'); // inside the state folder: still no kept root
    mkdirSync(join(dir, 'state', 'victim'), { recursive: true, mode: 0o700 });
    writeFileSync(victim, 'version = 3\n');
    mkdirSync(join(dir, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'etc', 'config.yaml'), `trust:\n  publicGood: ${victim}\n`);
    const lines: string[] = [];
    await agent({ intervalMs: 86_400_000, from: repo.dir, root: repo.initialRoot }, lines).refreshTrust();
    expect(readFileSync(victim, 'utf8')).toBe('version = 3\n');
    expect(lines.join('')).toMatch(/no kept trusted root/);
  });

  it('a trust.publicGood from the ConfigMap outside the agent’s state folder names no file to create: not written, refused with the reason', async () => {
    const repo = new TufRepoFixture(join(dir, 'repo-escape'));
    repo.publish({ 'trusted_root.json': publicGoodTrustedRootBytes() }, { targetsVersion: 23 });
    mkdirSync(join(dir, 'state', 'trust'), { recursive: true });
    mkdirSync(join(dir, 'outside'), { recursive: true });
    // a link inside the state folder to a folder outside it: its real place counts
    symlinkSync(join(dir, 'outside'), join(dir, 'state', 'link'));
    for (const target of [
      join(dir, 'outside', 'new-root.json'), // a new file anywhere: e.g. /etc/cron.d/x, /etc/ld.so.preload
      `${join(dir, 'state')}/../outside/dotdot.json`,
      join(dir, 'state-sibling', 'x.json'), // a prefix of the folder's name is not the folder
      join(dir, 'state', 'link', 'through-link.json'),
      'relative/public-good.json',
    ]) {
      mkdirSync(join(dir, 'etc'), { recursive: true });
      writeFileSync(join(dir, 'etc', 'config.yaml'), `trust:\n  publicGood: ${target}\n`);
      const lines: string[] = [];
      await agent({ intervalMs: 86_400_000, from: repo.dir, root: repo.initialRoot }, lines).refreshTrust();
      expect(lines.join(''), target).toMatch(/not under the agent's state folder|absolute/);
      expect(lines.join(''), target).not.toMatch(/"msg":"trust updated"/);
    }
    expect(existsSync(join(dir, 'outside', 'new-root.json'))).toBe(false);
    expect(existsSync(join(dir, 'outside', 'dotdot.json'))).toBe(false);
    expect(existsSync(join(dir, 'outside', 'through-link.json'))).toBe(false);
    expect(existsSync(join(dir, 'state-sibling'))).toBe(false);
  });

  it('--trust-out, the operator’s own flag, may name any path (only the ConfigMap’s trust.publicGood is held to the state folder)', async () => {
    const repo = new TufRepoFixture(join(dir, 'repo-flag'));
    repo.publish({ 'trusted_root.json': publicGoodTrustedRootBytes() }, { targetsVersion: 24 });
    const out = join(dir, 'operator', 'kept.json');
    const lines: string[] = [];
    await agent({ intervalMs: 86_400_000, out, from: repo.dir, root: repo.initialRoot }, lines).refreshTrust();
    expect(lines.join('')).toMatch(/"msg":"trust updated"/);
    expect(existsSync(out)).toBe(true);
  });
});
