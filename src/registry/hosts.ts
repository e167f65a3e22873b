/**
 * Where a registry host is really reached: containerd's
 * `certs.d/<host[:port]>/hosts.toml` (server, [host."..."] entries,
 * capabilities, skip_verify, ca, override_path), else the defaults the
 * container tools use. sigguard must reach a registry the way containerd does
 * (Kind's `localhost:5001` is `http://kind-registry:5000` on the node).
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { firstIssue } from '../document/zod-issue.js';
import { DOCKER_HUB } from '../reference/reference.js';
import { normaliseAuthKey } from './credentials.js';
import type { TlsSettings } from './http.js';
import { readProblem, readTrustedFile } from '../document/file-trust.js';

export type Capability = 'pull' | 'resolve' | 'push';

export interface Endpoint {
  /** scheme://host[:port]; requests go to `${origin}${pathPrefix}/<repo>/...` */
  origin: string;
  /** `/v2` normally; the host's own path with override_path. */
  pathPrefix: string;
  capabilities: Set<Capability>;
  tls: TlsSettings;
  /**
   * The name credentials are looked up by, as containerd does: the endpoint's own host
   * (a mirror gets what is configured for the mirror, never the upstream's), the registry's
   * name for its default endpoint (`docker.io` for registry-1.docker.io).
   */
  authHost: string;
}

const stringOrList = z.union([z.string(), z.array(z.string())]);
const hostEntrySchema = z.object({
  capabilities: z.array(z.enum(['pull', 'resolve', 'push'])).optional(),
  skip_verify: z.boolean().optional(),
  ca: stringOrList.optional(),
  override_path: z.boolean().optional(),
  client: z.unknown().optional(),
  header: z.record(z.string(), stringOrList).optional(),
});
const hostsFileSchema = hostEntrySchema.extend({
  server: z.string().optional(),
  host: z.record(z.string(), hostEntrySchema).optional(),
});

const LOOPBACK = /^(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]+)?$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

export interface EndpointSettings {
  certsDir: string;
  insecureRegistries: string[];
  caFiles: Record<string, string[]>;
}

function readCAs(paths: string[], base: string): string[] {
  return paths.map((p) => {
    const file = isAbsolute(p) ? p : join(base, p);
    try {
      return readTrustedFile(file).toString('utf8');
    } catch (err) {
      throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read CA file ${file}: ${readProblem(err)}`);
    }
  });
}

function toList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function parseUrl(raw: string, file: string): URL {
  const text = /^[a-z]+:\/\//i.test(raw) ? raw : `https://${raw}`;
  try {
    return new URL(text);
  } catch {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `${file}: "${raw}" is not a URL`);
  }
}

function defaultEndpoint(host: string, settings: EndpointSettings): Endpoint {
  const plain = isLoopback(host) || settings.insecureRegistries.includes(host);
  const apiHost = host === DOCKER_HUB ? 'registry-1.docker.io' : host;
  return {
    origin: `${plain ? 'http' : 'https'}://${apiHost}`,
    pathPrefix: '/v2',
    capabilities: new Set(['pull', 'resolve', 'push']),
    tls: { ca: readCAs(settings.caFiles[host] ?? [], '/') },
    authHost: host,
  };
}

/** Reads hosts.toml for a host; undefined when there is none. */
function readHostsFile(settings: EndpointSettings, host: string): { file: string; dir: string } | undefined {
  for (const name of [host, '_default']) {
    const dir = join(settings.certsDir, name);
    const file = join(dir, 'hosts.toml');
    if (existsSync(file)) return { file, dir };
  }
  return undefined;
}

/**
 * The endpoints to try for a registry host, in containerd's order: the
 * [host] entries as listed, then `server` (or the default for the host).
 */
export function resolveEndpoints(host: string, settings: EndpointSettings): Endpoint[] {
  const found = readHostsFile(settings, host);
  if (found === undefined) return [defaultEndpoint(host, settings)];
  const { file, dir } = found;
  let doc: unknown;
  try {
    doc = parseToml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot parse ${file}: ${(err as Error).message}`);
  }
  const parsed = hostsFileSchema.safeParse(doc);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `invalid ${file}: ${path}: ${message}`);
  }
  const cfg = parsed.data;
  const extraCAs = readCAs(settings.caFiles[host] ?? [], '/');
  const make = (rawUrl: string, entry: z.infer<typeof hostEntrySchema>): Endpoint => {
    const url = parseUrl(rawUrl, file);
    const path = url.pathname.replace(/\/+$/, '');
    const pathPrefix = entry.override_path === true ? path : `${path}/v2`.replace(/\/v2\/v2$/, '/v2');
    return {
      origin: url.origin,
      pathPrefix,
      capabilities: new Set(entry.capabilities ?? ['pull', 'resolve', 'push']),
      tls: { ca: [...readCAs(toList(entry.ca), dir), ...extraCAs], insecureSkipVerify: entry.skip_verify === true },
      authHost: normaliseAuthKey(url.host),
    };
  };
  const endpoints = Object.entries(cfg.host ?? {}).map(([url, entry]) => make(url, entry));
  if (cfg.server !== undefined) endpoints.push(make(cfg.server, cfg));
  else endpoints.push(defaultEndpoint(host, settings));
  return endpoints;
}
