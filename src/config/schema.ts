/**
 * sigguard's own configuration (registry access, node details): the file
 * named by --config, default /etc/sigguard/config.yaml. Strict like the policy.
 */
import { z } from '../zod.js';

/** Built on first use (see policy/schema.ts): a cached, validated config needs no schema. */
function build() {
  const nonEmpty = z.string().min(1);

  const configSchema = z.strictObject({
    registry: z
      .strictObject({
        /** docker-style config.json files with `auths`, read in order; the first that has the host wins. */
        authFiles: z.array(nonEmpty).optional(),
        /** containerd's certs.d folder: `<dir>/<host[:port]>/hosts.toml`. */
        certsDir: nonEmpty.optional(),
        /** Hosts (host[:port]) that may be reached over plain HTTP. */
        insecureRegistries: z.array(nonEmpty).default([]),
        /** Extra CA files (PEM) per host[:port], added to the system's. */
        caFiles: z.record(z.string(), z.array(nonEmpty)).default({}),
      })
      .prefault({}),
    /** The node-local verdict cache used by the hook. */
    cache: z
      .strictObject({
        enabled: z.boolean().default(true),
        dir: nonEmpty.optional(),
        /** How long an allow is served without asking the registry. */
        ttlSeconds: z.number().int().positive().optional(),
        /** How long a refusal is served (back-off against a CrashLoop hammering the registry). */
        denyBackoffSeconds: z.number().int().nonnegative().max(300).optional(),
        /** When the registry cannot be reached, an allow younger than this still allows; 0 turns it off. */
        maxStaleSeconds: z.number().int().nonnegative().optional(),
      })
      .prefault({}),
    /** The node's container runtimes, asked over CRI which image digest a container runs. */
    node: z
      .strictObject({
        containerdSocket: nonEmpty.default('/run/containerd/containerd.sock'),
        crioSocket: nonEmpty.default('/var/run/crio/crio.sock'),
      })
      .prefault({}),
    /** Trust material kept current by `sigguard trust update` (README "Keeping trust material current"). */
    trust: z
      .strictObject({
        /** Where `trust update` keeps the public-good root; `public-good` in a policy is the newer of it and the built-in one. */
        publicGood: nonEmpty.optional(),
        /** `trust status` fails (and `policy validate` warns) when the material in use was fetched longer ago. */
        maxAgeDays: z.number().int().positive().optional(),
      })
      .prefault({}),
    /** The platform whose manifest counts in a multi-arch index (default: this machine's). */
    platform: z.strictObject({ os: nonEmpty, architecture: nonEmpty, variant: nonEmpty.optional() }).optional(),
  });
  return configSchema;
}

let built: ReturnType<typeof build> | undefined;
export const configSchema = {
  safeParse: (doc: unknown) => {
    built ??= build();
    return built.safeParse(doc);
  },
};
export type ConfigInput = z.infer<ReturnType<typeof build>>;
