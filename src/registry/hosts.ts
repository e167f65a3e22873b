/**
 * Where a registry host is really reached: containerd's
 * `certs.d/<host[:port]>/hosts.toml` (server, [host."..."] entries,
 * capabilities, skip_verify, ca, override_path), else the defaults the
 * container tools use. sigguard must reach a registry the way containerd does
 * (Kind's `localhost:5001` is `http://kind-registry:5000` on the node).
 * The TOML parser and the schema are here (in the docs bundle, with the other documents' schemas
 * on zod/mini: a start that validates a hosts.toml loads no more); a hosts.toml validated before is
 * read from the document cache without them (hosts-config.ts).
 */
import { parse as parseToml } from 'smol-toml';
import * as z from '../zod-docs.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { firstIssue } from '../document/zod-issue.js';
import { type Endpoint, type EndpointSettings, defaultEndpoint, readHostsFile } from './endpoints.js';
import { type HostsConfig, endpointsFromHosts, readHostsText } from './hosts-config.js';

export { type Capability, type Endpoint, type EndpointSettings, isLoopback } from './endpoints.js';

const stringOrList = z.union([z.string(), z.array(z.string())]);
const hostEntrySchema = z.object({
  capabilities: z.optional(z.array(z.enum(['pull', 'resolve', 'push']))),
  skip_verify: z.optional(z.boolean()),
  ca: z.optional(stringOrList),
  override_path: z.optional(z.boolean()),
  client: z.optional(z.unknown()),
  header: z.optional(z.record(z.string(), stringOrList)),
});
const hostsFileSchema = z.extend(hostEntrySchema, {
  server: z.optional(z.string()),
  host: z.optional(z.record(z.string(), hostEntrySchema)),
});

/** A hosts.toml's text parsed and checked against the schema; CONFIG_INVALID with the first problem otherwise. */
export function validateHostsFile(text: string, file: string): HostsConfig {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot parse ${file}: ${(err as Error).message}`);
  }
  const parsed = hostsFileSchema.safeParse(doc);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `invalid ${file}: ${path}: ${message}`);
  }
  // zod's records drop a `__proto__` key unchecked: sigguard would skip an endpoint containerd tries
  if (Object.hasOwn((doc as { host?: object }).host ?? {}, '__proto__')) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `invalid ${file}: host.__proto__: a [host] entry named __proto__ is not supported`);
  }
  return parsed.data;
}

/**
 * The endpoints to try for a registry host (hosts-config.ts's endpointsFromHosts), its hosts.toml
 * validated here and kept validated in settings.docs for the next start.
 */
export function resolveEndpoints(host: string, settings: EndpointSettings): Endpoint[] {
  const found = readHostsFile(settings, host);
  if (found === undefined) return [defaultEndpoint(host, settings)];
  const text = readHostsText(found);
  if (text === undefined) throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read ${found.file}`);
  const cfg = validateHostsFile(text, found.file);
  settings.docs?.put('hosts', text, cfg);
  return endpointsFromHosts(host, cfg, found, settings);
}
