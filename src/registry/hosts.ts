/**
 * Where a registry host is really reached: containerd's
 * `certs.d/<host[:port]>/hosts.toml` (server, [host."..."] entries,
 * capabilities, skip_verify, ca, override_path), else the defaults the
 * container tools use. sigguard must reach a registry the way containerd does
 * (Kind's `localhost:5001` is `http://kind-registry:5000` on the node).
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { firstIssue } from '../document/zod-issue.js';
import { normaliseAuthKey } from './credentials.js';
import { type Endpoint, type EndpointSettings, defaultEndpoint, readCAs, readHostsFile } from './endpoints.js';

export { type Capability, type Endpoint, type EndpointSettings, isLoopback } from './endpoints.js';

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
