/**
 * Wiring a verification from configuration: the registry client under the command's deadline
 * and one budget (registry/budget.ts), counting its requests. The deadline is the command's
 * one AbortSignal (src/deadline.ts): it stops the network, and synchronous work polls it
 * (Budget.checkpoint), so it holds on both.
 */
import type { Config } from '../config/load.js';
import type { Policy } from '../policy/types.js';
import type { ImageReference } from '../reference/reference.js';
import { DocCache } from '../cache/doc-cache.js';
import { deadlineOf, followDeadline } from '../deadline.js';
import { RegistryClient, type RequestRecord } from '../registry/client.js';
import { CredentialStore } from '../registry/credentials.js';
import { closeIdleConnections } from '../registry/http.js';
import { Budget } from '../registry/budget.js';
import type { ScopeDecision } from './scope-verdict.js';
import type { Selection } from './select-manifest.js';
import type { Verdict } from './types.js';
import { verifyImage } from './verify-image.js';

export interface SessionOptions {
  config: Config;
  policy: Policy;
  /** The command's deadline (src/deadline.ts's startDeadline). */
  signal: AbortSignal;
  allowTagResolution: boolean;
  /** See VerifyOptions.intended. */
  intended?: ImageReference;
  /** See VerifyOptions.selection. */
  selection?: Selection;
  /** See VerifyOptions.scoped. */
  scoped?: ScopeDecision;
  onRequest?: (r: RequestRecord) => void;
  /**
   * The process exits right after this verification (the hook, `check`): its registry connections
   * (idle ones unref'd, and any still in flight after an early refusal, ref'd) are left to the exit,
   * not destroyed one by one (~0.5 ms of a start: the first socket destroyed makes Node build
   * process.stderr). Safe only because src/cli/main.ts calls process.exit as soon as the command
   * returns (`check`'s wait for stdout is bounded by 1 s; test/integration/check.test.ts pins it).
   * Every other caller (the tests, bench/resident-verify.ts, any long-lived verifier) leaves it unset.
   */
  exitsAfter?: boolean;
}

const docCacheUntil = (dir: string, endsAt: number | undefined): DocCache => new DocCache(dir, endsAt === undefined ? {} : { endsAt });

/**
 * Verifications running in this process now. The registry's connections are one pool for the
 * process (registry/http.ts), and closing them ends those in use too: a verification that ends
 * while another runs (the agent deciding for several hooks at once, src/agent/verify-server.ts)
 * leaves them to the last one, or the other's requests failed "closed by the client" (a signed
 * image declined, its hook verifying again itself, the storm's requests 1.6x its singles').
 */
let inFlight = 0;

export async function verifyWithConfig(ref: ImageReference, opts: SessionOptions): Promise<Verdict> {
  // this verification's own signal: what it leaves under way when it ends (discoverEarly's lookups
  // when the manifest failed first) ends with it, whatever else still runs in this process
  const own = followDeadline(opts.signal, 'the verification ended');
  const budget = new Budget(own?.signal ?? opts.signal);
  let count = 0;
  inFlight++;
  try {
    const client = new RegistryClient({
      endpoints: {
        certsDir: opts.config.certsDir,
        insecureRegistries: opts.config.insecureRegistries,
        caFiles: opts.config.caFiles,
        // hosts.toml files kept validated beside the policy and the config (registry/hosts-config.ts)
        // (a hosts.toml not yet validated: once for the verifications that start together, each
        // waiting at most until the command's deadline, doc-cache.ts)
        ...(opts.config.cache ? { docs: docCacheUntil(opts.config.cache.dir, deadlineOf(opts.signal)) } : {}),
      },
      credentials: new CredentialStore(opts.config.authFiles),
      budget,
      onRequest: (r) => {
        count++;
        opts.onRequest?.(r);
      },
    });
    return await verifyImage(ref, {
      policy: opts.policy,
      client,
      platform: opts.config.platform,
      allowTagResolution: opts.allowTagResolution,
      ...(opts.intended ? { intended: opts.intended } : {}),
      ...(opts.selection ? { selection: opts.selection } : {}),
      ...(opts.scoped ? { scoped: opts.scoped } : {}),
      requestCount: () => count,
    });
  } finally {
    // before the verdict is returned: closed a turn later (to save ~0.4 ms), they destroyed the
    // sockets of the next verification a long-lived caller had started meanwhile (Agent.destroy()
    // ends the sockets in use too): a signed image refused (test/integration/back-to-back.test.ts)
    inFlight--;
    if (opts.exitsAfter !== true) own?.end();
    else own?.clear();
    if (opts.exitsAfter !== true && inFlight === 0) closeIdleConnections();
  }
}
