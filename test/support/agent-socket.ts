/**
 * The agent's socket for hooks in tests: the real `sigguard verifier` as a process, or a fake agent
 * (a unix socket server in this process that answers what a test says) for what the real one never sends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Server, connect as connectSocket, createServer } from 'node:net';
import { liveChildren } from './cli.js';
import { hookState } from './oci-bundle.js';
import { SIGGUARD } from './paths.js';

export interface Verifier {
  socket: string;
  output(): string;
  stop(): Promise<void>;
}

/** `sigguard verifier` serving `socket` for these documents, once its socket is there. */
export async function startVerifier(socket: string, config: string, policy: string): Promise<Verifier> {
  const child: ChildProcess = spawn(SIGGUARD, ['verifier', '--socket', socket, '--config', config, '--policy', policy], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 200 && !existsSync(socket); i++) {
    if (child.exitCode !== null) throw new Error(`sigguard verifier exited: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!existsSync(socket)) throw new Error(`sigguard verifier made no socket: ${out}`);
  return {
    socket,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      liveChildren.delete(child);
    },
  };
}

/** A fake agent: each connection gets `answer(request line)` written (undefined: never answered). */
export async function fakeAgent(
  socket: string,
  answer: (request: string) => string | Buffer | undefined,
): Promise<{ asked: string[]; close(): Promise<void> }> {
  const asked: string[] = [];
  const open = new Set<import('node:net').Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => {
    open.add(conn);
    conn.once('close', () => open.delete(conn));
    let got = '';
    conn.on('error', () => {});
    conn.on('data', (d) => {
      got += d;
      const nl = got.indexOf('\n');
      if (nl < 0) return;
      asked.push(got.slice(0, nl));
      const a = answer(got.slice(0, nl));
      if (a !== undefined) conn.end(a);
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    asked,
    close: () =>
      new Promise<void>((r) => {
        for (const c of open) c.destroy();
        server.close(() => r());
      }),
  };
}

/** The agent's answer (parsed) to one request as a hook sends it: the OCI state of `image` and these documents. */
export function askAgentDirect(
  socket: string,
  request: { image: string; config: string; policy: string; until: number; id?: string },
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connectSocket(socket);
    let got = '';
    sock.on('data', (d) => (got += d));
    sock.on('error', reject);
    sock.on('close', () => resolve(JSON.parse(got)));
    const state = hookState(request.id ?? `c${Math.random()}`, request.image);
    sock.end(`${JSON.stringify({ v: 1, state, config: request.config, policy: request.policy, until: request.until })}\n`);
  });
}
