/**
 * Wiring a verification from configuration: the registry client under one deadline and one
 * budget (registry/budget.ts), counting its requests. The deadline is an AbortSignal for the
 * network and a time that synchronous work polls (Budget.checkpoint), so it holds on both.
 */
import type { Config } from '../config/load.js';
import { ReasonCode, SigguardError } from '../errors.js';
import type { Policy } from '../policy/types.js';
import type { ImageReference } from '../reference/reference.js';
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
  deadlineMs: number;
  allowTagResolution: boolean;
  /** See VerifyOptions.intended. */
  intended?: ImageReference;
  /** See VerifyOptions.selection. */
  selection?: Selection;
  /** See VerifyOptions.scoped. */
  scoped?: ScopeDecision;
  onRequest?: (r: RequestRecord) => void;
}

export async function verifyWithConfig(ref: ImageReference, opts: SessionOptions): Promise<Verdict> {
  const controller = new AbortController();
  const budget = new Budget(controller.signal, Date.now() + opts.deadlineMs);
  const timer = setTimeout(
    () => controller.abort(new SigguardError(ReasonCode.DEADLINE_EXCEEDED, `verification took longer than ${opts.deadlineMs} ms`)),
    opts.deadlineMs,
  );
  let count = 0;
  try {
    const client = new RegistryClient({
      endpoints: { certsDir: opts.config.certsDir, insecureRegistries: opts.config.insecureRegistries, caFiles: opts.config.caFiles },
      credentials: new CredentialStore(opts.config.authFiles),
      signal: controller.signal,
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
    clearTimeout(timer);
    closeIdleConnections();
  }
}
