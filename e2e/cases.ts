/**
 * The end-to-end cases, one table for both targets: the local containerd
 * node (e2e/run-local.ts, containerd 1.7 and 2.1, a kubelet stand-in over
 * CRI) and a Kind cluster (e2e/run-kind.ts, kubectl). Each case talks to a
 * `Cluster`, which each runner implements; a case returns a one-line detail or
 * throws with what went wrong.
 */
import { CACHE_DEFAULTS } from '../src/cache/verdict-cache.js';
import { HOOKS_D_TEMPLATE } from '../src/installer/hook-entry.js';
import { REPO, type Digests, short } from './images.js';

/** One line of sigguard's decision log (README, "The decision log"). */
export interface Decision {
  containerId?: string;
  namespace?: string;
  pod?: string;
  image?: string;
  digest?: string;
  decision: 'allow' | 'deny';
  enforced: boolean;
  code: string;
  reason: string;
  cache?: string;
  durationMs: number;
}

export interface PodRequest {
  /** Base name; the runner makes it unique. */
  name: string;
  namespace?: string;
  image: string;
  pullPolicy?: 'Always' | 'IfNotPresent';
  /** Keep the container running (sleep) instead of printing its marker and exiting. */
  longRunning?: boolean;
}

export interface PodResult {
  /** The pod's name as run. */
  name: string;
  namespace: string;
  /** The container started. */
  ran: boolean;
  /** Why it did not: StartContainer's error (local) or the pod's events (Kind), which carry the hook's stderr line. */
  error?: string;
  /** What a short-lived container printed. */
  output?: string;
  /** sigguard's decision-log line for this container. */
  decision?: Decision;
  /** StartContainer's duration (local node only). */
  startMs?: number;
  /** The CRI container id (local node only). */
  containerId?: string;
}

export interface Cluster {
  /** `1.7`, `2.1` (local containerd) or `kind`. */
  label: string;
  /** The --deadline the node's hook runs with (seconds). */
  hookDeadlineSeconds: number;
  /** What prepareImages pushed. */
  digests: Digests;
  /** The image name pods use. */
  image(repo: string, tag?: string): string;
  /** Points `repo:toTag` at `repo:fromTag`'s manifest in the registry; returns the digest. */
  moveTag(repo: string, fromTag: string, toTag: string): Promise<string>;
  /** Pushes a new image (fresh content from `marker`) and signs it with the trusted key; returns its digest. */
  pushSigned(repo: string, tag: string, marker: string): Promise<string>;
  /** Pulls an image onto the node (kubelet's pull / crictl pull), as it is in the registry now. */
  pull(image: string): Promise<void>;
  runPod(req: PodRequest): Promise<PodResult>;
  isRunning(pod: PodResult): Promise<boolean>;
  /** Rewrites the node's policy with `mode:` warn or enforce (the hook reads it at every start). */
  setMode(mode: 'warn' | 'enforce'): Promise<void>;
  registryDown(): Promise<void>;
  registryUp(): Promise<void>;
  /**
   * The registry, as the node reaches it, holds every request at least `ms` before answering (local:
   * a delaying relay put in its place in the node's certs.d; Kind: the registry container paused),
   * until registryFast().
   */
  registrySlow(ms: number): Promise<void>;
  registryFast(): Promise<void>;
  /** Makes every verdict in the node's verdict cache `ms` older (its verifiedAt), instead of waiting. */
  ageCache(ms: number): Promise<void>;
  restartRuntime(): Promise<void>;
}

export interface E2eCase {
  id: string;
  expect: 'runs' | 'refused';
  /** The decision-log code expected. */
  code: string;
  /** What the case shows, for a table. */
  title: string;
  run(c: Cluster): Promise<string>;
}

class CaseFailure extends Error {}

export function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new CaseFailure(what);
}

function describeRun(r: PodResult): string {
  if (r.ran) return `ran${r.output !== undefined ? ` and printed ${JSON.stringify(r.output.trim())}` : ''}`;
  return `refused: ${r.error ?? '(no error)'}`;
}

function hookNote(d: Decision | undefined): string {
  return d ? `hook ${d.durationMs} ms${d.cache ? `, cache ${d.cache}` : ''}` : 'no decision';
}

/** The pod ran, printed `marker` (unless long-running) and the hook logged `code`. */
export function expectRan(r: PodResult, code: string, marker?: string): Decision {
  check(r.ran, `expected it to run, but it was ${describeRun(r)}`);
  if (marker !== undefined) check(r.output === `${marker}\n`, `expected output ${JSON.stringify(marker)}, got ${JSON.stringify(r.output)}`);
  check(r.decision, 'no decision-log line for the container');
  check(r.decision.code === code, `expected decision code ${code}, got ${r.decision.code} (${r.decision.reason})`);
  return r.decision;
}

/** The pod was refused by sigguard with `code`: in the runtime's error and in the decision log. */
export function expectRefused(r: PodResult, code: string): Decision {
  check(!r.ran, `expected a refusal [${code}], but it ran (decision: ${r.decision ? `${r.decision.code} ${r.decision.reason}` : 'none'})`);
  check(r.error?.includes('sigguard: denied') === true, `refused, but not by sigguard: ${r.error}`);
  check(r.error.includes(`[${code}]`), `expected [${code}] in the error, got: ${r.error}`);
  check(r.decision, 'no decision-log line for the container');
  check(r.decision.decision === 'deny' && r.decision.enforced && r.decision.code === code, `decision log: ${JSON.stringify(r.decision)}`);
  return r.decision;
}

const refusedDetail = (d: Decision): string => `refused [${d.code}] ${d.reason} (${hookNote(d)})`;

/** How old a verdict is made for stale-if-error: past the cache TTL, inside maxStale (the nodes keep both defaults). */
const STALE_AGE_MS = ((CACHE_DEFAULTS.ttlSeconds + CACHE_DEFAULTS.maxStaleSeconds) / 2) * 1000;

/** A registry slower than the hook's deadline and than the runtime's own hook timeout (a hook that waited for it would be killed). */
const slowRegistryMs = (c: Cluster): number => (c.hookDeadlineSeconds + (HOOKS_D_TEMPLATE.hook.timeout ?? 10) + 5) * 1000;

/** Runs the pod while the registry is slow (slowRegistryMs), then makes it fast again. */
async function runWhileSlow(c: Cluster, req: PodRequest): Promise<PodResult> {
  await c.registrySlow(slowRegistryMs(c));
  try {
    return await c.runPod(req);
  } finally {
    await c.registryFast();
  }
}

/** The provenance cases: `e2e/attested` requires a signature and SLSA provenance from acme's builder (sigstoreAttested). */
const PROVENANCE_CASES: E2eCase[] = [
  {
    id: 'attested',
    expect: 'runs',
    code: 'ALLOWED',
    title: "an image signed and attested (cosign attest) with SLSA provenance from the builder the policy's CEL condition accepts",
    async run(c) {
      const d = expectRan(await c.runPod({ name: 'attested', image: c.image(REPO.attested) }), 'ALLOWED', 'attested');
      check(d.reason.includes('legacy attestation https://slsa.dev/provenance/v1'), `allowed, but not by the attestation: ${d.reason}`);
      return `ran, ${short(d.digest)} signed and attested (${hookNote(d)})`;
    },
  },
  {
    id: 'attested-evil',
    expect: 'refused',
    code: 'ATTESTATION_REJECTED',
    title: 'an image signed and attested with provenance from another builder: the condition is false',
    async run(c) {
      return refusedDetail(
        expectRefused(await c.runPod({ name: 'attested-evil', image: c.image(REPO.attested, 'evil') }), 'ATTESTATION_REJECTED'),
      );
    },
  },
  {
    id: 'attested-none',
    expect: 'refused',
    code: 'NO_ATTESTATION',
    title: 'an image signed with the trusted key but without provenance, where the scope requires it',
    async run(c) {
      return refusedDetail(
        expectRefused(await c.runPod({ name: 'attested-none', image: c.image(REPO.attested, 'none') }), 'NO_ATTESTATION'),
      );
    },
  },
];

export const CASES: E2eCase[] = [
  {
    id: 'signed',
    expect: 'runs',
    code: 'ALLOWED',
    title: 'an image signed with the trusted key (cosign 2, legacy .sig), named by tag',
    async run(c) {
      const r = await c.runPod({ name: 'signed', image: c.image(REPO.signed) });
      const d = expectRan(r, 'ALLOWED', 'signed');
      check(d.digest === c.digests[`${REPO.signed}:v1`], `verified ${d.digest}, not the signed digest`);
      return `ran, ${short(d.digest)} verified (${hookNote(d)})`;
    },
  },
  {
    id: 'signed-bundle',
    expect: 'runs',
    code: 'ALLOWED',
    title: 'an image signed with the trusted key as a cosign 3 Sigstore bundle',
    async run(c) {
      const d = expectRan(await c.runPod({ name: 'bundle', image: c.image(REPO.bundle) }), 'ALLOWED', 'signed-bundle');
      return `ran, ${short(d.digest)} verified (${hookNote(d)})`;
    },
  },
  {
    id: 'unsigned',
    expect: 'refused',
    code: 'NO_SIGNATURE',
    title: 'an image without any signature',
    async run(c) {
      return refusedDetail(expectRefused(await c.runPod({ name: 'unsigned', image: c.image(REPO.unsigned) }), 'NO_SIGNATURE'));
    },
  },
  {
    id: 'multiarch-confused',
    expect: 'refused',
    code: 'NO_SIGNATURE',
    title:
      'a multi-arch index listing an unsigned x86_64 (aarch64) entry before the signed amd64 (arm64/v8) one: containerd runs the unsigned one',
    async run(c) {
      const d = expectRefused(await c.runPod({ name: 'multiarch-confused', image: c.image(REPO.multiarch, 'confused') }), 'NO_SIGNATURE');
      return refusedDetail(d);
    },
  },
  {
    id: 'multiarch-signed',
    expect: 'runs',
    code: 'ALLOWED',
    title: 'a properly signed multi-arch image (the index signed)',
    async run(c) {
      const d = expectRan(await c.runPod({ name: 'multiarch-signed', image: c.image(REPO.multiarch) }), 'ALLOWED', 'multiarch-signed');
      check(d.digest === c.digests[`${REPO.multiarch}:v1`], `verified ${d.digest}, not the index`);
      return `ran, index ${short(d.digest)} verified (${hookNote(d)})`;
    },
  },
  {
    id: 'wrong-key',
    expect: 'refused',
    code: 'UNTRUSTED_SIGNER',
    title: 'an image signed with a key the policy does not trust',
    async run(c) {
      return refusedDetail(expectRefused(await c.runPod({ name: 'otherkey', image: c.image(REPO.otherKey) }), 'UNTRUSTED_SIGNER'));
    },
  },
  {
    id: 'wrong-identity',
    expect: 'refused',
    code: 'IDENTITY_MISMATCH',
    title: 'a trusted legacy signature made for e2e/signed, copied with its image into e2e/copied (matchRepository)',
    async run(c) {
      return refusedDetail(expectRefused(await c.runPod({ name: 'copied', image: c.image(REPO.copied) }), 'IDENTITY_MISMATCH'));
    },
  },
  {
    id: 'exempt-namespace',
    expect: 'runs',
    code: 'EXEMPT_NAMESPACE',
    title: 'the unsigned image in an exemptNamespaces namespace (kube-system)',
    async run(c) {
      const d = expectRan(
        await c.runPod({ name: 'exempt', namespace: 'kube-system', image: c.image(REPO.unsigned) }),
        'EXEMPT_NAMESPACE',
        'unsigned',
      );
      return `ran: ${d.reason} (${hookNote(d)})`;
    },
  },
  {
    id: 'warn-mode',
    expect: 'runs',
    code: 'NO_SIGNATURE',
    title: 'the unsigned image under `mode: warn`: starts, the refusal is logged',
    async run(c) {
      await c.setMode('warn');
      try {
        const r = await c.runPod({ name: 'warn', image: c.image(REPO.unsigned) });
        const d = expectRan(r, 'NO_SIGNATURE', 'unsigned');
        check(d.decision === 'deny' && d.enforced === false, `expected decision deny, enforced false: ${JSON.stringify(d)}`);
        return `ran; logged decision=deny enforced=false [${d.code}] (${hookNote(d)})`;
      } finally {
        await c.setMode('enforce');
      }
    },
  },
  {
    id: 'retag-signed-cached',
    expect: 'runs',
    code: 'ALLOWED',
    title: 'signed content pulled under :v1, then :v1 moved to unsigned content in the registry: the node’s signed image still starts',
    async run(c) {
      const repo = REPO.retagKept;
      const signed = await c.moveTag(repo, 'signed', 'v1');
      await c.pull(c.image(repo, 'v1'));
      const unsigned = await c.moveTag(repo, 'unsigned', 'v1');
      const d = expectRan(
        await c.runPod({ name: 'retag-kept', image: c.image(repo, 'v1'), pullPolicy: 'IfNotPresent' }),
        'ALLOWED',
        'retag-kept-signed',
      );
      check(d.digest === signed, `verified ${d.digest}, not the node's ${signed}`);
      return `ran the node's ${short(signed)} (registry :v1 is now unsigned ${short(unsigned)}) (${hookNote(d)})`;
    },
  },
  {
    id: 'retag-unsigned-cached',
    expect: 'refused',
    code: 'NO_SIGNATURE',
    title: 'unsigned content pulled under :v1, then :v1 moved to signed content in the registry: the node’s unsigned image is refused',
    async run(c) {
      const repo = REPO.retagCaught;
      const unsigned = await c.moveTag(repo, 'unsigned', 'v1');
      await c.pull(c.image(repo, 'v1'));
      const signed = await c.moveTag(repo, 'signed', 'v1');
      const d = expectRefused(
        await c.runPod({ name: 'retag-caught', image: c.image(repo, 'v1'), pullPolicy: 'IfNotPresent' }),
        'NO_SIGNATURE',
      );
      check(d.digest === unsigned, `judged ${d.digest}, not the node's ${unsigned}`);
      return `refused the node's ${short(unsigned)} [${d.code}] (registry :v1 is now signed ${short(signed)}) (${hookNote(d)})`;
    },
  },
  {
    id: 'registry-down',
    expect: 'refused',
    code: 'REGISTRY_UNREACHABLE',
    title: 'a signed image never verified before, registry stopped: refused within the hook deadline',
    async run(c) {
      const tag = `t${Date.now()}`;
      await c.pushSigned(REPO.down, tag, `down ${c.label} ${tag}`);
      const image = c.image(REPO.down, tag);
      await c.pull(image);
      await c.registryDown();
      let r: PodResult;
      const t0 = Date.now();
      try {
        r = await c.runPod({ name: 'down', image, pullPolicy: 'IfNotPresent' });
      } finally {
        await c.registryUp();
      }
      const elapsed = r.startMs ?? Date.now() - t0;
      // REGISTRY_UNREACHABLE, not DEADLINE_EXCEEDED: the hook gave up on the stopped registry before its deadline
      const d = expectRefused(r, 'REGISTRY_UNREACHABLE');
      return `refused [${d.code}] in ${d.durationMs} ms (deadline ${c.hookDeadlineSeconds} s; ${r.startMs !== undefined ? 'StartContainer' : 'pod'} ${elapsed} ms): ${d.reason}`;
    },
  },
  {
    id: 'registry-slow-stale',
    expect: 'runs',
    code: 'ALLOWED',
    title:
      'a signed image verified earlier, its verdict aged past the TTL, then the registry slower than the hook deadline: allowed by stale-if-error',
    async run(c) {
      const tag = `t${Date.now()}`;
      const marker = `slow ${c.label} ${tag}`;
      const digest = await c.pushSigned(REPO.slow, tag, marker);
      const image = c.image(REPO.slow, tag);
      const verified = expectRan(await c.runPod({ name: 'slow-verified', image }), 'ALLOWED', marker);
      check(
        verified.cache === 'miss' && verified.digest === digest,
        `expected a fresh verification of ${digest}: ${JSON.stringify(verified)}`,
      );
      await c.ageCache(STALE_AGE_MS);
      const d = expectRan(await runWhileSlow(c, { name: 'slow-stale', image, pullPolicy: 'IfNotPresent' }), 'ALLOWED', marker);
      check(d.cache === 'stale', `expected the stale verdict (cache "stale"), got cache ${d.cache}: ${d.reason}`);
      check(d.digest === digest, `allowed ${d.digest}, not ${digest}`);
      // the verification was cut off by the deadline (not refused, not unreachable), and the stale allow stood in
      check(/deadline exceeded|took longer than/.test(d.reason), `expected the deadline in the reason: ${d.reason}`);
      check(d.reason.endsWith('(stale-if-error)'), `expected stale-if-error in the reason: ${d.reason}`);
      return `ran on the verdict aged ${STALE_AGE_MS / 3_600_000} h: ${d.reason} (${hookNote(d)})`;
    },
  },
  {
    id: 'registry-slow-uncached',
    expect: 'refused',
    code: 'DEADLINE_EXCEEDED',
    title:
      'a signed image never verified, the registry slower than the hook deadline and the runtime’s hook timeout: refused by the hook’s own deadline',
    async run(c) {
      const tag = `t${Date.now()}`;
      await c.pushSigned(REPO.slow, tag, `slow ${c.label} ${tag}`);
      const image = c.image(REPO.slow, tag);
      await c.pull(image);
      const r = await runWhileSlow(c, { name: 'slow-uncached', image, pullPolicy: 'IfNotPresent' });
      // the registry holds each request past the runtime's hook timeout: a hook that waited for it
      // would be killed by the runtime, with the runtime's error and no decision-log line, instead
      // of sigguard's own refusal
      const d = expectRefused(r, 'DEADLINE_EXCEEDED');
      check(d.cache !== 'stale', `a stale verdict was served for an image never verified: ${JSON.stringify(d)}`);
      return `${refusedDetail(d)}; registry held each request ${slowRegistryMs(c) / 1000} s`;
    },
  },
  {
    id: 'containerd-restart',
    expect: 'refused',
    code: 'NO_SIGNATURE',
    title: 'containerd restarted mid-run: the running pod keeps running, the unsigned image is still refused, the signed one still runs',
    async run(c) {
      const before = await c.runPod({ name: 'before-restart', image: c.image(REPO.signed), longRunning: true });
      expectRan(before, 'ALLOWED');
      await c.restartRuntime();
      check(await c.isRunning(before), 'the pod started before the restart is no longer running');
      const d = expectRefused(await c.runPod({ name: 'after-restart', image: c.image(REPO.unsigned) }), 'NO_SIGNATURE');
      expectRan(await c.runPod({ name: 'after-restart-signed', image: c.image(REPO.signed) }), 'ALLOWED', 'signed');
      return `pod from before the restart still running; after it unsigned refused [${d.code}] (${hookNote(d)}), signed ran`;
    },
  },
  ...PROVENANCE_CASES,
];
