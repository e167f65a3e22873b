/**
 * The owed-restart marker (/etc/sigguard/agent-restart-pending.json) on a CRI-O node: it must be on
 * disk before the crio.conf.d drop-in changes, so an agent killed between that write and CRI-O's
 * reload leaves the next agent owing the reload. A write of the drop-in that fails (a folder where its
 * temporary file goes) stands in for the kill: whatever the agent managed to do before it is on the node.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NODE } from '../../src/crio/layout.js';
import { Agent, type AgentOptions, RESTART_PENDING } from '../../src/agent/run.js';
import { testAgentOptions } from '../support/agent-options.js';

let dir: string;
const lines: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-owed-'));
  const etc = join(dir, 'etc');
  mkdirSync(join(etc, 'keys'), { recursive: true });
  const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(etc, 'keys/cosign.pub'), pub);
  writeFileSync(
    join(etc, 'policy.yaml'),
    `version: 1\ndefault: reject\nexemptNamespaces: [sigguard-system, kube-system]\nscopes:\n  "registry.example/app":\n    - type: sigstoreSigned\n      keyPath: ${etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`,
  );
  copyFileSync('/bin/true', join(dir, 'exe')); // an executable this host runs (the agent checks that first)
  lines.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function crioAgent(restart: AgentOptions['restart']): Agent {
  const o = testAgentOptions(dir, {
    runtime: 'crio',
    crio: { root: join(dir, 'node'), config: join(dir, 'node/etc/crio/crio.conf') },
    socket: join(dir, 'crio.sock'),
    restart,
    hostRoot: '/',
  });
  const a = new Agent(o, pino({ base: null }, { write: (line: string) => void lines.push(line) }));
  a.state.policyValid = true;
  return a;
}

describe('the owed-restart marker on a CRI-O node', () => {
  it('is written before the crio.conf.d drop-in changes: an agent stopped at that write leaves the reload owed', async () => {
    const dropIn = join(dir, 'node', NODE.crioConf);
    mkdirSync(`${dropIn}.sigguard-tmp`, { recursive: true }); // the write of the drop-in fails here: the agent stops at it
    await expect(crioAgent({ kind: 'none' }).install()).rejects.toThrow(/EISDIR/);
    expect(existsSync(dropIn)).toBe(false);
    // before the fix the marker came after the write, so a kill in between left none
    expect(existsSync(join(dir, 'etc', RESTART_PENDING))).toBe(true);
    // the next agent finds the drop-in writable and owes the reload: not ready until it is done
    rmSync(`${dropIn}.sigguard-tmp`, { recursive: true });
    const next = crioAgent({ kind: 'none' });
    await next.install();
    expect(existsSync(dropIn)).toBe(true);
    expect(next.state.restartPending).toBe(true);
    expect(next.ready).toBe(false);
    expect(existsSync(join(dir, 'etc', RESTART_PENDING))).toBe(true);
  });
});
