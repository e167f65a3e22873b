/**
 * Registry credentials from docker-style config.json files (`auths` with
 * `auth`, `username`/`password` or `identitytoken`).
 */
import { readFileSync } from 'node:fs';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { DOCKER_HUB } from '../reference/reference.js';

export type Credential = { kind: 'basic'; username: string; password: string } | { kind: 'identityToken'; token: string };

const authEntrySchema = z.object({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});
const dockerConfigSchema = z.object({ auths: z.record(z.string(), authEntrySchema).optional() });

/** `https://index.docker.io/v1/` → `docker.io`; `https://host:5000/path` → `host:5000`. */
export function normaliseAuthKey(key: string): string {
  let host = key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = DOCKER_HUB;
  return host;
}

function toCredential(entry: z.infer<typeof authEntrySchema>, file: string, key: string): Credential | undefined {
  if (entry.identitytoken) return { kind: 'identityToken', token: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new SigguardError(ReasonCode.CONFIG_INVALID, `${file}: auths."${key}".auth is not base64 of user:password`);
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { kind: 'basic', username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Credentials by registry host, read once from the files (missing files are skipped; the first file naming a host wins). */
export class CredentialStore {
  private readonly byHost = new Map<string, Credential>();
  constructor(files: string[]) {
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read auth file ${file}: ${(err as Error).message}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new SigguardError(ReasonCode.CONFIG_INVALID, `auth file ${file} is not JSON: ${(err as Error).message}`);
      }
      const parsed = dockerConfigSchema.safeParse(json);
      if (!parsed.success) throw new SigguardError(ReasonCode.CONFIG_INVALID, `auth file ${file} has no valid "auths" object`);
      for (const [key, entry] of Object.entries(parsed.data.auths ?? {})) {
        const host = normaliseAuthKey(key);
        if (this.byHost.has(host)) continue;
        const cred = toCredential(entry, file, key);
        if (cred) this.byHost.set(host, cred);
      }
    }
  }
  get(host: string): Credential | undefined {
    return this.byHost.get(host);
  }
}
