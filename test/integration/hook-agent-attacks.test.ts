/**
 * A reviewer's attacks on the hook asking the node's agent (`hook --agent`, src/hook/ask-agent.ts,
 * src/agent/verify-server.ts), against the real `sigguard verifier`, a real registry and real
 * cosign signatures: what the agent could be made to allow that the hook in its own process
 * would refuse (a revoked digest, a cached allow outliving a revocation, warn mode, a deny the
 * agent found), and whether what the agent refuses ever stays to refuse a start later.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Verifier, startVerifier } from '../support/agent-socket.js';
import { sigguard } from '../support/cli.js';
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

async function hook(image: string, policy: string, agent?: string) {
  const log = join(dir, `decisions-${++n}.log`);
  const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log, ...(agent ? ['--agent', agent] : [])], {
    input: hookState(`c${n}`, image),
    timeoutMs: 30_000,
  });
  const d = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
  return { ...r, d };
}
const clearVerdicts = () => rmSync(`${config}.cache`, { recursive: true, force: true });

/** The agent's answer to one request line, as a hook would send it. */
function ask(socket: string, policy: string, image: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connect(socket);
    let got = '';
    sock.on('data', (d) => (got += d));
    sock.on('error', reject);
    sock.on('close', () => resolve(JSON.parse(got)));
    sock.end(`${JSON.stringify({ v: 1, state: hookState(`c${++n}`, image), config, policy, until: Date.now() + 8_000 })}\n`);
  });
}

describe('what the agent could be made to allow that the hook would refuse', () => {
  it('a revoked digest (denyDigests): the agent declines, and an allow it kept before the revocation never outlives it', async () => {
    const policy = w.policy('attacks-revoked.yaml', standardPolicy(w));
    const v = await verifierFor(policy);
    clearVerdicts();
    const first = await hook(w.ref('signed'), policy, v.socket);
    expect(first.d).toMatchObject({ decision: 'allow', agent: 'decided', cache: 'miss' });

    // revoked: a new policy text (the hook has not validated it: it asks the agent, which declines)
    writeFileSync(policy, standardPolicy(w, `denyDigests: ["${w.digests.signed}"]\n`));
    const revoked = await hook(w.ref('signed'), policy, v.socket);
    expect(revoked.code, revoked.stderr).toBe(1);
    expect(revoked.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    expect(revoked.d.agent).toMatch(/^not used: the agent declined: DIGEST_DENIED/);

    // the policy now validated in the hook's cache, the agent's old allow still in the verdict cache:
    // refused in the hook's own process without asking
    const again = await hook(w.ref('signed'), policy, v.socket);
    expect(again.code).toBe(1);
    expect(again.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    expect(again.d.agent).toBeUndefined();
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
    clearVerdicts();
    expect((await hook(w.ref('signed'), policy, v.socket)).d).toMatchObject({ agent: 'decided', cache: 'miss' });
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
