/**
 * Registry credentials from docker-style config.json files (`auths` with
 * `auth`, `username`/`password` or `identitytoken`).
 */
import { readFileSync } from 'node:fs';
import { ReasonCode, SigguardError } from '../errors.js';
import { DOCKER_HUB } from '../reference/reference.js';

export type Credential = { kind: 'basic'; username: string; password: string } | { kind: 'identityToken'; token: string };

const AUTH_FIELDS = ['auth', 'username', 'password', 'identitytoken'] as const;
type AuthEntry = Partial<Record<(typeof AUTH_FIELDS)[number], string>>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A config.json's `auths` entries, checked as strictly as its zod schema was (an object whose
 * `auths`, if any, maps names to objects whose four fields, if present, are strings; other
 * fields are ignored); undefined when it is not. By hand: zod is not loaded on the cold path.
 * test/unit/credentials-shape.test.ts compares it with that schema.
 */
export function authEntries(json: unknown): Array<[string, AuthEntry]> | undefined {
  if (!isObject(json)) return undefined;
  const { auths } = json;
  if (auths === undefined) return [];
  if (!isObject(auths)) return undefined;
  const out: Array<[string, AuthEntry]> = [];
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) return undefined;
    const kept: AuthEntry = {};
    for (const f of AUTH_FIELDS) {
      const v = entry[f];
      if (v === undefined) continue;
      if (typeof v !== 'string') return undefined;
      kept[f] = v;
    }
    out.push([key, kept]);
  }
  return out;
}

/** `https://index.docker.io/v1/` → `docker.io`; `https://host:5000/path` → `host:5000`. */
export function normaliseAuthKey(key: string): string {
  let host = key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = DOCKER_HUB;
  return host;
}

function toCredential(entry: AuthEntry, file: string, key: string): Credential | undefined {
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
      const entries = authEntries(json);
      if (entries === undefined) throw new SigguardError(ReasonCode.CONFIG_INVALID, `auth file ${file} has no valid "auths" object`);
      for (const [key, entry] of entries) {
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
