/**
 * Review 2 of 7fb22eb: a signed image whose verification takes 75-100 % of the hook's deadline
 * starts without the agent, and is refused DEADLINE_EXCEEDED with it. The hook waits for the agent
 * half its deadline, then follows the agent's single-flight lock only for half of what is left
 * (followUntil: the agent's lock names the hook's own deadline, and holder.endsAt + HOLDER_GRACE_MS
 * > the follower's endsAt), then verifies alone with a quarter of its deadline; the agent's allow,
 * stored a little later, is never looked at again.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Verifier, startVerifier } from '../support/agent-socket.js';
import { sigguard } from '../support/cli.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { hookState } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
const dir = tempDir('sigguard-review2-slow-');
let n = 0;
const verifiers: Verifier[] = [];
beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
}, 240_000);
afterAll(async () => {
  for (const v of verifiers) await v.stop();
  await w?.stop();
});

it('a signed image whose verification takes ~85 % of the deadline: allowed without the agent, and with it', async () => {
  const DELAY = 3200; // one slow round of requests; the hook's deadline is 4 s
  const mirror = await FaultProxy.start({ upstream: w.registry.host });
  mirror.overrides.push(() => new Promise((r) => setTimeout(() => r(false), DELAY)));
  const certs = join(dir, 'slow-certs');
  mkdirSync(join(certs, w.registry.host), { recursive: true });
  writeFileSync(
    join(certs, w.registry.host, 'hosts.toml'),
    `server = "http://${w.registry.host}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  const slowConfig = join(dir, 'slow-config.yaml');
  const policy = w.policy('review2-slow.yaml', standardPolicy(w));
  const run = async (agent?: string) => {
    writeFileSync(slowConfig, `cache:\n  dir: ${join(dir, `slow-cache-${++n}`)}\nregistry:\n  certsDir: ${certs}\n`);
    const log = join(dir, `slow-${n}.log`);
    await sigguard(['hook', '--config', slowConfig, '--policy', policy, '--log', log, '--deadline', '4'], {
      input: hookState(`w${n}`, `${w.registry.host}/unsigned@${w.digests.unsigned}`),
      timeoutMs: 30_000,
    });
    const r = await sigguard(
      ['hook', '--config', slowConfig, '--policy', policy, '--log', log, '--deadline', '4', ...(agent ? ['--agent', agent] : [])],
      { input: hookState(`s${n}`, w.ref('signed')), timeoutMs: 30_000 },
    );
    return { ...r, d: JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) };
  };
  try {
    const without = await run();
    expect(without.d, JSON.stringify(without.d)).toMatchObject({ decision: 'allow' });
    const sockDir = join(dir, 'slow-agent');
    mkdirSync(sockDir, { mode: 0o700 });
    const v = await startVerifier(join(sockDir, 'hook.sock'), slowConfig, policy);
    verifiers.push(v);
    const withAgent = await run(v.socket);
    expect(withAgent.d, `without the agent: allowed in ${without.d.durationMs} ms; with it: ${JSON.stringify(withAgent.d)}`).toMatchObject({
      decision: 'allow',
    });
  } finally {
    await mirror.close();
  }
}, 90_000);
