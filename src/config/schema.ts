/**
 * sigguard's own configuration (registry access, node details): the file
 * named by --config, default /etc/sigguard/config.yaml. Strict like the policy.
 */
import * as z from '../zod-docs.js';

/** Built on first use (see policy/schema.ts): a cached, validated config needs no schema. */
function build() {
  const nonEmpty = z.string().check(z.minLength(1));

  const configSchema = z.strictObject({
    registry: z.prefault(
      z.strictObject({
        /** docker-style config.json files with `auths`, read in order; the first that has the host wins. */
        authFiles: z.optional(z.array(nonEmpty)),
        /** containerd's certs.d folder: `<dir>/<host[:port]>/hosts.toml`. */
        certsDir: z.optional(nonEmpty),
        /** Hosts (host[:port]) that may be reached over plain HTTP. */
        insecureRegistries: z._default(z.array(nonEmpty), []),
        /** Extra CA files (PEM) per host[:port], added to the system's. */
        caFiles: z._default(z.record(z.string(), z.array(nonEmpty)), {}),
      }),
      {},
    ),
    /** The node-local verdict cache used by the hook. */
    cache: z.prefault(
      z.strictObject({
        enabled: z._default(z.boolean(), true),
        dir: z.optional(nonEmpty),
        /** How long an allow is served without asking the registry. */
        ttlSeconds: z.optional(z.number().check(z.int(), z.positive())),
        /** How long a refusal is served (back-off against a CrashLoop hammering the registry). */
        denyBackoffSeconds: z.optional(z.number().check(z.int(), z.nonnegative(), z.lte(300))),
        /** When the registry cannot be reached, an allow younger than this still allows; 0 turns it off. */
        maxStaleSeconds: z.optional(z.number().check(z.int(), z.nonnegative())),
      }),
      {},
    ),
    /** The node's container runtimes, asked over CRI which image digest a container runs. */
    node: z.prefault(
      z.strictObject({
        containerdSocket: z._default(nonEmpty, '/run/containerd/containerd.sock'),
        crioSocket: z._default(nonEmpty, '/var/run/crio/crio.sock'),
      }),
      {},
    ),
    /** Trust material kept current by `sigguard trust update` (README "Keeping trust material current"). */
    trust: z.prefault(
      z.strictObject({
        /** Where `trust update` keeps the public-good root; `public-good` in a policy is the newer of it and the built-in one. */
        publicGood: z.optional(nonEmpty),
        /** `trust status` fails (and `policy validate` warns) when the material in use was fetched longer ago. */
        maxAgeDays: z.optional(z.number().check(z.int(), z.positive())),
      }),
      {},
    ),
    /** The platform whose manifest counts in a multi-arch index (default: this machine's). */
    platform: z.optional(z.strictObject({ os: nonEmpty, architecture: nonEmpty, variant: z.optional(nonEmpty) })),
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
