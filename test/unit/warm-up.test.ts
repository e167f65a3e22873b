/**
 * engine/warm-up.ts: what a verification does first once the registry answers, done while its
 * requests are in flight. It must change no decision: a key that cannot be had still refuses
 * where it is used, an aborted verification warms nothing, and nothing it does throws.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { warmWhileWaiting } from '../../src/engine/warm-up.js';
import { keyFactsOf, knownPublicKey, parsePublicKey } from '../../src/policy/keys.js';
import type { Requirement } from '../../src/policy/types.js';

const pem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' });

function keyRequirement(keys: Extract<Requirement, { type: 'sigstoreSigned' }>['keys']): Requirement {
  return {
    type: 'sigstoreSigned',
    keys,
    trust: { kind: 'keys', rekor: undefined },
    signedIdentity: undefined,
    signatureFormats: ['legacy', 'bundle'],
  } as Requirement;
}

/** Lets the event loop run `n` turns (the warm-up's three check-phase steps, and one more). */
async function turns(n = 4): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** A key known from the document cache: parsed by node:crypto only when `.key` is first read. */
function known(text: string | Buffer, facts = keyFactsOf(parsePublicKey(text, 'k.pub'))) {
  return knownPublicKey(text, 'k.pub', facts);
}

afterEach(() => vi.restoreAllMocks());

describe('warmWhileWaiting', () => {
  it("parses the requirements' keys on a later turn, once, and not before", async () => {
    const crypto = process.getBuiltinModule('node:crypto');
    const key = known(pem());
    const parse = vi.spyOn(crypto, 'createPublicKey');
    warmWhileWaiting([keyRequirement([key])], () => false);
    expect(parse).not.toHaveBeenCalled(); // nothing in the caller's turn: its requests go out first
    await turns();
    expect(parse).toHaveBeenCalledTimes(1);
    expect(key.key.asymmetricKeyType).toBe('ec');
    expect(parse).toHaveBeenCalledTimes(1); // the parse is kept for its use
  });

  it('leaves a key whose cached facts its bytes contradict to refuse where it is used (the same error, again)', async () => {
    const text = pem();
    const broken = known(text, { fingerprint: 'f'.repeat(64), type: 'ec' });
    const other = known(pem());
    warmWhileWaiting([keyRequirement([broken, other])], () => false);
    await turns(); // would fail the test with an uncaught error if the warm-up threw
    expect(() => broken.key).toThrow(/cached facts/);
    expect(other.key.asymmetricKeyType).toBe('ec'); // the next key was still warmed and is usable
  });

  it('warms nothing for a verification already aborted', async () => {
    const key = known(pem());
    const crypto = process.getBuiltinModule('node:crypto');
    const parse = vi.spyOn(crypto, 'createPublicKey');
    warmWhileWaiting([keyRequirement([key])], () => true);
    await turns();
    expect(parse).not.toHaveBeenCalled();
  });

  it('never throws, even when asking whether the verification is over throws', async () => {
    const key = known(pem());
    warmWhileWaiting([keyRequirement([key])], () => {
      throw new TypeError('no signal');
    });
    await turns(); // an uncaught error here would fail the test
  });

  it('loads the full path for requirements the fast path cannot judge, and still parses their keys', async () => {
    const key = known(pem());
    const withRekor = { ...keyRequirement([key]), trust: { kind: 'keys', rekor: { kind: 'keys', keys: [] } } } as unknown as Requirement;
    const keyless = { ...keyRequirement([]), trust: { kind: 'keyless', requireRekor: true, requireSCT: true } } as unknown as Requirement;
    const crypto = process.getBuiltinModule('node:crypto');
    const parse = vi.spyOn(crypto, 'createPublicKey');
    warmWhileWaiting([withRekor, keyless], () => false);
    await turns(); // the imports it starts settle here; an uncaught rejection would fail the test
    expect(parse).toHaveBeenCalledTimes(1);
    await expect(import('../../src/engine/requirements/prepare.js')).resolves.toHaveProperty('prepareSignature');
  });

  it("holds the event loop while a step is pending: an unref'd immediate lets libuv block in its poll, and the step waits for I/O", async () => {
    const immediates = () => process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
    const before = immediates();
    warmWhileWaiting([keyRequirement([known(pem())])], () => false);
    expect(immediates()).toBe(before + 1);
    await turns();
  });

  it('stops warming once the verification says it is over, between steps', async () => {
    const key = known(pem());
    const crypto = process.getBuiltinModule('node:crypto');
    const parse = vi.spyOn(crypto, 'createPublicKey');
    let over = false;
    warmWhileWaiting([keyRequirement([key])], () => over);
    await new Promise((r) => setImmediate(r)); // the first step ran
    over = true;
    await turns();
    expect(parse).not.toHaveBeenCalled();
  });

  it('touches no key of requirements without keys (reject, insecureAcceptAnything)', async () => {
    warmWhileWaiting([{ type: 'reject' }, { type: 'insecureAcceptAnything' }], () => false);
    await turns();
  });
});
