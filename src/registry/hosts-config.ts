/**
 * A registry host's endpoints from its containerd `hosts.toml` as hosts.ts validated it (the TOML
 * parser and the zod schema are there, in the cold bundle). A hosts.toml is a document a person
 * writes: validated once and kept in the document cache by its text, as the policy and the config
 * are, so that a new image on a node whose registries have a hosts.toml (Kind's local registry, a
 * mirror) does not parse TOML and run zod on every verification (issue 15).
 */
import { readFileSync } from 'node:fs';
import { ReasonCode, SigguardError } from '../errors.js';
import { normaliseAuthKey } from './credentials.js';
import { type Capability, type Endpoint, type EndpointSettings, defaultEndpoint, readCAs } from './endpoints.js';

/** One entry of hosts.toml as hosts.ts's schema gives it (fields sigguard does not read kept as they are). */
export interface HostsEntry {
  capabilities?: Capability[];
  skip_verify?: boolean;
  ca?: string | string[];
  override_path?: boolean;
  client?: unknown;
  header?: Record<string, string | string[]>;
}

export interface HostsConfig extends HostsEntry {
  server?: string;
  host?: Record<string, HostsEntry>;
}

/** Where readHostsFile found a host's hosts.toml. */
export interface HostsFile {
  file: string;
  dir: string;
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

/**
 * The endpoints to try for a registry host, in containerd's order: the [host] entries as listed,
 * then `server` (or the default for the host).
 */
export function endpointsFromHosts(host: string, cfg: HostsConfig, found: HostsFile, settings: EndpointSettings): Endpoint[] {
  const extraCAs = readCAs(settings.caFiles[host] ?? [], '/');
  const make = (rawUrl: string, entry: HostsEntry): Endpoint => {
    const url = parseUrl(rawUrl, found.file);
    const path = url.pathname.replace(/\/+$/, '');
    const pathPrefix = entry.override_path === true ? path : `${path}/v2`.replace(/\/v2\/v2$/, '/v2');
    return {
      origin: url.origin,
      pathPrefix,
      capabilities: new Set(entry.capabilities ?? ['pull', 'resolve', 'push']),
      tls: { ca: [...readCAs(toList(entry.ca), found.dir), ...extraCAs], insecureSkipVerify: entry.skip_verify === true },
      authHost: normaliseAuthKey(url.host),
    };
  };
  const endpoints = Object.entries(cfg.host ?? {}).map(([url, entry]) => make(url, entry));
  if (cfg.server !== undefined) endpoints.push(make(cfg.server, cfg));
  else endpoints.push(defaultEndpoint(host, settings));
  return endpoints;
}

/** The text of a host's hosts.toml; undefined when it cannot be read (hosts.ts says why). */
export function readHostsText(found: HostsFile): string | undefined {
  try {
    return readFileSync(found.file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The endpoints of a hosts.toml whose exact text was validated before (settings.docs), without the
 * TOML parser or zod; undefined when it was not (hosts.ts's resolveEndpoints validates it then).
 */
export function validatedHostsEndpoints(host: string, found: HostsFile, settings: EndpointSettings): Endpoint[] | undefined {
  const text = settings.docs === undefined ? undefined : readHostsText(found);
  if (text === undefined) return undefined;
  const cfg = settings.docs?.get('hosts', text) as HostsConfig | undefined;
  return cfg === undefined ? undefined : endpointsFromHosts(host, cfg, found, settings);
}
