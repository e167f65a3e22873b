/**
 * The agent validates the hook's documents into the hook's document cache once it has put a policy
 * in force (src/agent/prime-documents.ts): the first hook start after it finds them validated, and
 * what is cached is exactly what the hook itself would cache. A policy the hook would refuse is
 * never cached (the hook refuses it itself).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { primeHookDocuments } from '../../src/agent/prime-documents.js';
import { Agent } from '../../src/agent/run.js';
import { DocCache } from '../../src/cache/doc-cache.js';
import { loadConfig } from '../../src/config/load.js';
import { loadPolicy } from '../../src/policy/load.js';
import { testAgentOptions } from '../support/agent-options.js';

let dir: string;
let etc: string;
let pub: string;

const policyText = (keyPath: string) =>
  `version: 1\ndefault: reject\nexemptNamespaces: [sigguard-system, kube-system]\nscopes:\n  "registry.example/app":\n    - type: sigstoreSigned\n      keyPath: ${keyPath}\n      signedIdentity: {type: matchRepository}\n`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-agent-prime-'));
  etc = join(dir, 'etc');
  mkdirSync(join(etc, 'keys'), { recursive: true });
  pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(etc, 'keys/cosign.pub'), pub);
  writeFileSync(join(etc, 'config.yaml'), `cache:\n  dir: ${join(dir, 'hook-cache')}\n`);
  writeFileSync(join(etc, 'policy.yaml'), policyText(join(etc, 'keys/cosign.pub')));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const documents = () => ({
  policyFile: join(etc, 'policy.yaml'),
  configFile: join(etc, 'config.yaml'),
  defaultCacheDir: join(dir, 'default-cache'),
});
const cachedPolicy = () => new DocCache(join(dir, 'hook-cache')).get('policy', readFileSync(join(etc, 'policy.yaml'), 'utf8'));
const cachedConfig = () => new DocCache(join(dir, 'default-cache')).get('config', readFileSync(join(etc, 'config.yaml'), 'utf8'));

describe("the hook's documents, validated by the agent", () => {
  it('lands where the hook looks: the configuration in the default cache folder, the policy and its key in the configuration’s', async () => {
    expect(await primeHookDocuments(documents())).toBe(true);
    expect(cachedConfig()).toBeDefined();
    expect(cachedPolicy()).toBeDefined();
    expect(new DocCache(join(dir, 'hook-cache')).get('key', Buffer.from(pub).toString('base64'))).toBeDefined();
  });

  it('is what the hook itself would have cached (the same loaders, the same entries)', async () => {
    await primeHookDocuments(documents());
    const primed = { config: cachedConfig(), policy: cachedPolicy() };
    rmSync(join(dir, 'default-cache'), { recursive: true });
    rmSync(join(dir, 'hook-cache'), { recursive: true });
    // the hook's own calls (src/cli/hook.ts), on the same files
    const config = await loadConfig(join(etc, 'config.yaml'), undefined, new DocCache(join(dir, 'default-cache')));
    await loadPolicy(join(etc, 'policy.yaml'), new DocCache(config.cache!.dir));
    expect({ config: cachedConfig(), policy: cachedPolicy() }).toEqual(primed);
  });

  it('a policy the hook would refuse (a key that is not one, a field it does not know) is not cached: the reason is returned', async () => {
    writeFileSync(join(etc, 'keys/cosign.pub'), '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    expect(((await primeHookDocuments(documents())) as Error).message).toMatch(/not a PEM public key/);
    expect(cachedPolicy()).toBeUndefined();
    writeFileSync(join(etc, 'keys/cosign.pub'), pub);
    writeFileSync(join(etc, 'policy.yaml'), `${policyText(join(etc, 'keys/cosign.pub'))}allowEverything: true\n`);
    expect(((await primeHookDocuments(documents())) as Error).message).toMatch(/allowEverything/);
    expect(cachedPolicy()).toBeUndefined();
  });

  it('the agent primes once the policy in force validates', async () => {
    const agent = new Agent(testAgentOptions(dir), pino({ base: null }, { write: () => {} }));
    await agent.sync();
    expect(agent.state.policyValid).toBe(true);
    expect(cachedPolicy()).toBeDefined();
    // the configuration, in the hook's default folder under the agent's state folder
    expect(new DocCache(join(dir, 'state/cache')).get('config', readFileSync(join(etc, 'config.yaml'), 'utf8'))).toBeDefined();
  });
});
