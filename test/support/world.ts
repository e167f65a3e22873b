/**
 * A small world for the runtime tiers: a registry, cosign keys, and a few
 * images — signed (legacy and bundle), signed by another key, unsigned.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cosign } from './cosign.js';
import { Pusher } from './push.js';
import { Registry } from './registry.js';

export interface World {
  registry: Registry;
  cosign: Cosign;
  push: Pusher;
  trusted: { key: string; pub: string };
  other: { key: string; pub: string };
  /** repo name → pushed digest; markers are `<repo>` so the container prints it. */
  digests: Record<string, string>;
  ref(repo: string): string;
  /** Writes a policy file (YAML) next to the keys; returns its path. */
  policy(name: string, text: string): string;
  /** A sigguard config file whose verdict cache lives in a fresh temp folder (plus `extra` YAML). */
  config(name: string, extra?: string): string;
  stop(): Promise<void>;
}

export async function makeWorld(): Promise<World> {
  const registry = await Registry.start();
  const cosign = await Cosign.create();
  const push = new Pusher(registry.host);
  const [trusted, other] = [await cosign.keyPair('trusted'), await cosign.keyPair('other')];
  const digests: Record<string, string> = {};
  const image = async (repo: string) => {
    digests[repo] = (await push.image(repo, 'v1', repo)).digest;
    return `${registry.host}/${repo}@${digests[repo]}`;
  };
  await cosign.sign2(trusted.key, await image('signed'));
  await cosign.sign3(trusted.key, await image('signed-bundle'));
  await cosign.sign2(other.key, await image('otherkey'));
  await image('unsigned');
  return {
    registry,
    cosign,
    push,
    trusted,
    other,
    digests,
    ref: (repo) => `${registry.host}/${repo}@${digests[repo]}`,
    policy(name, text) {
      const file = join(cosign.dir, name);
      writeFileSync(file, text);
      return file;
    },
    config(name, extra = '') {
      const file = join(cosign.dir, name);
      writeFileSync(file, `cache:\n  dir: ${join(cosign.dir, `${name}.cache`)}\n${extra}`);
      return file;
    },
    stop: () => registry.stop(),
  };
}

/** The usual policy: the world's registry needs the trusted key, matchRepository. */
export function standardPolicy(w: World, extra = ''): string {
  return `version: 1
default: reject
exemptNamespaces: [kube-system]
${extra}scopes:
  "${w.registry.host}":
    - type: sigstoreSigned
      keyPath: ${w.trusted.pub}
      signedIdentity: {type: matchRepository}
`;
}
