/**
 * The agent deciding container starts for the hooks that ask it (`sigguard hook --agent SOCKET`,
 * src/hook/ask-agent.ts; the protocol in src/hook/agent-protocol.ts), on a unix socket only root
 * can reach: 0600, in a folder only root can write (checked after listening, as the hook checks it).
 *
 * Each request is decided by the hook's own code (src/hook/decide-start.ts) under the documents the
 * agent serves for — the hook's --config and --policy, read from disk per request (a changed file
 * is read as the hook would read it; the validated-document cache keeps the parsing to once per
 * text) — and to the hook's deadline (`until`). Only an allow is answered as such; a deny, an error,
 * a request for other documents is declined and the hook decides itself. A deny is not kept in the
 * verdict cache (keepDenials false): what the agent could not verify (its network, its mounts) never
 * refuses a start, the hook's own verification does.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { startDeadline } from '../deadline.js';
import { settleHeapBase } from '../registry/budget.js';
import { HOOK_DEFAULTS } from '../defaults.js';
import { checkTrustedPath, fileTrustEnforced } from '../document/file-trust.js';
import type { Outcome } from '../engine/cached-verify.js';
import { oneLine, toSigguardError } from '../errors.js';
import { AGENT_PROTOCOL, type AgentAnswer, MAX_REQUEST_BYTES, agentRequestSchema } from '../hook/agent-protocol.js';
import { readContext } from '../hook/annotations.js';
import { decideStart } from '../hook/decide-start.js';
import { parseState, readAnnotations } from '../hook/state.js';
import { scopeTrustRoots } from '../policy/trust-roots.js';
import type { Policy } from '../policy/types.js';

export interface VerifyServerOptions {
  socket: string;
  /** The documents the hook entry names (undefined config: the hook's default file). */
  config: string | undefined;
  policy: string;
  /** At most this many requests at once; beyond, a connection is closed at once (the hook decides itself). */
  maxConnections?: number;
}

export interface VerifyServerStats {
  allowed: number;
  declined: number;
}

export interface VerifyServer {
  readonly stats: VerifyServerStats;
  close(): Promise<void>;
}

/** How long a connection may take to send its request. */
const REQUEST_TIMEOUT_MS = 2_000;
/** At most this long for a decision whatever `until` says (the hook's deadline is 8 s by default). */
const MAX_DECISION_MS = HOOK_DEFAULTS.deadlineSeconds * 1000;

/** Removes what a stopped agent left at `path`: a socket only (anything else is an error, not ours to remove). */
function removeStaleSocket(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a unix socket`);
  unlinkSync(path);
}

export async function startVerifyServer(o: VerifyServerOptions, log?: Logger): Promise<VerifyServer> {
  const socket = resolve(o.socket);
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  removeStaleSocket(socket);
  const stats: VerifyServerStats = { allowed: 0, declined: 0 };
  const own = { config: resolve(o.config ?? HOOK_DEFAULTS.config), policy: resolve(o.policy) };
  // allowHalfOpen: the hook ends its side once it has written its request, and waits for the answer
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => serve(conn, own, stats, log));
  server.maxConnections = o.maxConnections ?? 512;
  // made 0600 by the bind itself (the umask), not only by the chmod after it: no moment where others may connect
  // (the bind is made inside listen(), synchronously: the umask is the process's own again right after it)
  const listening = new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.once('listening', () => {
      server.off('error', fail);
      ok();
    });
  });
  const umask = process.umask(0o177);
  try {
    server.listen(socket);
  } finally {
    process.umask(umask);
  }
  await listening;
  try {
    chmodSync(socket, 0o600);
    // what the hook will check before it connects: refuse to serve where no hook would ask
    if (fileTrustEnforced()) checkTrustedPath(socket, 0, 'socket');
  } catch (err) {
    await new Promise<void>((r) => server.close(() => r()));
    throw err;
  }
  // the verification code compiled before the first request needs it, and node:crypto loaded
  // with OpenSSL's first hash made (~4 ms a first decision would otherwise pay, issue 15)
  void import('../engine/session.js').catch(() => undefined);
  setImmediate(() => {
    try {
      process.getBuiltinModule('node:crypto').createHash('sha256').update('').digest();
    } catch {
      /* a decision that needs it says what is wrong */
    }
    settleHeapBase();
  });
  log?.info({ socket }, 'deciding starts for hooks on the agent socket');
  return {
    stats,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * What all connections may hold of requests not yet complete together: beyond, a request is
 * declined at once (its hook decides itself). A request is at most MAX_REQUEST_BYTES, and at most
 * maxConnections are open: this keeps the sum far below both multiplied.
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
let buffered = 0;

function serve(conn: Socket, own: { config: string; policy: string }, stats: VerifyServerStats, log?: Logger): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  /** The request line is whole (or refused): nothing more is read from this connection. */
  let read = false;
  let answered = false;
  const release = () => {
    buffered -= bytes;
    bytes = 0;
    chunks.length = 0;
  };
  const answer = (a: AgentAnswer) => {
    if (answered) return;
    answered = true;
    if (a.allow) stats.allowed++;
    else stats.declined++;
    conn.end(`${JSON.stringify(a)}\n`);
  };
  const decline = (why: string) => answer({ v: AGENT_PROTOCOL, decline: oneLine(why).slice(0, 4096) });
  // a whole request line within REQUEST_TIMEOUT_MS (however it trickles in), and the connection
  // gone by the longest a decision may take
  const requestTimer = setTimeout(() => conn.destroy(), REQUEST_TIMEOUT_MS);
  const lifeTimer = setTimeout(() => conn.destroy(), REQUEST_TIMEOUT_MS + MAX_DECISION_MS + 1000);
  // what comes after is read and dropped (not paused: the hook must be able to finish writing and close)
  const stopReading = () => {
    read = true;
    release();
    clearTimeout(requestTimer);
  };
  conn.on('error', () => conn.destroy());
  conn.once('close', () => {
    clearTimeout(requestTimer);
    clearTimeout(lifeTimer);
    release();
  });
  conn.on('data', (chunk) => {
    if (read) return;
    const over = bytes + chunk.length > MAX_REQUEST_BYTES;
    if (over || buffered + chunk.length > MAX_BUFFERED_BYTES) {
      stopReading();
      decline(over ? `request over ${MAX_REQUEST_BYTES} bytes` : 'too many requests at once');
      return;
    }
    bytes += chunk.length;
    buffered += chunk.length;
    chunks.push(chunk);
    const nl = chunk.indexOf(10);
    if (nl < 0) return;
    // one request a connection: what follows its line is never read
    const whole = Buffer.concat(chunks);
    const line = whole.subarray(0, whole.length - chunk.length + nl).toString('utf8');
    stopReading();
    decideRequest(line, own)
      .then(answer, (err: unknown) => decline(toSigguardError(err).message))
      .catch((err: unknown) => log?.warn({ err }, 'agent socket answer failed'));
  });
  conn.on('end', () => {
    if (read) return;
    stopReading();
    decline('no whole request line');
  });
}

/** One request line decided: an allow, or why not. Never throws for what the request says. */
export async function decideRequest(line: string, own: { config: string; policy: string }): Promise<AgentAnswer> {
  const decline = (why: string): AgentAnswer => ({ v: AGENT_PROTOCOL, decline: oneLine(why).slice(0, 4096) });
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return decline('the request is not JSON');
  }
  const r = agentRequestSchema.parse(json);
  if (!r.ok) return decline(`the request is malformed at ${r.path}: ${r.message}`);
  const req = r.value;
  if (req.v !== AGENT_PROTOCOL) return decline(`protocol ${req.v} is not ${AGENT_PROTOCOL}`);
  const config = resolve(req.config ?? HOOK_DEFAULTS.config);
  const policy = resolve(req.policy);
  if (config !== own.config || policy !== own.policy)
    return decline(`the agent decides under ${own.policy} and ${own.config}, not ${policy} and ${config}`);
  const endsAt = Math.min(req.until, Date.now() + MAX_DECISION_MS);
  if (endsAt <= Date.now()) return decline('no time left');
  let state: ReturnType<typeof parseState>;
  let ctx: ReturnType<typeof readContext>;
  try {
    state = parseState(req.state);
    ctx = readContext(readAnnotations(state));
  } catch (err) {
    return decline(toSigguardError(err).message);
  }
  // the images being decided at once are bounded (each verification may hold up to the registry
  // budget, 48 MiB): a start for another image beyond them is the hook's own, as without an agent
  const image = ctx.image ?? '';
  const deciding = imagesDeciding.get(image) ?? 0;
  if (deciding === 0 && imagesDeciding.size >= MAX_IMAGES_AT_ONCE) return decline(`busy: ${MAX_IMAGES_AT_ONCE} images being decided`);
  imagesDeciding.set(image, deciding + 1);
  // to the hook's own deadline (`until`): a verification the hook stopped waiting for goes on, and
  // the hook's own follows its single-flight lock (src/hook/ask-agent.ts)
  const deadline = startDeadline(endsAt, "the hook's deadline passed");
  let loaded: Policy | undefined;
  let unaskedRuntime: string | undefined;
  let outcome: Outcome;
  try {
    outcome = await decideStart(ctx, state.id, { config: req.config, policy: req.policy, endsAt }, deadline.signal, {
      exitsAfter: false,
      keepDenials: false,
      keepRuntimeConnection: true,
      onPolicy: (p) => {
        loaded = p;
      },
      onNode: (n) => {
        // a runtime that is there and failed: the hook's own lookup is what decides
        if (n.unasked && !n.unasked.missing) throw new Error(`the agent could not ask the runtime at ${n.unasked.socket}`);
        if (n.unasked) unaskedRuntime = n.unasked.socket;
      },
    });
  } catch (err) {
    return decline(toSigguardError(err).message);
  } finally {
    deadline.clear();
    const left = (imagesDeciding.get(image) ?? 1) - 1;
    if (left > 0) imagesDeciding.set(image, left);
    else imagesDeciding.delete(image);
  }
  if (outcome.decision !== 'allow') return decline(`${outcome.code}: ${outcome.reason}`);
  const trustRoot = scopeTrustRoots(loaded, outcome.scope);
  return {
    v: AGENT_PROTOCOL,
    allow: allowOf(outcome),
    ...(trustRoot ? { trustRoot } : {}),
    ...(unaskedRuntime ? { unaskedRuntime } : {}),
  };
}

/** At most this many images decided at once (a request for another is declined: its hook decides itself). */
const MAX_IMAGES_AT_ONCE = 32;
const imagesDeciding = new Map<string, number>();

/** The outcome's fields the protocol carries (exactly those: the hook's schema is strict). */
function allowOf(o: Outcome): NonNullable<AgentAnswer['allow']> {
  return {
    decision: 'allow',
    code: o.code,
    reason: o.reason,
    ...(o.detailCode ? { detailCode: o.detailCode } : {}),
    ...(o.image ? { image: o.image } : {}),
    ...(o.digest ? { digest: o.digest } : {}),
    ...(o.scope ? { scope: o.scope } : {}),
    ...(o.signer ? { signer: o.signer } : {}),
    ...(o.cache ? { cache: o.cache } : {}),
    ...(o.configDigest ? { configDigest: o.configDigest } : {}),
  };
}
