/**
 * A reviewer's attacks on the hook asking the node's agent (`hook --agent`, src/hook/ask-agent.ts,
 * src/agent/verify-server.ts), against the real `sigguard verifier`, a real registry and real
 * cosign signatures: what the agent could be made to allow that the hook in its own process
 * would refuse (a revoked digest, a cached allow outliving a revocation, warn mode, a deny the
 * agent found), and whether what the agent refuses ever stays to refuse a start later.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Verifier, askAgentDirect, fakeAgent, startVerifier } from '../support/agent-socket.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { sigguard } from '../support/cli.js';
import { runHook, untilAgentDecides } from '../support/run-hook.js';
import { hookState } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let config: string;
const dir = tempDir('sigguard-hook-agent-attacks-');
let n = 0;
const verifiers: Verifier[] = [];

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  config = w.config('attacks-config.yaml');
}, 240_000);
afterAll(async () => {
  for (const v of verifiers) await v.stop();
  await w?.stop();
});

/** A verifier of its own (socket in a root-only folder) for `policy`. */
async function verifierFor(policy: string): Promise<Verifier> {
  const sockDir = join(dir, `agent-${++n}`);
  mkdirSync(sockDir, { mode: 0o700 });
  const v = await startVerifier(join(sockDir, 'hook.sock'), config, policy);
  verifiers.push(v);
  return v;
}

const hook = (image: string, policy: string, agent?: string) =>
  runHook({ config, policy, log: join(dir, `decisions-${++n}.log`), input: hookState(`c${n}`, image), agent, timeoutMs: 30_000 });
const clearVerdicts = () => rmSync(`${config}.cache`, { recursive: true, force: true });

/** The agent's answer to one request line, as a hook would send it. */
const ask = (socket: string, policy: string, image: string) =>
  askAgentDirect(socket, { image, config, policy, until: Date.now() + 8_000, id: `c${++n}` });

describe('what the agent could be made to allow that the hook would refuse', () => {
  it('a revoked digest (denyDigests): the agent declines, and an allow it kept before the revocation never outlives it', async () => {
    const policy = w.policy('attacks-revoked.yaml', standardPolicy(w));
    const v = await verifierFor(policy);
    const first = await untilAgentDecides(async () => {
      clearVerdicts();
      return hook(w.ref('signed'), policy, v.socket);
    });
    expect(first.d).toMatchObject({ decision: 'allow', agent: 'decided', cache: 'miss' });

    // revoked: a new policy text (the hook has not validated it: it asks the agent, which declines)
    writeFileSync(policy, standardPolicy(w, `denyDigests: ["${w.digests.signed}"]\n`));
    const revoked = await hook(w.ref('signed'), policy, v.socket);
    expect(revoked.code, revoked.stderr).toBe(1);
    expect(revoked.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    expect(revoked.d.agent).toMatch(/^not used: the agent declined: DIGEST_DENIED/);

    // the policy now validated in the hook's cache, the agent's old allow still in the verdict cache:
    // the agent, asked first, declines, and the hook refuses in its own process
    const again = await hook(w.ref('signed'), policy, v.socket);
    expect(again.code).toBe(1);
    expect(again.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    expect(again.d.agent).toMatch(/^not used: the agent declined: DIGEST_DENIED/);
    expect((await ask(v.socket, policy, w.ref('signed'))).decline).toMatch(/^DIGEST_DENIED/);
  });

  it('warn mode: the agent never answers a deny as an allow; the hook warns (not enforced) by its own verification', async () => {
    const policy = w.policy('attacks-warn.yaml', standardPolicy(w, 'mode: warn\n'));
    const v = await verifierFor(policy);
    clearVerdicts();
    const answer = await ask(v.socket, policy, w.ref('unsigned'));
    expect(Object.keys(answer).sort()).toEqual(['decline', 'v']);
    expect(answer.decline).toMatch(/^NO_SIGNATURE/);
    const r = await hook(w.ref('otherkey'), policy, v.socket);
    expect(r.code, r.stderr).toBe(0);
    expect(r.d).toMatchObject({ decision: 'deny', enforced: false, code: 'UNTRUSTED_SIGNER' });
    expect(r.d.agent).toMatch(/^not used: the agent declined: UNTRUSTED_SIGNER/);
  });

  it("what the agent refused is not kept: it never refuses a later start (the next verifies again), the hook's own deny is", async () => {
    const policy = w.policy('attacks-nokeep.yaml', standardPolicy(w));
    const v = await verifierFor(policy);
    clearVerdicts();
    for (let i = 0; i < 2; i++) expect((await ask(v.socket, policy, w.ref('unsigned'))).decline).toMatch(/^NO_SIGNATURE/);
    const own = await hook(w.ref('unsigned'), policy);
    expect(own.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'miss' });
    const kept = await hook(w.ref('unsigned'), policy);
    expect(kept.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', cache: 'hit' });
  });

  it('a pod that names a signed repository but an unsigned digest of it: the agent declines, the hook refuses', async () => {
    const policy = w.policy('attacks-mixed.yaml', standardPolicy(w));
    const v = await verifierFor(policy);
    clearVerdicts();
    const mixed = `${w.registry.host}/signed@${w.digests.unsigned}`;
    const answer = await ask(v.socket, policy, mixed);
    expect(answer.allow).toBeUndefined();
    const r = await hook(mixed, policy, v.socket);
    expect(r.code, r.stderr).toBe(1);
    expect(r.d.decision).toBe('deny');
    expect(r.d.agent).toMatch(/^not used: the agent declined: /);
  });

  it('a configuration text never validated before: the hook asks the agent, which decides under that very text', async () => {
    const policy = w.policy('attacks-newconfig.yaml', standardPolicy(w));
    const v = await verifierFor(policy);
    const first = await untilAgentDecides(async () => {
      clearVerdicts();
      return hook(w.ref('signed'), policy, v.socket);
    });
    expect(first.d).toMatchObject({ agent: 'decided', cache: 'miss' });
    // a text no document cache has seen (its hash is new): the hook's own load stops at the miss,
    // though the verdict is in the cache
    writeFileSync(config, `cache:\n  dir: ${config}.cache\n# ${Date.now()}-${Math.random()}\n`);
    const r = await hook(w.ref('signed'), policy, v.socket);
    expect(r.code, r.stderr).toBe(0);
    expect(r.d).toMatchObject({ decision: 'allow', agent: 'decided', cache: 'hit' });
    writeFileSync(config, `cache:\n  dir: ${config}.cache\n# ${Date.now()}-${Math.random()}\n`);
    const refused = await hook(w.ref('otherkey'), policy, v.socket);
    expect(refused.code).toBe(1);
    expect(refused.d).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
    expect(refused.d.agent).toMatch(/^not used: the agent declined: UNTRUSTED_SIGNER/);
  });
});

describe('fixed after the review (each failed before)', () => {
  const allowAll = () =>
    `${JSON.stringify({ v: 1, allow: { decision: 'allow', code: 'ALLOWED', reason: 'says whoever holds the name' } })}\n`;

  it('a root-owned socket in a sticky world-writable folder is not asked: any user can take its name once it is gone', async () => {
    const open = tempDir('sigguard-sticky-');
    chmodSync(open, 0o755);
    const sticky = join(open, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const sock = join(sticky, 'hook.sock');
    // the premise: once root's socket is gone (an agent stopping or starting again), an unprivileged user binds the very name
    const root = await fakeAgent(sock, allowAll);
    await root.close();
    execFileSync('python3', ['-c', `import socket;s=socket.socket(socket.AF_UNIX);s.bind(${JSON.stringify(sock)})`], {
      uid: 65534,
      gid: 65534,
    });
    expect(statSync(sock).uid).toBe(65534);
    rmSync(sock);
    const fake = await fakeAgent(sock, allowAll);
    try {
      const policy = w.policy('attacks-sticky.yaml', standardPolicy(w));
      clearVerdicts();
      const r = await hook(w.ref('unsigned'), policy, sock);
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
      expect(r.d.agent).toMatch(/^not used: agent socket: .*its folder .*sticky \(mode 1777\) is writable by group and others/);
      expect(fake.asked).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  // a verification that takes most of the hook's deadline: ~60 % (the agent's, cut at the hook's wait,
  // once left the hook half its time to start over) and ~85 % (the hook's fallback, following the
  // agent's lock only half of what was left, then verified alone with a quarter)
  for (const [delayMs, deadline] of [
    [1800, '3'],
    [3200, '4'],
  ] as const) {
    it(`a signed image behind a registry ${delayMs} ms slow, a ${deadline} s deadline: what starts without the agent starts with it`, async () => {
      const mirror = await FaultProxy.start({ upstream: w.registry.host });
      mirror.overrides.push(() => new Promise((r) => setTimeout(() => r(false), delayMs)));
      const certs = join(dir, `slow-certs-${delayMs}`);
      mkdirSync(join(certs, w.registry.host), { recursive: true });
      writeFileSync(
        join(certs, w.registry.host, 'hosts.toml'),
        `server = "http://${w.registry.host}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
      );
      const slowConfig = join(dir, `slow-config-${delayMs}.yaml`);
      const policy = w.policy(`attacks-slow-${delayMs}.yaml`, standardPolicy(w));
      const run = async (agent?: string) => {
        writeFileSync(slowConfig, `cache:\n  dir: ${join(dir, `slow-cache-${++n}`)}\nregistry:\n  certsDir: ${certs}\n`);
        const log = join(dir, `slow-${n}.log`);
        // the documents (config, policy, hosts.toml) validated first, so only the verification is slow
        await sigguard(['hook', '--config', slowConfig, '--policy', policy, '--log', log, '--deadline', deadline], {
          input: hookState(`w${n}`, `${w.registry.host}/unsigned@${w.digests.unsigned}`),
          timeoutMs: 30_000,
        });
        return runHook({ config: slowConfig, policy, log, input: hookState(`s${n}`, w.ref('signed')), agent, deadline, timeoutMs: 30_000 });
      };
      try {
        const without = await run();
        expect(without.d, JSON.stringify(without.d)).toMatchObject({ decision: 'allow' });
        const sockDir = join(dir, `slow-agent-${delayMs}`);
        mkdirSync(sockDir, { mode: 0o700 });
        const v = await startVerifier(join(sockDir, 'hook.sock'), slowConfig, policy);
        verifiers.push(v);
        const withAgent = await run(v.socket);
        expect(
          withAgent.d,
          `without the agent: allowed in ${without.d.durationMs} ms; with it: ${JSON.stringify(withAgent.d)}`,
        ).toMatchObject({
          decision: 'allow',
          agent: expect.stringMatching(/^not used: the agent did not answer within \d+ ms$/),
        });
      } finally {
        await mirror.close();
      }
    }, 90_000);
  }

  it('a policy that no longer loads when the hook decides itself after a decline: refused and enforced, not judged in the mode it read first', async () => {
    const policy = w.policy('attacks-leak.yaml', standardPolicy(w, 'mode: warn\n'));
    clearVerdicts();
    // the warn policy validated and kept in the document cache (a start of another image)
    expect((await hook(w.ref('signed'), policy)).d.decision).toBe('allow');
    const sockDir = join(dir, 'leak');
    mkdirSync(sockDir, { mode: 0o700 });
    // an agent that declines; meanwhile the policy is replaced by one that does not load
    const fake = await fakeAgent(join(sockDir, 'hook.sock'), () => {
      writeFileSync(policy, 'version: 1\nmode: enforce\ndefault: reject\nscopes: [this is not a map]\n');
      return `${JSON.stringify({ v: 1, decline: 'NO_SIGNATURE: none' })}\n`;
    });
    try {
      const r = await hook(w.ref('unsigned'), policy, join(sockDir, 'hook.sock'));
      expect(r.code).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'POLICY_INVALID', enforced: true });
      expect(fake.asked).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });
});
