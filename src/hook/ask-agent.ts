/**
 * The hook asking the node's agent to decide a start that needs work it has not done before: a
 * document not yet validated, an image with no fresh verdict (src/cli/hook.ts, `--agent SOCKET`).
 * The agent (src/agent/verify-server.ts) is a process that is already running, with the
 * documents validated, the registry client and node:crypto loaded: it decides such a start in a
 * few milliseconds, where a hook process pays ~10-25 ms to load and validate first (issue 15).
 *
 * Fail closed, and never slower than without the agent by more than its wait: the answer is used
 * only if it is an allow that parses (agent-protocol.ts) from a socket only root could have made
 * (a root-owned unix socket whose every folder only root can write, file-trust.ts); anything else
 * (no socket, a refused connection, a decline, a malformed or oversized answer, no answer within
 * half of what is left of the hook's deadline) and the hook decides in its own process, as it would
 * without an agent. What this returns is then why, for the decision log.
 *
 * The connection goes through libuv's pipe handle, as the CRI client's (h2/unix-socket.ts).
 */
import { checkTrustedPath, fileTrustEnforced } from '../document/file-trust.js';
import { connectUnix } from '../h2/unix-socket.js';
import { HOLDER_GRACE_MS } from '../cache/single-flight.js';
import { socketProblem } from './node-lookup.js';
import { mark } from '../trace.js';
import { AGENT_PROTOCOL, type AgentAllow, type AgentRequest, MAX_ANSWER_BYTES, agentAnswerSchema } from './agent-protocol.js';

/** The share of what is left of the hook's deadline it waits for the agent; the rest is for deciding itself. */
export const AGENT_WAIT_SHARE = 0.5;

export type Asked = { allow: AgentAllow; trustRoot?: string } | { notUsed: string };

/**
 * The request without `until` (set here from `endsAt`, the hook's deadline as ms epoch). `abandon`:
 * the hook decided without the answer (the connection is closed, the answer is a notUsed).
 */
export function askAgent(
  socket: string,
  request: Omit<AgentRequest, 'v' | 'until'>,
  endsAt: number,
  abandon?: AbortSignal,
): Promise<Asked> {
  const waitMs = Math.floor(Math.max(0, endsAt - Date.now()) * AGENT_WAIT_SHARE);
  // the socket connected to is the one checked (a path's '..' is taken there as resolve() does)
  let checked = socket;
  if (fileTrustEnforced()) {
    try {
      checked = checkTrustedPath(socket, 0, 'socket').real;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return Promise.resolve({ notUsed: e.code === 'ENOENT' ? `no agent socket at ${socket}` : `agent socket: ${e.message}` });
    }
  }
  // the agent may go on almost to the hook's own deadline: a verification it has not finished when
  // the hook stops waiting keeps its single-flight lock, and the hook's own verification follows it
  // (cached-verify.ts) instead of starting again from nothing with half the time; it ends the
  // single flight's grace before the hook's deadline, so the hook follows it to its end
  // (single-flight.ts followUntil) rather than for half of what is left
  const line = `${JSON.stringify({ v: AGENT_PROTOCOL, ...request, until: endsAt - HOLDER_GRACE_MS })}\n`;
  return new Promise<Asked>((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled: Asked | undefined;
    const sock = connectUnix(checked);
    const done = (a: Asked) => {
      if (settled) return;
      settled = a;
      clearTimeout(timer);
      sock.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ notUsed: `the agent did not answer within ${waitMs} ms` }), waitMs);
    abandon?.addEventListener('abort', () => done({ notUsed: 'the hook decided without it' }), { once: true });
    sock.on('error', (err) => done({ notUsed: `agent socket: ${err.code ?? err.message}` }));
    sock.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes > MAX_ANSWER_BYTES) return done({ notUsed: `the agent's answer is over ${MAX_ANSWER_BYTES} bytes` });
      chunks.push(chunk);
      if (chunk.includes(10)) done(parseAnswer(Buffer.concat(chunks)));
    });
    sock.on('close', () => done(settled ?? parseAnswer(Buffer.concat(chunks))));
    sock.end(Buffer.from(line));
  }).finally(() => mark('agent'));
}

/** The first line of what the agent sent, as an Asked. */
export function parseAnswer(bytes: Buffer): Asked {
  const nl = bytes.indexOf(10);
  if (nl < 0) return { notUsed: bytes.length === 0 ? 'the agent closed without an answer' : 'the agent sent no whole answer' };
  let json: unknown;
  try {
    json = JSON.parse(bytes.subarray(0, nl).toString('utf8'));
  } catch {
    return { notUsed: 'the agent sent an answer that is not JSON' };
  }
  const r = agentAnswerSchema.parse(json);
  if (!r.ok) return { notUsed: `the agent's answer is malformed at ${r.path}: ${r.message}` };
  const a = r.value;
  if (a.v !== AGENT_PROTOCOL) return { notUsed: `the agent speaks protocol ${a.v}, not ${AGENT_PROTOCOL}` };
  if (a.allow && a.decline === undefined) {
    // the agent found no runtime socket where the configuration names one: an allow only if the
    // hook finds none there either (else the hook would have bound the start to what the runtime
    // says runs, src/hook/node-lookup.ts, and the agent could not)
    if (a.unaskedRuntime !== undefined && socketProblem(a.unaskedRuntime) === undefined)
      return { notUsed: `the agent could not ask the runtime at ${a.unaskedRuntime}, which the hook can` };
    return { allow: a.allow, ...(a.trustRoot ? { trustRoot: a.trustRoot } : {}) };
  }
  if (a.decline !== undefined && !a.allow && a.trustRoot === undefined && a.unaskedRuntime === undefined)
    return { notUsed: `the agent declined: ${a.decline}` };
  return { notUsed: "the agent's answer is neither an allow nor a decline" };
}
