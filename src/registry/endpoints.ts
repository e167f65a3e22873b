/**
 * A registry host's endpoints without hosts.toml: the defaults the container tools use. The
 * hosts.toml reader (hosts.ts: a TOML parser and zod) loads only for a host that has one
 * (client.ts's endpointsOf), so a cold verification against a plain registry never pays for them.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { readProblem, readTrustedFile } from '../document/file-trust.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { DOCKER_HUB } from '../reference/reference.js';
import type { ValidatedDocuments } from '../document/validated.js';
import type { TlsSettings } from './http.js';

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

const LOOPBACK = /^(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]+)?$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

export interface EndpointSettings {
  certsDir: string;
  insecureRegistries: string[];
  caFiles: Record<string, string[]>;
  /** Where hosts.toml files validated before are kept (hosts-config.ts); none: validated at every start. */
  docs?: ValidatedDocuments;
}

export function readCAs(paths: string[], base: string): string[] {
  return paths.map((p) => {
    const file = isAbsolute(p) ? p : join(base, p);
    try {
      return readTrustedFile(file).toString('utf8');
    } catch (err) {
      throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read CA file ${file}: ${readProblem(err)}`);
    }
  });
}

export function defaultEndpoint(host: string, settings: EndpointSettings): Endpoint {
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
export function readHostsFile(settings: EndpointSettings, host: string): { file: string; dir: string } | undefined {
  for (const name of [host, '_default']) {
    const dir = join(settings.certsDir, name);
    const file = join(dir, 'hosts.toml');
    if (existsSync(file)) return { file, dir };
  }
  return undefined;
}
