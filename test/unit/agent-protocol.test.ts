/**
 * The hook and the agent's protocol (src/hook/agent-protocol.ts): what the hook takes as the
 * agent's allow (ask-agent.ts parseAnswer) and what the agent answers to a request
 * (verify-server.ts decideRequest), without sockets. fast-check: no answer but an exact allow is
 * one; no request line, however made, is an allow when the documents cannot be loaded.
 */
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideRequest } from '../../src/agent/verify-server.js';
import { agentHookEntry } from '../../src/agent/node.js';
import { parseAnswer } from '../../src/hook/ask-agent.js';

const line = (x: unknown) => Buffer.from(`${JSON.stringify(x)}\n`);
const allow = { decision: 'allow', code: 'ALLOWED', reason: 'verified', image: 'r.example/app:v1', digest: `sha256:${'a'.repeat(64)}` };

describe("the hook's reading of an answer", () => {
  it('an exact allow is one, with its trust root', () => {
    expect(parseAnswer(line({ v: 1, allow, trustRoot: 'public-good (TUF 13)' }))).toEqual({ allow, trustRoot: 'public-good (TUF 13)' });
    expect(parseAnswer(line({ v: 1, allow }))).toEqual({ allow });
  });

  it('a decline, and every near miss of an allow, is not one', () => {
    expect(parseAnswer(line({ v: 1, decline: 'NO_SIGNATURE: none' }))).toEqual({ notUsed: 'the agent declined: NO_SIGNATURE: none' });
    for (const bad of [
      { v: 1, allow: { ...allow, decision: 'deny' } },
      { v: 1, allow: { ...allow, digest: 'sha256:abc' } },
      { v: 1, allow: { ...allow, cache: 'forever' } },
      { v: 1, allow: { ...allow, extra: 1 } },
      { v: 1, allow, decline: 'x' },
      { v: 1, decline: 'x', trustRoot: 'y' },
      { v: 2, allow },
      { v: '1', allow },
      { allow },
      { v: 1, allow: [allow] },
      { v: 1 },
      [{ v: 1, allow }],
      null,
    ]) {
      expect(parseAnswer(line(bad)), JSON.stringify(bad)).toHaveProperty('notUsed');
    }
    expect(parseAnswer(Buffer.from('{"v":1,"allow":{"decision":"allow","code":"A","reason":"r"}}'))).toHaveProperty('notUsed'); // no newline
    expect(parseAnswer(Buffer.from('{"v":1,"__proto__":{"x":1},"allow":{"decision":"allow","code":"A","reason":"r"}}\n'))).toHaveProperty(
      'notUsed',
    );
  });

  it('an allow only when the first line is exactly an allow (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({
            v: fc.constantFrom(1, 2, 0, '1'),
            allow: fc.option(fc.dictionary(fc.string(), fc.jsonValue())),
            decline: fc.option(fc.string()),
          }),
          fc.record({
            v: fc.constant(1),
            allow: fc.record({ decision: fc.constantFrom('allow', 'deny', 'ALLOW'), code: fc.string(), reason: fc.string() }),
          }),
        ),
        fc.string(),
        (value, tail) => {
          const r = parseAnswer(Buffer.concat([line(value), Buffer.from(tail)]));
          if (!('allow' in r)) return;
          const v = value as { v: unknown; allow: Record<string, unknown>; decline?: unknown };
          expect(v.v).toBe(1);
          expect(v.allow.decision).toBe('allow');
          expect(v.decline ?? undefined).toBeUndefined();
          expect(r.allow).toEqual(v.allow);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("the agent's answer to a request", () => {
  const own = { config: '/nonexistent/sigguard/config.yaml', policy: '/nonexistent/sigguard/policy.yaml' };
  const state = JSON.stringify({
    ociVersion: '1.2.0',
    id: 'c1',
    status: 'creating',
    pid: 1,
    bundle: '/nonexistent',
    annotations: {
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.image-name': 'r.example/app:v1',
      'io.kubernetes.cri.sandbox-namespace': 'default',
    },
  });
  const request = { v: 1, state, config: own.config, policy: own.policy, until: Date.now() + 60_000 };

  it('declines what is not a request for its own documents', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['not json', /not JSON/],
      [{ ...request, v: 2 }, /protocol 2/],
      [{ ...request, extra: true }, /unknown field "extra"/],
      [{ ...request, policy: '/etc/other/policy.yaml' }, /decides under/],
      [{ ...request, config: '/etc/other/config.yaml' }, /decides under/],
      [{ ...request, until: Date.now() - 1 }, /no time left/],
      [{ ...request, state: '' }, /malformed at state/],
    ];
    for (const [req, why] of cases) {
      const a = await decideRequest(typeof req === 'string' ? req : JSON.stringify(req), own);
      expect(a.allow, JSON.stringify(req)).toBeUndefined();
      expect(a.decline).toMatch(why);
    }
  });

  it("a request for its documents that cannot be loaded: declined with the loader's reason", async () => {
    const a = await decideRequest(JSON.stringify(request), own);
    expect(a).toEqual({ v: 1, decline: expect.stringMatching(/cannot read config \/nonexistent\/sigguard\/config\.yaml/) });
  });

  it('no request line is an allow when its documents cannot be loaded (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.record({
            v: fc.constant(1),
            state: fc.string(),
            config: fc.constant(own.config),
            policy: fc.constant(own.policy),
            until: fc.nat(),
          }),
        ),
        async (input) => {
          const a = await decideRequest(typeof input === 'string' ? input : JSON.stringify(input), own);
          expect(a.allow).toBeUndefined();
          expect(typeof a.decline).toBe('string');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the hook entry the agent writes', () => {
  const o = {
    containerdConfig: '/etc/containerd/config.toml',
    binary: '/sigguard',
    installPath: '/opt/sigguard/bin/sigguard',
    etc: '/etc/sigguard',
    log: '/var/log/sigguard/decisions.log',
  };
  it('names the agent socket (--agent) only when the agent serves one', () => {
    expect(agentHookEntry(o).args).not.toContain('--agent');
    const sock = join('/var/lib/sigguard/agent', 'hook.sock');
    expect(agentHookEntry({ ...o, hookSocket: sock }).args?.slice(-2)).toEqual(['--agent', sock]);
  });
});
