/**
 * `sigguard agent`: what the DaemonSet runs on every node (README, "Deploying on a cluster").
 *
 *   1. the executable to its host path; the mounted documents to /etc/sigguard (config-sync.ts);
 *   2. once a valid policy is in force: the hook into every containerd handler (install-node's code),
 *      containerd restarted by the named mechanism only if a file changed (restart.ts), then checked:
 *      the CRI answers and every handler has the hook;
 *   3. then, until stopped: the documents every --sync-interval (a change validated, swapped in or
 *      refused), the handlers every --check-interval and after each applied change, the decision log
 *      followed for /metrics (and rotated by size).
 *
 * Nothing the agent does on stopping, crashing or being deleted takes the hook or the policy away:
 * it has no exit handler that touches the node. Only `--uninstall` (a separate manifest) does.
 */
import { DEFAULT_PATHS } from '../defaults.js';
import { existsSync, lstatSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type SyncResult, currentGeneration, syncConfig, unsyncConfig, validateGeneration } from './config-sync.js';
import { DecisionLogFollower } from './decision-follow.js';
import { AgentMetrics } from './metrics.js';
import { NODE as CRIO_NODE } from '../crio/layout.js';
import { checkCrio, installCrio, uninstallCrio } from './crio.js';
import {
  type NodeOptions,
  UNINSTALL_PENDING,
  agentHookEntry,
  checkHandlers,
  installBinary,
  installHook,
  installedHook,
  removeBinary,
  uninstallHook,
} from './node.js';
import { type RestartMechanism, describeRestart, restartRuntime, waitForCri } from './restart.js';
import { hostProblems, runtimeRoot } from './host-libc.js';
import { type AgentServer, startServer } from './server.js';
import { type KubeAccess, type TaintSpec, removeTaint } from './taint.js';
import { trustUpdate } from '../trust/update.js';
import { AGENT_STATE_DIR, outsideStateDir } from './state-dir.js';
import { CACHE_DEFAULTS } from '../cache/verdict-cache.js';
import { primeHookDocuments } from './prime-documents.js';
import { type VerifyServer, startVerifyServer } from './verify-server.js';

/** The first retry after a failed runtime restart, doubling to the cap. */
const RESTART_BACKOFF_MS = 5000;
const RESTART_BACKOFF_MAX_MS = 300_000;
/** In `etc` while the runtime has not been restarted to read files the agent wrote (markRestartPending). */
export const RESTART_PENDING = 'agent-restart-pending.json';

export interface AgentOptions extends NodeOptions {
  /** containerd (base specs, install-node's code) or crio (hooks.d and crio-policy's files, src/agent/crio.ts). */
  runtime?: 'containerd' | 'crio';
  /** CRI-O: the node's root as seen here, its crio.conf (which crio process to signal), containers/image's version. */
  crio?: { root: string; config: string; containersImageVersion?: string };
  socket: string;
  sources: string[];
  namespace: string;
  restart: RestartMechanism;
  restartTimeoutMs: number;
  syncIntervalMs: number;
  checkIntervalMs: number;
  followIntervalMs: number;
  logMaxBytes: number;
  logKeep: number;
  /** host:port or :port; undefined: no HTTP server. */
  listen: string | undefined;
  once: boolean;
  /**
   * The runtime's root as the agent sees it, where the hook will be executed (its loader and libraries
   * checked before the executable goes in: host-libc.ts). Default: the root of the runtime process
   * (/proc/PID/root, found as --restart signal finds it), else PID 1's.
   */
  hostRoot?: string;
  /** The agent's state folder on the host (default /var/lib/sigguard): a path from the synced documents names files under it only. */
  stateDir?: string;
  /** Where the hook keeps its validated configuration (default /var/lib/sigguard/cache, as the hook's): tests only. */
  hookCacheDir?: string;
  /** Once ready, the registration taint removed from this node through the API server (taint.ts); undefined: left to the operator. */
  removeTaint?: { taint: TaintSpec; access: () => KubeAccess };
  /** `sigguard trust update` every intervalMs, off the hook's path (README "Keeping trust material current"); undefined: never. */
  trust?: { intervalMs: number; out?: string; mirror?: string; from?: string; root?: string };
}

export interface AgentState {
  policyValid: boolean;
  hookInstalled: boolean;
  /** The runtime must be restarted and was not (restart `none`, or a failed restart). */
  restartPending: boolean;
  lastRefused: string | undefined;
}

export class Agent {
  readonly metrics = new AgentMetrics();
  readonly state: AgentState = { policyValid: false, hookInstalled: false, restartPending: false, lastRefused: undefined };
  private readonly follower: DecisionLogFollower;
  private timers: NodeJS.Timeout[] = [];
  private server: AgentServer | undefined;
  private hookServer: VerifyServer | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  /** The mechanism restarted the runtime; its CRI has not answered yet. */
  private restarted = false;
  /** Failed restarts in a row; none is tried before nextRestartAt (backoff), a timer retries then. */
  private restartFailures = 0;
  private nextRestartAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** The registration taint: removed (or found gone) once; failures retried with the same backoff. */
  private taintDone = false;
  private taintBusy = false;
  private taintFailures = 0;
  private nextTaintAt = 0;

  constructor(
    readonly o: AgentOptions,
    readonly log: Logger,
  ) {
    this.follower = new DecisionLogFollower(o.log, (line) => this.metrics.countLine(line), { maxBytes: o.logMaxBytes, keep: o.logKeep });
  }

  /** The kept public-good root the configuration in force names (`trust.publicGood`); undefined when it cannot be read. */
  private async publicGoodPath(): Promise<string | undefined> {
    const { loadConfig } = await import('../config/load.js');
    try {
      return (await loadConfig(undefined, join(this.o.etc, 'config.yaml'))).trust.publicGood;
    } catch {
      return undefined;
    }
  }

  /** The kept public-good root the configuration in force names (`trust.publicGood`), for its age on /metrics. */
  private async watchKeptRoot(): Promise<void> {
    const { readKeptRoot } = await import('../policy/kept-root.js');
    const path = await this.publicGoodPath();
    if (path === undefined) return;
    this.metrics.keptRootFetchedAt = () => {
      const r = readKeptRoot(path);
      return r.state === 'ok' ? Date.parse(r.root.fetchedAt) : undefined;
    };
  }

  get ready(): boolean {
    return this.state.policyValid && this.state.hookInstalled && !this.state.restartPending;
  }

  /** One step at a time: a sync, a check and an install never run side by side. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.busy.then(step, step);
    this.busy = next.catch(() => undefined);
    return next;
  }

  /**
   * The hook's documents validated now, where the hook looks for them (prime-documents.ts): the
   * first hook start after this policy or this version finds them validated (issue 15).
   */
  private async primeDocuments(): Promise<void> {
    const r = await primeHookDocuments({
      policyFile: join(this.o.etc, 'policy.yaml'),
      configFile: join(this.o.etc, 'config.yaml'),
      defaultCacheDir: this.o.hookCacheDir ?? CACHE_DEFAULTS.dir,
    });
    if (r !== true) this.log.warn({ err: r.message }, 'the hook will validate the documents itself: they did not load for its cache');
  }

  /** The documents: applied, refused (the previous stay), or unchanged. */
  async sync(): Promise<SyncResult | undefined> {
    const o = this.o;
    if (o.sources.length === 0) {
      // no mounted documents: /etc/sigguard as the node has it, validated in place
      if (this.state.policyValid) return undefined;
      try {
        const sha = await validateGeneration(o.etc, o.etc, o.namespace);
        this.state.policyValid = true;
        this.metrics.setPolicy(sha, statSync(join(o.etc, 'policy.yaml')).mtimeMs);
        await this.watchKeptRoot();
        await this.primeDocuments();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'the node has no valid policy: the hook is not installed');
      }
      return undefined;
    }
    const r = await syncConfig({ sources: o.sources, etc: o.etc, namespace: o.namespace }, this.state.lastRefused);
    if (r.result === 'applied') {
      this.state.lastRefused = undefined;
      this.state.policyValid = true;
      this.metrics.policySync.inc({ result: 'applied' });
      this.metrics.setPolicy(r.policySha256, Date.now());
      await this.watchKeptRoot();
      await this.primeDocuments();
      this.log.info({ set: r.sha256, policySha256: r.policySha256, files: r.files }, 'policy documents applied');
    } else if (r.result === 'refused') {
      this.state.lastRefused = r.sha256;
      this.metrics.policySync.inc({ result: 'refused' });
      this.log.error(
        { set: r.sha256, err: r.error, inForce: currentGeneration(o.etc) ?? null },
        'policy documents refused: the previous stay in force',
      );
    }
    if (!this.state.policyValid && currentGeneration(o.etc) !== undefined) {
      // the agent restarted (perhaps with a ConfigMap it refuses): the generation in force still holds
      try {
        const sha = await validateGeneration(o.etc, o.etc, o.namespace);
        this.state.policyValid = true;
        this.metrics.setPolicy(sha, statSync(join(o.etc, '..data')).mtimeMs);
        await this.watchKeptRoot();
        await this.primeDocuments();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'the policy in force does not validate');
      }
    }
    return r;
  }

  /**
   * The mechanism, for a `fresh` change or one not yet restarted for; when the last run of the mechanism
   * did restart the runtime and only its CRI answered late, that CRI is waited for (restarting it again
   * at every check would keep a slow runtime from ever answering).
   */
  private async restart(fresh: boolean, r: Omit<Parameters<typeof restartRuntime>[1], 'stopped'>): Promise<boolean> {
    if (fresh) this.restarted = false;
    if (this.restarted) await waitForCri(r.socket, r.timeoutMs);
    else if (!(await restartRuntime(this.o.restart, { ...r, stopped: () => (this.restarted = true) }))) return false;
    this.restarted = false;
    return true;
  }

  /**
   * restart(), with backoff after a failure (5 s, doubling up to 5 min): a refused or failed restart is
   * logged, counted (sigguard_runtime_restart_failures_total) and retried by a timer; the hook files
   * stay written meanwhile. undefined: deferred (backing off).
   */
  private async restartWithBackoff(fresh: boolean, r: Parameters<Agent['restart']>[1]): Promise<boolean | undefined> {
    const wait = this.nextRestartAt - Date.now();
    // only a new restart waits out the backoff; a runtime restarted and slow to answer is waited for at once
    if (wait > 0 && !(this.restarted && !fresh)) {
      if (fresh) this.restarted = false; // new files: the retry restarts, not just waits for the CRI
      this.log.warn(
        { retryInS: Math.ceil(wait / 1000), failures: this.restartFailures },
        'runtime restart deferred: backing off after a failure',
      );
      return undefined;
    }
    try {
      const done = await this.restart(fresh, r);
      this.restartFailures = 0;
      this.nextRestartAt = 0;
      return done;
    } catch (err) {
      this.restartFailures++;
      const delay = Math.min(RESTART_BACKOFF_MS * 2 ** (this.restartFailures - 1), RESTART_BACKOFF_MAX_MS);
      this.nextRestartAt = Date.now() + delay;
      this.metrics.restartFailures.inc({ mechanism: this.o.restart.kind });
      this.log.error(
        { err: (err as Error).message, failures: this.restartFailures, retryInS: delay / 1000, mechanism: describeRestart(this.o.restart) },
        'runtime restart failed: the hook files stay written; retried with backoff',
      );
      if (!this.o.once && !this.stopping) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.serial(() => this.check()).catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'restart retry failed'));
        }, delay).unref();
      }
      throw err;
    }
  }

  /**
   * The runtime must read files the agent wrote: said in `etc` (RESTART_PENDING) before they are
   * written and taken back after the restart, so an agent killed in between (a rolling update, a
   * liveness kill during a long restart) leaves the next one owing that restart: it restarts the
   * runtime before it calls itself ready (and before --remove-taint lets pods onto the node).
   */
  private markRestartPending(): void {
    const marker = join(this.o.etc, RESTART_PENDING);
    if (existsSync(marker)) return;
    mkdirSync(this.o.etc, { recursive: true, mode: 0o755 });
    writeFileSync(marker, `${JSON.stringify({ since: new Date().toISOString() })}\n`, { mode: 0o600 });
  }

  /** A restart an earlier run owed (its marker): pending here too. */
  private owedRestart(): void {
    if (!this.state.restartPending && existsSync(join(this.o.etc, RESTART_PENDING))) {
      this.log.warn(
        { marker: join(this.o.etc, RESTART_PENDING) },
        'an earlier run wrote runtime files and stopped before the restart: restarting',
      );
      this.state.restartPending = true;
    }
  }

  /** The executable and the hook in every handler; containerd restarted only if a file changed; then verified. */
  async install(): Promise<void> {
    const o = this.o;
    if (!this.state.policyValid) return; // never a hook without a valid policy: it would refuse every container
    // never an executable the host cannot run (every container start would fail), nor one over the
    // running one (an upgrade): checked before anything is copied
    let root = '(unknown)';
    let problems: string[];
    try {
      root = this.hostRoot();
      problems = hostProblems(o.binary, root);
    } catch (err) {
      problems = [(err as Error).message];
    }
    if (problems.length > 0) {
      this.state.hookInstalled = false;
      this.metrics.ready.set(0);
      throw new Error(`${o.binary} would not run on this host (its root as ${root}): ${problems.join('; ')}; neither copied nor hooked in`);
    }
    if (installBinary(o)) this.log.info({ path: o.installPath }, 'sigguard executable installed');
    if (o.runtime === 'crio') return this.installOnCrio();
    const before = checkHandlers(o);
    this.owedRestart();
    if (before.unguarded.length > 0 || before.stale) this.markRestartPending(); // before the write: a crash after it still owes the restart
    const { written, handlers } = installHook(o, (m) => this.log.warn(m));
    if (written.length > 0) this.markRestartPending();
    else if (!this.state.restartPending) rmSync(join(o.etc, RESTART_PENDING), { force: true });
    if (written.length > 0 || this.state.restartPending) {
      this.log.info({ written, handlers, unguardedBefore: before.unguarded }, 'hook put into the base specs');
      this.state.restartPending = true;
      const restarted = await this.restartWithBackoff(written.length > 0, {
        containerdConfig: o.containerdConfig,
        socket: o.socket,
        timeoutMs: o.restartTimeoutMs,
      });
      if (restarted) {
        this.metrics.installs.inc();
        this.state.restartPending = false;
        rmSync(join(o.etc, RESTART_PENDING), { force: true });
        this.log.info({ mechanism: describeRestart(o.restart) }, 'containerd restarted and answering');
      } else if (restarted === false) {
        this.log.warn({ mechanism: 'none' }, 'containerd must be restarted to read the new base specs (--restart none)');
      }
    }
    const after = checkHandlers(o);
    this.metrics.unguarded.set(after.unguarded.length);
    this.state.hookInstalled = after.unguarded.length === 0;
    if (after.unguarded.length > 0 || after.stale) {
      this.log.error({ unguarded: after.unguarded, stale: after.stale }, 'runtime handlers without the hook after install');
    }
    this.metrics.ready.set(this.ready ? 1 : 0);
  }

  /** See AgentOptions.hostRoot. */
  private hostRoot(): string {
    if (this.o.hostRoot !== undefined) return this.o.hostRoot;
    const crio = this.o.runtime === 'crio';
    return runtimeRoot(crio ? (this.o.crio?.config ?? '/etc/crio/crio.conf') : this.o.containerdConfig, crio ? 'crio' : 'containerd');
  }

  private crioOptions() {
    return {
      root: this.o.crio?.root ?? '/',
      etc: this.o.etc,
      entry: agentHookEntry(this.o),
      containersImageVersion: this.o.crio?.containersImageVersion,
    };
  }

  /** CRI-O: hooks.d and crio-policy's files for the policy in force; CRI-O reloaded (the mechanism) only for its crio.conf.d drop-in. */
  private async installOnCrio(): Promise<void> {
    const o = this.o;
    this.owedRestart();
    // before the write, as for containerd's base specs: an agent killed after it still owes the reload
    if (checkCrio(this.crioOptions()).includes(CRIO_NODE.crioConf)) this.markRestartPending();
    const written = installCrio(this.crioOptions());
    if (written.includes(CRIO_NODE.crioConf)) this.markRestartPending();
    if (written.length > 0) this.log.info({ written }, 'CRI-O files for the policy in force written');
    if (written.includes(CRIO_NODE.crioConf) || this.state.restartPending) {
      this.state.restartPending = true;
      const restarted = await this.restartWithBackoff(written.includes(CRIO_NODE.crioConf), {
        containerdConfig: o.crio?.config ?? '/etc/crio/crio.conf',
        socket: o.socket,
        timeoutMs: o.restartTimeoutMs,
        daemon: 'crio',
      });
      if (restarted) {
        this.metrics.installs.inc();
        this.state.restartPending = false;
        rmSync(join(o.etc, RESTART_PENDING), { force: true });
        this.log.info({ mechanism: describeRestart(o.restart) }, 'CRI-O restarted (or reloaded) and answering');
      } else if (restarted === false) {
        this.log.warn({ mechanism: 'none' }, 'CRI-O must be restarted to read its crio.conf.d drop-in (--restart none)');
      }
    }
    const drift = checkCrio(this.crioOptions());
    this.metrics.unguarded.set(drift.includes(CRIO_NODE.hooksD) ? 1 : 0);
    this.state.hookInstalled = drift.length === 0;
    if (drift.length > 0) this.log.error({ drift }, 'CRI-O files differ from the policy in force after install');
    this.metrics.ready.set(this.ready ? 1 : 0);
  }

  /** The periodic re-check: a handler added since (a GPU toolkit, a sandboxed runtime) gets the hook. */
  async check(): Promise<void> {
    if (this.o.runtime === 'crio') {
      if (!this.state.policyValid) return;
      const drift = checkCrio(this.crioOptions());
      this.metrics.unguarded.set(drift.includes(CRIO_NODE.hooksD) ? 1 : 0);
      if (drift.length > 0 || this.state.restartPending || !this.state.hookInstalled) {
        if (drift.length > 0) this.log.warn({ drift }, 'CRI-O files differ from the policy in force: writing them');
        await this.install();
      }
      return;
    }
    const r = checkHandlers(this.o);
    this.metrics.unguarded.set(r.unguarded.length);
    if (r.unguarded.length > 0 || r.stale || this.state.restartPending || !this.state.hookInstalled) {
      if (r.unguarded.length > 0) this.log.warn({ unguarded: r.unguarded }, 'unguarded runtime handlers: installing the hook');
      await this.install();
    }
  }

  /** Startup: documents, install, verify. */
  async start(): Promise<void> {
    this.log.info(
      { containerdConfig: this.o.containerdConfig, etc: this.o.etc, sources: this.o.sources, restart: describeRestart(this.o.restart) },
      'sigguard agent starting',
    );
    if (this.o.listen !== undefined) this.server = await startServer(this.o.listen, this, this.log);
    // before the hook entry that names it goes in: a hook that finds no socket decides itself anyway
    if (this.o.hookSocket && !this.o.once) {
      try {
        this.hookServer = await startVerifyServer(
          { socket: this.o.hookSocket, config: join(this.o.etc, 'config.yaml'), policy: join(this.o.etc, 'policy.yaml') },
          this.log,
        );
      } catch (err) {
        this.log.error(
          { err: (err as Error).message, socket: this.o.hookSocket },
          'hook socket not served: hooks decide in their own process',
        );
      }
    }
    for (const step of [(): Promise<unknown> => this.sync(), (): Promise<unknown> => this.install()]) {
      try {
        await this.serial(step);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'startup step failed: retried at the next handler check');
      }
    }
    this.follower.poll();
    this.log.info({ ready: this.ready }, this.ready ? 'hook installed, policy valid: ready' : 'not ready');
    await this.removeTaintIfReady();
  }

  /**
   * Once ready (hook in every handler, runtime answering, policy valid): the registration taint off
   * this node, once. A failure (API server down, RBAC or the admission policy refusing) is logged,
   * counted and retried with backoff (5 s doubling to 5 min) from the sync loop.
   */
  async removeTaintIfReady(): Promise<void> {
    const t = this.o.removeTaint;
    if (t === undefined || this.taintDone || this.taintBusy || !this.ready || Date.now() < this.nextTaintAt) return;
    this.taintBusy = true;
    let node: string | undefined;
    try {
      // the pod's environment read here, not at start: a missing token or NODE_NAME must not keep the hook off the node
      const access = t.access();
      node = access.nodeName;
      const result = await removeTaint(access, t.taint, { probe: true }); // never with a token no admission policy narrows
      this.taintDone = true;
      this.metrics.taintRemovals.inc({ result });
      this.log.info(
        { taint: t.taint.key, node, result },
        result === 'removed' ? 'registration taint removed: pods may be scheduled on this node' : 'registration taint already gone',
      );
    } catch (err) {
      this.taintFailures++;
      const delay = Math.min(RESTART_BACKOFF_MS * 2 ** (this.taintFailures - 1), RESTART_BACKOFF_MAX_MS);
      this.nextTaintAt = Date.now() + delay;
      this.metrics.taintRemovals.inc({ result: 'failed' });
      this.log.error(
        { taint: t.taint.key, node: node ?? null, err: (err as Error).message, retryInS: delay / 1000 },
        'registration taint not removed: retried with backoff',
      );
    } finally {
      this.taintBusy = false;
    }
  }

  /** The trust material kept current: a failure is logged, and the kept root (or the built-in one) stays in force. */
  async refreshTrust(): Promise<void> {
    const t = this.o.trust;
    if (t === undefined) return;
    try {
      // where the hook reads it: the configuration in force's trust.publicGood unless told otherwise;
      // a path from the ConfigMap names a file under the state folder only (--trust-out is the operator's)
      const out = t.out ?? (await this.publicGoodPath()) ?? DEFAULT_PATHS.trustPublicGood;
      const outside = t.out === undefined ? outsideStateDir(out, this.o.stateDir ?? AGENT_STATE_DIR) : undefined;
      if (outside !== undefined) throw new Error(`trust.publicGood: ${outside}: not written`);
      // a file there without the TUF state of a kept root is someone else's (a ConfigMap naming the
      // hook's executable or containerd's config would have every node's overwritten): left alone
      const { tufStatePath } = await import('../policy/kept-root.js');
      if (lstatSync(out, { throwIfNoEntry: false }) !== undefined && !existsSync(tufStatePath(out)))
        throw new Error(`${out} holds no kept trusted root (no ${tufStatePath(out)} beside it): not overwritten`);
      const r = await trustUpdate({
        mirror: t.mirror,
        from: t.from,
        root: t.root,
        target: 'trusted_root.json',
        out,
        timeoutMs: 60_000,
      });
      this.log.info({ out: r.out, source: r.source, rootVersion: r.rootVersion, targetsVersion: r.targetsVersion }, `trust ${r.status}`);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'trust update failed: the trust material in force stays');
    }
  }

  /** The loops; resolves when stop() is called. */
  loop(): void {
    const every = (ms: number, what: string, step: () => unknown) => {
      const t = setInterval(() => {
        Promise.resolve()
          .then(step)
          .catch((err: unknown) => this.log.error({ err: (err as Error).message }, `${what} failed`));
      }, ms);
      this.timers.push(t);
    };
    every(this.o.syncIntervalMs, 'sync', () =>
      this.serial(async () => {
        const r = await this.sync();
        if (r?.result === 'applied') await this.check(); // and after every configuration change
      }).then(() => this.removeTaintIfReady()),
    );
    every(this.o.checkIntervalMs, 'handler check', () => this.serial(() => this.check()));
    every(this.o.followIntervalMs, 'decision log', () => this.follower.poll());
    if (this.o.trust !== undefined) {
      void this.refreshTrust();
      every(this.o.trust.intervalMs, 'trust update', () => this.refreshTrust());
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.follower.close();
    await this.server?.close();
    await this.hookServer?.close();
  }

  /** sigguard agent --uninstall: the hook out (restart), then the executable and the documents; false while containerd still awaits its restart. */
  async uninstall(): Promise<boolean> {
    const o = this.o;
    if (o.runtime === 'crio') {
      const restored = uninstallCrio({ root: o.crio?.root ?? '/', etc: o.etc });
      if (restored.includes(CRIO_NODE.crioConf)) {
        await restartRuntime(o.restart, {
          containerdConfig: o.crio?.config ?? '/etc/crio/crio.conf',
          socket: o.socket,
          timeoutMs: o.restartTimeoutMs,
          daemon: 'crio',
        });
      }
      this.log.info({ restored }, 'CRI-O files as before the agent');
    }
    // containerd runs the hook from the base specs it read at its start until restarted: the
    // executable and the policy stay until then, across a failed restart and the pod's retry
    const pending = join(o.etc, UNINSTALL_PENDING);
    if (o.runtime !== 'crio' && installedHook(o)) {
      mkdirSync(o.etc, { recursive: true, mode: 0o755 });
      writeFileSync(pending, `${JSON.stringify({ containerdConfig: o.containerdConfig })}\n`, { mode: 0o600 });
    }
    if (o.runtime !== 'crio' && uninstallHook(o, (m) => this.log.warn(m))) this.log.info('hook removed from the base specs');
    if (existsSync(pending)) {
      const restarted = await restartRuntime(o.restart, {
        containerdConfig: o.containerdConfig,
        socket: o.socket,
        timeoutMs: o.restartTimeoutMs,
      });
      if (!restarted) {
        this.log.error(
          { pending },
          'containerd still runs the hook until it is restarted: the executable and the policy stay; restart containerd, then run --uninstall again with a restart mechanism (or remove the file named)',
        );
        return false;
      }
      rmSync(pending, { force: true });
      this.log.info({ mechanism: describeRestart(o.restart) }, 'containerd restarted without the hook');
    }
    rmSync(join(o.etc, RESTART_PENDING), { force: true }); // the hook is out and containerd restarted: no restart owed
    removeBinary(o.etc);
    const restored = unsyncConfig(o.etc);
    this.log.info({ restored }, 'sigguard removed from the node (decision log and cache stay)');
    return true;
  }
}
