/**
 * Review 2 of the agent socket's place (file-trust.ts, kind 'socket', fixed in 7fb22eb): the
 * folder the socket really is in (after every link) must be root's alone, sticky or not, however
 * the path reaches it; folders above keep the sticky exception; regular files keep it in their own
 * folder (no regression). And the hook's look at an answer's `unaskedRuntime` (ask-agent.ts): a
 * stat that never opens what it names (a FIFO never blocks it) and only ever refuses an allow.
 * These tests run as root.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UntrustedFileError, checkTrustedPath } from '../../src/document/file-trust.js';
import { parseAnswer } from '../../src/hook/ask-agent.js';
import { tempDir } from '../support/temp.js';

let root: string;
let n = 0;
const servers: Server[] = [];

beforeAll(() => {
  if (process.geteuid?.() !== 0) throw new Error('these tests run as root');
  root = tempDir('sigguard-socket-trust-review2-');
  chmodSync(root, 0o755);
});
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

function folder(parent: string, mode: number): string {
  const d = join(parent, `d${++n}`);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

async function socketIn(dir: string): Promise<string> {
  const path = join(dir, 'hook.sock');
  const s = createServer();
  await new Promise<void>((r) => s.listen(path, r));
  servers.push(s);
  return path;
}

const socketProblem = (path: string): string | undefined => {
  try {
    checkTrustedPath(path, 0, 'socket');
    return undefined;
  } catch (err) {
    if (err instanceof UntrustedFileError) return err.problem;
    throw err;
  }
};

describe("the agent socket's own folder, however the path reaches it", () => {
  it("a link in root's own folder to a socket in a sticky world-writable folder: refused (the folder it really is in)", async () => {
    const sticky = folder(root, 0o1777);
    const real = await socketIn(sticky);
    const mine = folder(root, 0o700);
    const link = join(mine, 'hook.sock');
    symlinkSync(real, link);
    expect(socketProblem(link)).toBe(`its folder ${sticky} (mode 1777) is writable by group and others`);
  });

  it('a folder link in the path that leads into a sticky world-writable folder: refused', async () => {
    const sticky = folder(root, 0o1777);
    await socketIn(sticky);
    const mine = folder(root, 0o700);
    symlinkSync(sticky, join(mine, 'agent'));
    expect(socketProblem(join(mine, 'agent', 'hook.sock'))).toMatch(/^its folder .* \(mode 1777\) is writable by group and others$/);
  });

  it("a root-only folder inside a sticky one (as /tmp/x), reached through a link: its socket is taken (the sticky folder above keeps root's folder)", async () => {
    const sticky = folder(root, 0o1777);
    const own = folder(sticky, 0o700);
    const real = await socketIn(own);
    const mine = folder(root, 0o755);
    symlinkSync(own, join(mine, 'agent'));
    expect(socketProblem(join(mine, 'agent', 'hook.sock'))).toBeUndefined();
    expect(checkTrustedPath(join(mine, 'agent', 'hook.sock'), 0, 'socket').real).toBe(real);
  });

  it('a folder group-writable without the sticky bit, or group-writable with it: refused either way', async () => {
    expect(socketProblem(await socketIn(folder(root, 0o775)))).toMatch(/writable by group without the sticky bit$/);
    expect(socketProblem(await socketIn(folder(root, 0o1770)))).toMatch(/\(mode 1770\) is writable by group$/);
  });

  it('a regular file keeps the sticky exception in its own folder (the check is the socket kind only)', () => {
    const sticky = folder(root, 0o1777);
    const f = join(sticky, 'policy.yaml');
    writeFileSync(f, 'x');
    chmodSync(f, 0o644);
    expect(() => checkTrustedPath(f)).not.toThrow();
    // and a file is never taken for a socket
    const g = join(folder(root, 0o700), 'hook.sock');
    writeFileSync(g, 'x');
    expect(socketProblem(g)).toBe('not a unix socket');
  });
});

describe("the hook's look at an allow's unaskedRuntime", () => {
  const allow = { decision: 'allow', code: 'ALLOWED', reason: 'verified' };
  const answer = (unaskedRuntime: string) => Buffer.from(`${JSON.stringify({ v: 1, allow, unaskedRuntime })}\n`);

  it('a FIFO there: a stat, never an open (no wait for a writer), and it is no socket', () => {
    const fifo = join(folder(root, 0o755), 'containerd.sock');
    execFileSync('mkfifo', [fifo]);
    const t = Date.now();
    expect(parseAnswer(answer(fifo))).toEqual({ allow });
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("a link to a socket: followed as the hook's own runtime lookup would connect, and a socket there refuses the allow", async () => {
    const d = folder(root, 0o755);
    const sock = await socketIn(d);
    symlinkSync(sock, join(d, 'link.sock'));
    expect(parseAnswer(answer(join(d, 'link.sock')))).toEqual({
      notUsed: `the agent could not ask the runtime at ${join(d, 'link.sock')}, which the hook can`,
    });
    expect(parseAnswer(answer(join(d, 'missing.sock')))).toEqual({ allow });
  });
});
