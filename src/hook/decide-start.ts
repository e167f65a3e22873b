/**
 * One container start decided: the configuration and the policy loaded (through the validated-
 * document cache), the container triaged, its image found on the node and decided through the
 * verdict cache. The hook does it in its own process (src/cli/hook.ts); the node's agent does the
 * same for a hook that asks it (src/agent/verify-server.ts), with the same code and the same files.
 */
import { DocCache } from '../cache/doc-cache.js';
import { CACHE_DEFAULTS } from '../cache/verdict-cache.js';
import { loadConfig } from '../config/load.js';
import { type Outcome, cachedVerify } from '../engine/cached-verify.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { setPublicGoodKept } from '../policy/kept-root.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { parseReference } from '../reference/reference.js';
import { mark } from '../trace.js';
import type { ContainerContext } from './annotations.js';
import { selectionFor } from './binding.js';
import { triage } from './decide.js';
import { type OnNode, resolveOnNode } from './node-lookup.js';

/** The documents a start is decided under: the hook's `--config` (undefined: the default file) and `--policy`. */
export interface StartDocuments {
  config: string | undefined;
  policy: string;
  /** The deadline (ms epoch) to wait for another process's validation of a document until (doc-cache.ts). */
  endsAt: number;
}

export interface DecideHow {
  /** The process exits once it has decided: registry connections are left to the exit (engine/session.ts). */
  exitsAfter: boolean;
  /** Called before a document is validated or an image verified (what it throws ends the decision); see ask-agent.ts. */
  beforeWork?: () => void;
  /** See CachedVerifyOptions.keepDenials. */
  keepDenials?: boolean;
  /** The policy, as soon as it is loaded (the caller logs its mode and trust roots, even on a later error). */
  onPolicy?: (policy: Policy) => void;
  /** Keep the connection to the runtime open for the next start (a process that decides many: the agent). */
  keepRuntimeConnection?: boolean;
  /** What the runtime said runs (or that it could not be asked), before the image is decided; what it throws ends the decision. */
  onNode?: (node: OnNode) => void;
}

export async function decideStart(
  ctx: ContainerContext,
  containerId: string,
  docs: StartDocuments,
  signal: AbortSignal,
  how: DecideHow,
): Promise<Outcome> {
  const cacheOpts = { endsAt: docs.endsAt, ...(how.beforeWork ? { onMiss: how.beforeWork } : {}) };
  // the configuration first: it says where validated documents are cached
  // documents not yet validated: one hook of those starting together validates each (doc-cache.ts)
  const config = await loadConfig(docs.config, HOOK_DEFAULTS.config, new DocCache(CACHE_DEFAULTS.dir, cacheOpts));
  mark('config');
  setPublicGoodKept(config.trust.publicGood);
  const policy = await loadPolicy(docs.policy, config.cache ? new DocCache(config.cache.dir, cacheOpts) : undefined);
  how.onPolicy?.(policy);
  mark('policy');
  const t = triage(ctx, policy);
  if (t.action !== 'verify') return { decision: t.action, code: t.code, reason: t.reason };
  const annotated = parseReference(t.image);
  const onNode = await resolveOnNode(ctx, containerId, annotated, config, policy, signal, how.keepRuntimeConnection);
  how.onNode?.(onNode);
  const { named, pinned, imageId } = onNode;
  mark('node');
  // what is verified is bound to what runs: the node's image id picks or checks the manifest
  const { outcome } = await cachedVerify(
    {
      ref: pinned,
      named,
      alsoNamed: [annotated.digest],
      ...(imageId ? { imageId } : {}),
      selection: selectionFor(ctx.runtime, imageId, config.platform),
    },
    {
      config,
      policy,
      signal,
      cache: config.cache,
      allowTagResolution: policy.tagResolution === 'registry',
      exitsAfter: how.exitsAfter,
      ...(how.beforeWork ? { beforeVerify: how.beforeWork } : {}),
      ...(how.keepDenials === false ? { keepDenials: false } : {}),
    },
  );
  return outcome;
}
