/**
 * The adversarial suite's world and runner: one lying registry, a trusted and
 * an attacker key, policies and configs written per case, and the built CLI
 * (`bin/sigguard check --json` or `bin/sigguard hook`) run under GNU time for
 * wall time and peak RSS.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FakeCrio } from '../support/fake-crio.js';
import { SIGGUARD } from '../support/paths.js';
import { Key } from './artefacts.js';
import { LyingRegistry } from './lying-registry.js';
import type { RealArtefacts } from './real-cosign.js';
import type { Cert, CertFactory } from './x509.js';

export const GNU_TIME = '/usr/bin/time';

export interface Ctx {
  dir: string;
  reg: LyingRegistry;
  /** 127.0.0.1:PORT of the lying registry. */
  host: string;
  trusted: Key;
  trustedPub: string;
  attacker: Key;
  attackerPub: string;
  /** Keys made by the real cosign (its public key is trusted by the default policy too). */
  cosignPub: string;
  /** The default policy: the lying registry needs the trusted key (or cosign's), matchRepository. */
  policy: string;
  /** The default config: platform linux/amd64, no CRI socket, a private cache folder. */
  config: string;
  /** A fresh repository name per call. */
  repo(name: string): string;
  writePolicy(text: string): string;
  /** A config with a fresh cache folder plus `extra` YAML (top-level keys). */
  writeConfig(extra?: string): string;
  /** Whatever a category prepared in its own setup. */
  shared: Shared;
  /** Servers a case started; stopped after the suite. */
  servers: Array<{ stop(): Promise<void> }>;
}

/** The transparency-log category's set-up. */
export interface Tl {
  rekor: Key;
  policy: string;
  /** fulcio-style: a CA, a policy with the Rekor key, leaves valid ten minutes in 2021 */
  fulcio: { f: CertFactory; sub: ReturnType<CertFactory['issue']>; policy: string };
}

/** The certificates category's set-up. */
export interface Pki {
  f: CertFactory;
  root: Cert;
  sub: Cert;
  policy: string;
}

/** What the suite and the categories prepared for later cases (each set before the cases that read it). */
export interface Shared {
  /** Real cosign 2 and 3 signatures (the suite's set-up). */
  real?: RealArtefacts;
  tl?: Tl;
  pki?: Pki;
  /** The fake CRI-O, started on first use. */
  crio?: FakeCrio;
  refPolicy?: string;
  refStrict?: string;
  bundlePolicy?: string;
  /** The payload blob a lying-content case made its registry lie about, for its verify step. */
  lyingBlob?: string;
  /** The last lying registries a credentials case started, for its verify step. */
  lastToken?: LyingRegistry;
  mirror?: LyingRegistry;
  mirror2?: LyingRegistry;
  elsewhere?: LyingRegistry;
  cdn?: LyingRegistry;
  portReg?: LyingRegistry;
  /** The platform case's last index: the manifest containerd runs (m) and the other one (e). */
  lastPlatform?: { e: string; m: string };
}

export type Invocation =
  | { kind: 'check'; image: string; policy?: string; config?: string; deadline?: number; extraArgs?: string[] }
  | { kind: 'hook'; state: string; policy?: string; config?: string; deadline?: number; log?: string };

export interface Outcome {
  decision: 'allow' | 'deny';
  code: string;
  reason: string;
  exit: number;
  stdout: string;
  stderr: string;
  /** check's --json verdict or the hook's last decision-log line, as parsed (undefined: none, or not JSON); read with verdictField. */
  verdict: unknown;
  ms: number;
  rssKiB: number | undefined;
  deadline: number;
}

export interface Case {
  name: string;
  /** What the attacker does, one line. */
  attack: string;
  expect: { decision: 'allow' | 'deny'; codes: string[] };
  /** Prepares the artefacts; returns what to run. */
  run(ctx: Ctx): Promise<Invocation> | Invocation;
  /** Extra checks after the run (e.g. no credential reached a host); returns problems. */
  verify?(out: Outcome, ctx: Ctx): Promise<string[]> | string[];
}

export interface Category {
  category: string;
  cases: Case[];
  /** Set-up shared by the category's cases (into ctx.shared). */
  setup?(ctx: Ctx): Promise<void>;
}

let counter = 0;

/**
 * The environment every run gets on top of the suite's: the suite runs once per verification
 * path, the second time with `SIGGUARD_FAST_PATH=off` (the full path alone).
 */
export const runEnv: Record<string, string> = {};

export async function makeCtx(cosignPub: string): Promise<Ctx> {
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-adversarial-'));
  const reg = await new LyingRegistry().start();
  const trusted = Key.ec();
  const attacker = Key.ec();
  const trustedPub = trusted.write(dir, 'trusted');
  const attackerPub = attacker.write(dir, 'attacker');
  const ctx: Ctx = {
    dir,
    reg,
    host: reg.host,
    trusted,
    trustedPub,
    attacker,
    attackerPub,
    cosignPub,
    policy: '',
    config: '',
    repo: (name) => `${name}-${++counter}`,
    writePolicy(text) {
      const f = join(dir, `policy-${++counter}.yaml`);
      writeFileSync(f, text, { mode: 0o644 });
      return f;
    },
    writeConfig(extra = '') {
      const n = ++counter;
      const f = join(dir, `config-${n}.yaml`);
      writeFileSync(
        f,
        `platform: {os: linux, architecture: amd64}
node: {containerdSocket: ${join(dir, 'no-containerd.sock')}, crioSocket: ${join(dir, 'no-crio.sock')}}
cache:
  dir: ${join(dir, `cache-${n}`)}
${extra}`,
        { mode: 0o644 },
      );
      return f;
    },
    shared: {},
    servers: [reg],
  };
  ctx.policy = ctx.writePolicy(keyPolicy(ctx));
  ctx.config = ctx.writeConfig();
  return ctx;
}

/** The usual requirement: the trusted keys, matchRepository (what cosign users write). */
export function keyRequirement(ctx: Ctx, extra = ''): string {
  return `    - type: sigstoreSigned
      keyPaths: [${ctx.trustedPub}, ${ctx.cosignPub}]
      signedIdentity: {type: matchRepository}
${extra}`;
}

export function keyPolicy(ctx: Ctx, head = '', moreScopes = ''): string {
  return `version: 1
default: reject
${head}scopes:
  "${ctx.host}":
${keyRequirement(ctx)}${moreScopes}`;
}

/** containerd's CRI annotations for a pod's container. */
export function criAnnotations(image: string, namespace = 'default'): Record<string, string> {
  return {
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.image-name': image,
    'io.kubernetes.cri.sandbox-namespace': namespace,
    'io.kubernetes.cri.sandbox-name': 'pod',
    'io.kubernetes.cri.container-name': 'app',
    'io.kubernetes.cri.sandbox-id': 'f'.repeat(64),
  };
}

export function ociState(annotations: Record<string, string>, bundle = '/nonexistent'): string {
  return JSON.stringify({ ociVersion: '1.2.0', id: `adv${++counter}`, status: 'creating', pid: 1, bundle, annotations });
}

/** A field of a verdict (undefined when it is not an object, as `verdict?.key` reads it). */
export function verdictField(verdict: unknown, key: string): unknown {
  return typeof verdict === 'object' && verdict !== null ? (verdict as Record<string, unknown>)[key] : undefined;
}

/** A JSON field as text: undefined when absent (null or undefined, as `??` reads it). */
const text = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

const codeFromStderr = (stderr: string): string => /\[([A-Z_]+)\]\s*$/.exec(stderr.trim())?.[1] ?? 'UNKNOWN';

/** Runs one invocation of the built CLI under GNU time. */
export async function execute(inv: Invocation, ctx: Ctx): Promise<Outcome> {
  const deadline = inv.deadline ?? 5;
  const timeFile = join(ctx.dir, `time-${++counter}`);
  let args: string[];
  let input = '';
  let log = '';
  if (inv.kind === 'check') {
    args = [
      'check',
      '--json',
      '--policy',
      inv.policy ?? ctx.policy,
      '--config',
      inv.config ?? ctx.config,
      '--deadline',
      String(deadline),
      ...(inv.extraArgs ?? []),
      inv.image,
    ];
  } else {
    log = inv.log ?? join(ctx.dir, `decisions-${counter}.log`);
    args = [
      'hook',
      '--policy',
      inv.policy ?? ctx.policy,
      '--config',
      inv.config ?? ctx.config,
      '--log',
      log,
      '--deadline',
      String(deadline),
    ];
    input = inv.state;
  }
  const started = process.hrtime.bigint();
  const r = await guarded([GNU_TIME, '-f', '%M', '-o', timeFile, SIGGUARD, ...args], input, (deadline + 10) * 1000);
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
  let rssKiB: number | undefined = r.killed ? r.peakKiB : undefined;
  try {
    const m = /(\d+)\s*$/.exec(readFileSync(timeFile, 'utf8'));
    if (m && !r.killed) rssKiB = Number(m[1]);
    rmSync(timeFile, { force: true });
  } catch {
    /* killed before time wrote it */
  }
  const base = { exit: r.code, stdout: r.stdout, stderr: r.stderr, ms, rssKiB, deadline };
  if (r.killed) {
    // what a runtime does to a hook that overstays or eats the node: no decision, the start fails
    return {
      ...base,
      decision: 'deny',
      code: r.killed === 'memory' ? 'KILLED_OVER_1GIB' : 'KILLED_NO_DECISION',
      reason: `killed by the suite (${r.killed})`,
      verdict: undefined,
    };
  }
  if (inv.kind === 'check') {
    let verdict: unknown;
    try {
      verdict = JSON.parse(r.stdout);
    } catch {
      verdict = undefined;
    }
    const said = verdictField(verdict, 'decision');
    if (typeof said === 'string') {
      // the exit code is what a caller acts on: a JSON allow with a non-zero exit is a deny
      const decision = said === 'allow' && r.code === 0 ? 'allow' : 'deny';
      return {
        ...base,
        decision,
        code: text(verdictField(verdict, 'code')) ?? 'UNKNOWN',
        reason: text(verdictField(verdict, 'reason')) ?? '',
        verdict,
      };
    }
    return { ...base, decision: r.code === 0 ? 'allow' : 'deny', code: codeFromStderr(r.stderr), reason: r.stderr.trim(), verdict };
  }
  // hook: the exit code decides (0 lets the container start); the log says why
  let line: unknown;
  try {
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    line = JSON.parse(lines[lines.length - 1]!);
  } catch {
    line = undefined;
  }
  const decision = r.code === 0 ? 'allow' : 'deny';
  return {
    ...base,
    decision,
    code: text(verdictField(line, 'code')) ?? codeFromStderr(r.stderr),
    reason: text(verdictField(line, 'reason')) ?? r.stderr.trim(),
    verdict: line,
  };
}

/** RSS at which the suite kills a run: a verification must stay far below (256 MiB); this protects the shared machine. */
const KILL_RSS_KIB = 1024 * 1024;

function rssOfTree(pid: number): number {
  let total = 0;
  const visit = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      total += m ? Number(m[1]) : 0;
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(c));
    } catch {
      /* gone */
    }
  };
  visit(pid);
  return total;
}

/**
 * Runs a command in its own process group, watching its memory: the group is killed when it
 * outgrows KILL_RSS_KIB or outlives `timeoutMs` (so no run can take the machine down or hang the suite).
 */
function guarded(
  cmd: string[],
  input: string,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string; killed?: 'memory' | 'time'; peakKiB: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...runEnv } });
    let stdout = '';
    let stderr = '';
    let killed: 'memory' | 'time' | undefined;
    let peakKiB = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killGroup = (why: 'memory' | 'time') => {
      killed ??= why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const watch = setInterval(() => {
      const rss = rssOfTree(child.pid!);
      peakKiB = Math.max(peakKiB, rss);
      if (rss > KILL_RSS_KIB) killGroup('memory');
    }, 50);
    const timer = setTimeout(() => killGroup('time'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ...(killed ? { killed } : {}), peakKiB });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

export function ensureDir(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}
