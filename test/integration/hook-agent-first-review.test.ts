/**
 * Review of b0c07c7 (the hook asks the agent first, src/cli/hook.ts runHook): the orderings the
 * change made new, thinking like an attacker. The agent is now asked before the hook has parsed
 * the state, an answer may come after the hook stopped waiting for it (AGENT_GRACE_MS), and the
 * hook may decide without it: none of these may turn a refusal into an allow, or leave a decision
 * unbounded in time, and the decision log must say who decided.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_GRACE_MS } from '../../src/cli/hook.js';
import { runHook } from '../support/run-hook.js';
import { hookState, ociState } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let policy: string;
let config: string;
const dir = tempDir('sigguard-agent-first-');
let n = 0;

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  policy = w.policy('first-policy.yaml', standardPolicy(w));
  config = w.config('first-config.yaml');
}, 240_000);
afterAll(async () => {
  await w?.stop();
});

const clearCache = () => rmSync(`${config}.cache`, { recursive: true, force: true });

const hook = (input: string, opts: { agent?: string; policy?: string; config?: string; deadline?: string } = {}) =>
  runHook({
    config: opts.config ?? config,
    policy: opts.policy ?? policy,
    log: join(dir, `decisions-${++n}.log`),
    input,
    agent: opts.agent,
    deadline: opts.deadline,
    timeoutMs: 30_000,
  });

/** A fake agent at a root-only socket answering `answer` `delayMs` after the request (undefined: never). */
async function agentAt(name: string, answer: object | undefined, delayMs = 0) {
  const sockDir = join(dir, name);
  mkdirSync(sockDir, { mode: 0o700 });
  const socket = join(sockDir, 'hook.sock');
  const line = answer === undefined ? undefined : `${JSON.stringify(answer)}\n`;
  const asked: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    open.add(conn);
    conn.once('close', () => open.delete(conn));
    conn.on('error', () => {});
    let got = '';
    let read = false;
    conn.on('data', (d) => {
      got += d;
      if (read || !got.includes('\n')) return;
      read = true;
      asked.push(got.slice(0, got.indexOf('\n')));
      if (line === undefined) return;
      if (delayMs === 0) conn.end(line);
      else timers.push(setTimeout(() => conn.end(line), delayMs));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    asked,
    close: () =>
      new Promise<void>((r) => {
        for (const t of timers) clearTimeout(t);
        for (const c of open) c.destroy();
        server.close(() => r());
      }),
  };
}

const allow = (extra: Record<string, unknown> = {}) => ({
  v: 1,
  allow: { decision: 'allow', code: 'ALLOWED', reason: 'says the fake agent', image: 'x', ...extra },
});

describe('the hook asking the agent first (review of b0c07c7)', () => {
  it('a state the hook cannot read, an agent that allows it at once: refused (the agent is asked before the parse)', async () => {
    const a = await agentAt('parse', allow());
    try {
      const annotations = JSON.parse(hookState('x', w.ref('signed'))).annotations;
      const states = [
        JSON.stringify({ ociVersion: '1.2.0', id: 'rel', status: 'creating', pid: 1, bundle: 'relative', annotations }),
        ociState('no-annotations', {}),
        '{"ociVersion":',
      ];
      for (const state of states) {
        const r = await hook(state, { agent: a.socket });
        expect(r.code, `${state}: ${r.stderr}`).toBe(1);
        expect(r.d).toMatchObject({ decision: 'deny', code: 'INVALID_STATE', enforced: true });
        // the agent was asked (before the parse): the log says its answer was not used
        expect(r.d.agent).toMatch(/^not used: /);
      }
    } finally {
      await a.close();
    }
  });

  it('an allow that comes after the grace, for a start the hook refuses by itself (a revoked digest): refused, the late allow unused', async () => {
    const revoking = w.policy('first-revoking.yaml', standardPolicy(w, `denyDigests: ["${w.digests.signed}"]\n`));
    clearCache();
    // the revoking policy validated (the hook's own start without an agent)
    expect((await hook(hookState('v', w.ref('signed')), { policy: revoking })).d).toMatchObject({ code: 'DIGEST_DENIED' });
    const a = await agentAt('late', allow({ digest: w.digests.signed }), 2_500);
    try {
      const r = await hook(hookState('late', w.ref('signed')), { agent: a.socket, policy: revoking });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({
        decision: 'deny',
        code: 'DIGEST_DENIED',
        agent: `not used: the agent had not answered within ${AGENT_GRACE_MS} ms`,
      });
      expect(a.asked).toHaveLength(1);
      // it did not wait for the answer it abandoned
      expect(r.ms).toBeLessThan(2_000);
    } finally {
      await a.close();
    }
  });

  it('an agent that never answers, a start the hook refuses by an error of its own after the grace: the log says the agent was not used', async () => {
    // no runtime socket and a tag: the hook cannot pin what runs (NODE_LOOKUP_FAILED), without any work to ask for
    const noRuntime = w.config('first-noruntime.yaml', `node:\n  containerdSocket: ${join(dir, 'no-runtime.sock')}\n`);
    const tagged = `${w.registry.host}/signed:v1`;
    const alone = await hook(hookState('t0', tagged), { config: noRuntime });
    expect(alone.d).toMatchObject({ decision: 'deny', code: 'NODE_LOOKUP_FAILED' });
    const a = await agentAt('stuck-error', undefined);
    try {
      const r = await hook(hookState('t1', tagged), { agent: a.socket, config: noRuntime });
      expect(r.code, r.stderr).toBe(1);
      expect(r.d).toMatchObject({
        decision: 'deny',
        code: 'NODE_LOOKUP_FAILED',
        agent: `not used: the agent had not answered within ${AGENT_GRACE_MS} ms`,
      });
    } finally {
      await a.close();
    }
  });

  it('an agent that never answers, a start that needs work, a 2 s deadline: decided by the hook within its deadline', async () => {
    const a = await agentAt('stuck', undefined);
    try {
      clearCache();
      const r = await hook(hookState('stuck', w.ref('signed')), { agent: a.socket, deadline: '2' });
      expect(r.ms).toBeLessThan(2_000 + 1_500);
      expect(r.d.agent).toMatch(/^not used: the agent did not answer within \d+ ms$/);
      expect(r.d.decision).toBeDefined();
    } finally {
      await a.close();
    }
  });

  it("an allow within the grace: the log's trust root, cache and digest are the agent's, the policy's own not mixed in", async () => {
    clearCache();
    const a = await agentAt('fields', { ...allow({ cache: 'hit', digest: w.digests.signed }), trustRoot: 'fake-root' });
    try {
      const r = await hook(hookState('fields', w.ref('signed')), { agent: a.socket });
      expect(r.code, r.stderr).toBe(0);
      expect(r.d).toMatchObject({ decision: 'allow', agent: 'decided', trustRoot: 'fake-root', cache: 'hit', digest: w.digests.signed });
    } finally {
      await a.close();
    }
  });
});
