/**
 * The end-to-end cases of sigguard's agent as the DaemonSet runs it (issue 12's proof): the image
 * `make image` builds, run as a privileged pod through CRI with the DaemonSet's host paths, on a node
 * that has no hook yet. One table, run in order on one node per runtime version (e2e/run-local.ts:
 * containerd 1.7 and 2.1 under a supervisor, as systemd keeps it): each case leaves the node as the
 * next one expects it (the agent running, the policy `signed` in force), and brings it there first
 * when run alone (SIGGUARD_E2E_CASES).
 */
import { REPO } from './images.js';
import { series, until } from '../test/support/agent-node.js';
import type { Decision, PodRequest, PodResult } from './cases.js';
import { check, expectRan, expectRefused } from './cases.js';

/** The policy documents the ConfigMap can hold. */
export type AgentPolicy =
  /** the registry needs the trusted key (matchRepository); sigguard-system and kube-system exempt */
  | 'signed'
  /** the registry refused outright (`type: reject`) */
  | 'reject'
  /** not YAML the policy schema takes */
  | 'invalid'
  /** valid, but sigguard-system no longer exempt: the agent must refuse it */
  | 'no-exemption';

export interface AgentNode {
  /** `1.7`, `2.1`. */
  label: string;
  image(repo: string, tag?: string): string;
  runPod(req: PodRequest): Promise<PodResult>;
  /** The ConfigMap's documents replaced, as kubelet updates a ConfigMap volume (one rename of ..data). */
  publish(policy: AgentPolicy): Promise<void>;
  /** The agent's pod started (the DaemonSet's pod); resolves once it serves /readyz 200. */
  startAgent(): Promise<void>;
  /** Is an agent pod running? */
  agentRunning(): boolean;
  /** The agent's container killed (a crash, a deletion, a rolling update): no grace. */
  killAgent(): Promise<void>;
  /** The uninstall manifest's pod (`agent --uninstall`) run to its end; its exit code. */
  uninstall(): Promise<number>;
  /** GET on the agent's endpoint. */
  get(path: string): Promise<{ status: number; text: string }>;
  /** The node's /etc/sigguard/policy.yaml as the hook reads it. */
  policyInForce(): Promise<string>;
  /** The runtime's configuration folder (config.toml, base specs, drop-ins): file -> its content (or digest). */
  runtimeFiles(): Promise<Record<string, string>>;
  /**
   * The runtime's files before the agent ever ran; undefined where the agent was there before the
   * run (Kind, after make install-kind): the uninstall is then checked by no file naming sigguard.
   */
  runtimeFilesBefore: Record<string, string> | undefined;
  /** The runtime's configuration files whose content names `word`. */
  runtimeFilesNaming(word: string): Promise<string[]>;
  /** How often the runtime was started again (by its supervisor, or systemd) since the run began. */
  runtimeRestarts(): Promise<number>;
  /** The hook's executable on the host: exists? */
  hookExecutableInstalled(): Promise<boolean>;
  /** The node's /etc/sigguard entries. */
  etcEntries(): Promise<string[]>;
  decisions(): Promise<Decision[]>;
  /** `promtool check metrics` on the text: its complaints ('' when none). */
  lintMetrics(text: string): Promise<string>;
  /** What the node looked like after the agent's first install (set by daemonset-install). */
  installed?: Record<string, string>;
}

export interface AgentCase {
  id: string;
  title: string;
  run(n: AgentNode): Promise<string>;
}

const metrics = async (n: AgentNode) => (await n.get('/metrics')).text;
const same = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(a) === JSON.stringify(b);
function changed(a: Record<string, string>, b: Record<string, string>): string {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);
  return names.join(', ') || '(none)';
}

/** The node as the cases after the first expect it: agent running and ready, policy `signed` in force. */
async function ensureAgent(n: AgentNode): Promise<void> {
  if (n.installed === undefined) await install(n);
  if (!n.agentRunning()) await n.startAgent();
}

async function install(n: AgentNode): Promise<string> {
  await n.publish('signed');
  check(!(await n.hookExecutableInstalled()), 'the hook executable is on the node before the agent ran');
  const restarts = await n.runtimeRestarts();
  const t0 = Date.now();
  await n.startAgent();
  const took = Date.now() - t0;
  check((await n.runtimeRestarts()) === restarts + 1, `expected one runtime restart, saw ${(await n.runtimeRestarts()) - restarts}`);
  check(await n.hookExecutableInstalled(), 'no hook executable on the host after the install');
  const files = await n.runtimeFiles();
  const before = n.runtimeFilesBefore ?? {};
  check(!same(files, before), 'the runtime files did not change: no hook');
  n.installed = files;
  const signed = expectRan(await n.runPod({ name: 'ds-signed', image: n.image(REPO.signed) }), 'ALLOWED', 'signed');
  const refused = expectRefused(await n.runPod({ name: 'ds-unsigned', image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
  return `agent pod ready in ${(took / 1000).toFixed(1)} s, runtime restarted once (${changed(before, files)} changed); signed ran (${signed.durationMs} ms), unsigned refused [${refused.code}]`;
}

export const AGENT_CASES: AgentCase[] = [
  {
    id: 'daemonset-install',
    title:
      'the image as the DaemonSet runs it (a privileged pod through CRI, the host paths deploy/ mounts): the node gets the hook, a signed pod runs, an unsigned one is refused',
    async run(n) {
      if (n.installed === undefined) return install(n);
      // installed before this run (Kind: make install-kind): the pod ready, the hook deciding
      if (!n.agentRunning()) await n.startAgent();
      check((await n.get('/readyz')).status === 200, 'the agent pod is not ready');
      check(await n.hookExecutableInstalled(), 'no hook executable on the host');
      expectRan(await n.runPod({ name: 'ds-signed', image: n.image(REPO.signed) }), 'ALLOWED', 'signed');
      const refused = expectRefused(await n.runPod({ name: 'ds-unsigned', image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
      return `installed before this run: the agent pod ready, signed ran, unsigned refused [${refused.code}]`;
    },
  },
  {
    id: 'agent-policy-change',
    title: 'a changed policy in the ConfigMap takes effect within 10 s',
    async run(n) {
      await ensureAgent(n);
      const t0 = Date.now();
      await n.publish('reject');
      try {
        const took = await until('the new policy in force', 10_000, async () =>
          (await n.policyInForce()).includes('type: reject') ? Date.now() - t0 : undefined,
        );
        const d = expectRefused(await n.runPod({ name: 'policy-changed', image: n.image(REPO.signed) }), 'POLICY_REJECT');
        return `in force after ${took} ms; the signed image then refused [${d.code}]`;
      } finally {
        await n.publish('signed');
        await until('the signed policy back', 10_000, async () =>
          (await n.policyInForce()).includes('sigstoreSigned') ? true : undefined,
        );
      }
    },
  },
  {
    id: 'agent-policy-invalid',
    title: 'an invalid policy, and one that drops the agent’s own exemption: refused, logged, counted; the previous stays in force',
    async run(n) {
      await ensureAgent(n);
      const inForce = await n.policyInForce();
      const refusedBefore = series(await metrics(n), 'sigguard_policy_sync_total{result="refused"}');
      const out: string[] = [];
      try {
        for (const [i, bad] of (['invalid', 'no-exemption'] as const).entries()) {
          await n.publish(bad);
          await until(`the ${bad} policy's refusal counted`, 10_000, async () =>
            series(await metrics(n), 'sigguard_policy_sync_total{result="refused"}') === refusedBefore + i + 1 ? true : undefined,
          );
          check((await n.policyInForce()) === inForce, `the ${bad} policy replaced the one in force`);
          const d = expectRefused(await n.runPod({ name: `after-${bad}`, image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
          out.push(`${bad} refused, unsigned still [${d.code}]`);
        }
      } finally {
        await n.publish('signed');
      }
      return out.join('; ');
    },
  },
  {
    id: 'daemonset-agent-restart',
    title:
      'the agent pod killed and started again: the hook stays throughout (a container started in between is verified), the new pod restarts nothing',
    async run(n) {
      await ensureAgent(n);
      const restarts = await n.runtimeRestarts();
      await n.killAgent();
      check(
        same(await n.runtimeFiles(), n.installed ?? {}),
        `the runtime files changed with the agent's death: ${changed(n.installed ?? {}, await n.runtimeFiles())}`,
      );
      const d = expectRefused(await n.runPod({ name: 'agent-dead-unsigned', image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
      expectRan(await n.runPod({ name: 'agent-dead-signed', image: n.image(REPO.signed) }), 'ALLOWED', 'signed');
      await n.startAgent(); // in sigguard-system: exempt from the hook it installed
      check(same(await n.runtimeFiles(), n.installed ?? {}), 'the new agent pod changed the runtime files');
      check(
        (await n.runtimeRestarts()) === restarts,
        `the new agent pod restarted the runtime (${(await n.runtimeRestarts()) - restarts} times)`,
      );
      check(series(await metrics(n), 'sigguard_runtime_restarts_total') === 0, 'the new agent counts a runtime restart');
      expectRefused(await n.runPod({ name: 'agent-back-unsigned', image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
      return `while no agent ran: unsigned refused [${d.code}], signed ran; the new pod ready without a runtime restart`;
    },
  },
  {
    id: 'agent-metrics',
    title: '/metrics after a known series of decisions counts exactly those, and promtool accepts it',
    async run(n) {
      await ensureAgent(n);
      const key = (decision: string, code: string) => `sigguard_decisions_total{decision="${decision}",code="${code}",enforced="true"}`;
      const settled = async () => {
        // the agent follows the decision log every second
        const want = (await n.decisions()).length;
        return until('the decision log followed', 10_000, async () => {
          const text = await metrics(n);
          return series(text, 'sigguard_hook_duration_seconds_count') === want ? text : undefined;
        });
      };
      const before = await settled();
      const series0 = {
        allowed: series(before, key('allow', 'ALLOWED')),
        unsigned: series(before, key('deny', 'NO_SIGNATURE')),
        exempt: series(before, key('allow', 'EXEMPT_NAMESPACE')),
      };
      for (let i = 0; i < 2; i++) expectRan(await n.runPod({ name: 'm-signed', image: n.image(REPO.signed) }), 'ALLOWED', 'signed');
      for (let i = 0; i < 3; i++) expectRefused(await n.runPod({ name: 'm-unsigned', image: n.image(REPO.unsigned) }), 'NO_SIGNATURE');
      expectRan(await n.runPod({ name: 'm-exempt', namespace: 'kube-system', image: n.image(REPO.unsigned) }), 'EXEMPT_NAMESPACE');
      const after = await settled();
      const delta = {
        allowed: series(after, key('allow', 'ALLOWED')) - series0.allowed,
        unsigned: series(after, key('deny', 'NO_SIGNATURE')) - series0.unsigned,
        exempt: series(after, key('allow', 'EXEMPT_NAMESPACE')) - series0.exempt,
      };
      check(
        delta.allowed === 2 && delta.unsigned === 3 && delta.exempt === 1,
        `expected +2 ALLOWED, +3 NO_SIGNATURE, +1 EXEMPT_NAMESPACE, got ${JSON.stringify(delta)}`,
      );
      // and every line of the log, counted once
      const counts = new Map<string, number>();
      for (const d of await n.decisions()) counts.set(key(d.decision, d.code), (counts.get(key(d.decision, d.code)) ?? 0) + 1);
      for (const [k, v] of counts) check(series(after, k) === v, `${k}: ${series(after, k)} on /metrics, ${v} in the log`);
      const lint = await n.lintMetrics(after);
      check(lint === '', `promtool check metrics: ${lint}`);
      return `+2 ALLOWED, +3 NO_SIGNATURE, +1 EXEMPT_NAMESPACE as run; ${(await n.decisions()).length} log lines all counted; promtool clean`;
    },
  },
  {
    id: 'daemonset-uninstall',
    title: 'the uninstall manifest’s pod (agent --uninstall) puts the node’s runtime files back byte for byte; unsigned images run again',
    async run(n) {
      await ensureAgent(n);
      await n.killAgent(); // the DaemonSet deleted first (README): else it installs again
      const code = await n.uninstall();
      check(code === 0, `the uninstall pod exited ${code}`);
      const files = await n.runtimeFiles();
      if (n.runtimeFilesBefore !== undefined) {
        check(same(files, n.runtimeFilesBefore), `runtime files differ from before the agent: ${changed(n.runtimeFilesBefore, files)}`);
      } else {
        const naming = await n.runtimeFilesNaming('sigguard');
        check(naming.length === 0, `runtime files still naming sigguard: ${naming.join(', ')}`);
      }
      check(!(await n.hookExecutableInstalled()), 'the hook executable is still on the host');
      check((await n.etcEntries()).length === 0, `left in /etc/sigguard: ${(await n.etcEntries()).join(', ')}`);
      n.installed = undefined;
      const r = await until('an unsigned pod runs again', 30_000, async () => {
        const p = await n.runPod({ name: 'uninstalled', image: n.image(REPO.unsigned) });
        return p.ran ? p : undefined;
      });
      check(r.decision === undefined, `a decision was logged after the uninstall: ${JSON.stringify(r.decision)}`);
      const how = n.runtimeFilesBefore !== undefined ? 'as before the agent' : 'naming sigguard nowhere';
      return `runtime files ${how}, executable and documents gone; an unsigned pod runs, no decision logged`;
    },
  },
];
