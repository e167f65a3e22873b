/**
 * The hook asking the node's agent (`hook --agent SOCKET`, src/hook/ask-agent.ts) against the real
 * `sigguard verifier` (src/agent/verify-server.ts), a real registry and real cosign signatures:
 * the agent decides allows the hook would make; anything else — a deny, no agent, a socket someone
 * other than root could have made, an answer that is not exactly an allow, an agent that hangs, an
 * agent serving other documents — and the hook decides in its own process, as without an agent.
 */
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Verifier, fakeAgent, startVerifier } from '../support/agent-socket.js';
import { runHook, untilAgentDecides } from '../support/run-hook.js';
import { hookState } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { AGENT_GRACE_MS } from '../../src/cli/hook.js';
import { tempDir } from '../support/temp.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let policy: string;
let config: string;
let verifier: Verifier;
const dir = tempDir('sigguard-hook-agent-');
let n = 0;

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  policy = w.policy('agent-policy.yaml', standardPolicy(w));
  config = w.config('agent-config.yaml');
  mkdirSync(join(dir, 'agent'), { mode: 0o700 });
  verifier = await startVerifier(join(dir, 'agent', 'hook.sock'), config, policy);
}, 240_000);
afterAll(async () => {
  await verifier?.stop();
  await w?.stop();
});

const state = (image: string) => hookState(`c${++n}`, image);

const hook = (image: string, opts: { agent?: string; policy?: string; config?: string; deadline?: string } = {}) =>
  runHook({
    config: opts.config ?? config,
    policy: opts.policy ?? policy,
    log: join(dir, `decisions-${n + 1}.log`),
    input: state(image),
    agent: opts.agent,
    deadline: opts.deadline,
    timeoutMs: 30_000,
  });
const clearCache = (cfg = config) => rmSync(`${cfg}.cache`, { recursive: true, force: true });
const repoRequests = (repo: string) => w.registry.requests().filter((r) => r.includes(`/v2/${repo}/`)).length;

describe('the hook asking the agent', () => {
  it('a new image, legacy and bundle signatures: the agent decides the allow, and its verdict serves the next start', async () => {
    for (const repo of ['signed', 'signed-bundle']) {
      const r = await untilAgentDecides(async () => {
        clearCache();
        return hook(w.ref(repo), { agent: verifier.socket });
      });
      expect(r.code, r.stderr + verifier.output()).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', code: 'ALLOWED', agent: 'decided', cache: 'miss', digest: w.digests[repo] });
      expect(r.d.signer).toBeTruthy();
      // the next start is a hit: the agent's, asked first; and the agent kept its allow where the
      // hook looks, so without an agent it is a hit in the hook's own process too
      const before = repoRequests(repo);
      const again = await untilAgentDecides(() => hook(w.ref(repo), { agent: verifier.socket }));
      expect(again.d).toMatchObject({ decision: 'allow', cache: 'hit', agent: 'decided' });
      const alone = await hook(w.ref(repo));
      expect(alone.d).toMatchObject({ decision: 'allow', cache: 'hit' });
      expect(alone.d.agent).toBeUndefined();
      expect(repoRequests(repo)).toBe(before);
    }
  });

  it('an unsigned image and one signed by another key: the agent declines, the hook refuses by its own verification', async () => {
    for (const [repo, code] of [
      ['unsigned', 'NO_SIGNATURE'],
      ['otherkey', 'UNTRUSTED_SIGNER'],
    ] as const) {
      clearCache();
      const r = await hook(w.ref(repo), { agent: verifier.socket });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', cache: 'miss' });
      expect(r.d.code).toBe(code);
      expect(r.d.agent).toMatch(/^not used: the agent declined: /);
    }
  });

  it('no agent at the socket: the hook decides in its own process and says why', async () => {
    clearCache();
    const r = await hook(w.ref('signed'), { agent: join(dir, 'agent', 'none.sock') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.d).toMatchObject({ decision: 'allow', cache: 'miss' });
    expect(r.d.agent).toBe(`not used: no agent socket at ${join(dir, 'agent', 'none.sock')}`);
  });

  it("an agent serving other documents declines: the hook's stricter policy refuses what the agent's would allow", async () => {
    const accepting = w.policy('agent-accepting.yaml', 'version: 1\ndefault: accept\nscopes: {}\n');
    mkdirSync(join(dir, 'lax'), { mode: 0o700 });
    const lax = await startVerifier(join(dir, 'lax', 'hook.sock'), config, accepting);
    try {
      clearCache();
      const r = await hook(w.ref('unsigned'), { agent: lax.socket });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
      expect(r.d.agent).toMatch(/^not used: the agent declined: the agent decides under .*agent-accepting\.yaml/);
    } finally {
      await lax.stop();
    }
  });

  it('the agent reads the policy as it is now: tightened to another key, it no longer allows', async () => {
    const own = w.policy('agent-changing.yaml', standardPolicy(w));
    mkdirSync(join(dir, 'changing'), { mode: 0o700 });
    const v = await startVerifier(join(dir, 'changing', 'hook.sock'), config, own);
    try {
      const first = await untilAgentDecides(async () => {
        clearCache();
        return hook(w.ref('signed'), { agent: v.socket, policy: own });
      });
      expect(first.d.agent).toBe('decided');
      writeFileSync(own, standardPolicy(w).replace(w.trusted.pub, w.other.pub));
      clearCache();
      const r = await hook(w.ref('signed'), { agent: v.socket, policy: own });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'UNTRUSTED_SIGNER' });
      expect(r.d.agent).toMatch(/^not used: the agent declined: UNTRUSTED_SIGNER/);
    } finally {
      await v.stop();
    }
  });
});

describe('an agent socket the hook does not take an allow from', () => {
  const allowAll = () =>
    `${JSON.stringify({ v: 1, allow: { decision: 'allow', code: 'ALLOWED', reason: 'says the fake agent', image: 'x' } })}\n`;

  it('a socket in a folder others can write (someone other than root could have made it): never asked', async () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const fake = await fakeAgent(join(open, 'hook.sock'), allowAll);
    try {
      clearCache();
      const r = await hook(w.ref('unsigned'), { agent: join(open, 'hook.sock') });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
      expect(r.d.agent).toMatch(/^not used: agent socket: .*\(mode 0777\) is writable by group and others/);
      expect(fake.asked).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('a socket owned by another user (in a root folder): never asked', async () => {
    const sockDir = join(dir, 'nobody');
    mkdirSync(sockDir, { mode: 0o700 });
    const fake = await fakeAgent(join(sockDir, 'hook.sock'), allowAll);
    chownSync(join(sockDir, 'hook.sock'), 65534, 65534);
    try {
      clearCache();
      const r = await hook(w.ref('unsigned'), { agent: join(sockDir, 'hook.sock') });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
      expect(r.d.agent).toMatch(/^not used: agent socket: .*owned by uid 65534, not root/);
      expect(fake.asked).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  const answers: Array<[string, (line: string) => string | Buffer | undefined, RegExp]> = [
    ['not JSON', () => 'allow\n', /not JSON/],
    ['no line at all, then closed', () => '', /closed without an answer/],
    ['a whole answer without its newline, then closed', () => allowAll().trimEnd(), /no whole answer/],
    ['over 64 KiB', () => Buffer.alloc(70 * 1024, 0x20), /over 65536 bytes/],
    ['another protocol', () => `${JSON.stringify({ v: 2, allow: JSON.parse(allowAll()).allow })}\n`, /protocol 2/],
    [
      'an allow with a field it does not know',
      () => `${JSON.stringify({ v: 1, allow: { ...JSON.parse(allowAll()).allow, override: true } })}\n`,
      /malformed at allow: unknown field "override"/,
    ],
    [
      'an allow that says deny',
      () => `${JSON.stringify({ v: 1, allow: { ...JSON.parse(allowAll()).allow, decision: 'deny' } })}\n`,
      /malformed at allow.decision/,
    ],
    [
      'an allow and a decline at once',
      () => `${JSON.stringify({ v: 1, allow: JSON.parse(allowAll()).allow, decline: 'no' })}\n`,
      /neither an allow nor a decline/,
    ],
    ['an empty object', () => '{"v":1}\n', /neither an allow nor a decline/],
    ['a "__proto__" field', () => '{"v":1,"__proto__":{"allow":1}}\n', /unknown field "__proto__"/],
  ];
  for (const [what, answer, why] of answers) {
    it(`an answer that is ${what}: the hook refuses the unsigned image itself`, async () => {
      const sockDir = join(dir, `fake-${n}`);
      mkdirSync(sockDir, { mode: 0o700 });
      const fake = await fakeAgent(join(sockDir, 'hook.sock'), answer);
      try {
        clearCache();
        const r = await hook(w.ref('unsigned'), { agent: join(sockDir, 'hook.sock') });
        expect(r.code, r.stderr).toBe(1);
        expect(r.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
        expect(r.d.agent).toMatch(why);
        expect(fake.asked).toHaveLength(1);
      } finally {
        await fake.close();
      }
    });
  }

  it('an agent that never answers: the hook waits half of its deadline, then decides itself', async () => {
    const sockDir = join(dir, 'hang');
    mkdirSync(sockDir, { mode: 0o700 });
    const fake = await fakeAgent(join(sockDir, 'hook.sock'), () => undefined);
    try {
      clearCache();
      const r = await hook(w.ref('signed'), { agent: join(sockDir, 'hook.sock'), deadline: '4' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', cache: 'miss' });
      expect(r.d.agent).toMatch(/^not used: the agent did not answer within \d+ ms$/);
      const asked = JSON.parse(fake.asked[0]!);
      expect(Object.keys(asked).sort()).toEqual(['config', 'policy', 'state', 'until', 'v']);
      expect(asked.policy).toBe(policy);
    } finally {
      await fake.close();
    }
  });

  it('an agent that never answers, a start with a fresh verdict: the hook decides it itself after the grace, without waiting further', async () => {
    const sockDir = join(dir, 'hang-warm');
    mkdirSync(sockDir, { mode: 0o700 });
    const fake = await fakeAgent(join(sockDir, 'hook.sock'), () => undefined);
    try {
      clearCache();
      expect((await hook(w.ref('signed'))).d).toMatchObject({ decision: 'allow', cache: 'miss' });
      const r = await hook(w.ref('signed'), { agent: join(sockDir, 'hook.sock') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.d).toMatchObject({
        decision: 'allow',
        cache: 'hit',
        agent: `not used: the agent had not answered within ${AGENT_GRACE_MS} ms`,
      });
      expect(fake.asked).toHaveLength(1);
      // a revocation of that verdict's digest (the policy validated before): the hook's refusal, the agent stuck
      const revoking = w.policy('agent-revoking.yaml', standardPolicy(w, `denyDigests: ["${w.digests.signed}"]\n`));
      expect((await hook(w.ref('signed'), { policy: revoking })).d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
      const denied = await hook(w.ref('signed'), { agent: join(sockDir, 'hook.sock'), policy: revoking });
      expect(denied.code).toBe(1);
      expect(denied.d).toMatchObject({
        decision: 'deny',
        code: 'DIGEST_DENIED',
        agent: `not used: the agent had not answered within ${AGENT_GRACE_MS} ms`,
      });
    } finally {
      await fake.close();
    }
  });

  it('an agent that answers an allow for a start the hook could decide itself: the agent decides it (asked first)', async () => {
    const first = await untilAgentDecides(async () => {
      clearCache();
      return hook(w.ref('signed'), { agent: verifier.socket });
    });
    expect(first.d).toMatchObject({ agent: 'decided', cache: 'miss' });
    const r = await untilAgentDecides(() => hook(w.ref('signed'), { agent: verifier.socket }));
    expect(r.d).toMatchObject({ decision: 'allow', agent: 'decided', cache: 'hit', digest: w.digests.signed });
  });

  it('an allow the agent made without the runtime (no socket where it looked), where the hook finds one: not taken', async () => {
    const sockDir = join(dir, 'unasked');
    mkdirSync(sockDir, { mode: 0o700 });
    const runtime = join(sockDir, 'runtime.sock'); // a socket the hook sees
    const there = await fakeAgent(runtime, () => undefined);
    const fake = await fakeAgent(
      join(sockDir, 'hook.sock'),
      () => `${JSON.stringify({ ...JSON.parse(allowAll()), unaskedRuntime: runtime })}\n`,
    );
    try {
      clearCache();
      const r = await hook(w.ref('unsigned'), { agent: join(sockDir, 'hook.sock') });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d.agent).toBe(`not used: the agent could not ask the runtime at ${runtime}, which the hook can`);
    } finally {
      await fake.close();
      await there.close();
    }
  });

  it('a runtime socket the agent finds but cannot ask: declined, the hook asks the runtime itself', async () => {
    const sockDir = join(dir, 'runtime-fails');
    mkdirSync(sockDir, { mode: 0o700 });
    const runtime = join(sockDir, 'containerd.sock');
    const broken = await fakeAgent(runtime, () => 'not http/2\n'); // answers nonsense and closes
    const cfg = w.config('agent-broken-runtime.yaml', `node:\n  containerdSocket: ${runtime}\n`);
    const v = await startVerifier(join(sockDir, 'hook.sock'), cfg, policy);
    try {
      clearCache(cfg);
      const r = await hook(w.ref('signed'), { agent: v.socket, config: cfg });
      // the hook's own lookup fails the same way: the annotation's digest, as without an agent
      expect(r.code, r.stderr).toBe(0);
      expect(r.d.agent).toMatch(/^not used: the agent declined: the agent could not ask the runtime at .*containerd\.sock/);
    } finally {
      await v.stop();
      await broken.close();
    }
  });

  it("a root-owned socket in root's own folders is the agent's: its allow is what decides (the boundary is the socket's place)", async () => {
    // as a verdict root writes into the verdict cache: whoever can make this socket is root already
    const sockDir = join(dir, 'root-fake');
    mkdirSync(sockDir, { mode: 0o700 });
    const fake = await fakeAgent(join(sockDir, 'hook.sock'), allowAll);
    try {
      clearCache();
      const r = await hook(w.ref('unsigned'), { agent: join(sockDir, 'hook.sock') });
      expect(r.code, r.stderr).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', agent: 'decided', reason: 'says the fake agent' });
    } finally {
      await fake.close();
    }
  });
});
