/**
 * Review 2: the hook checks the agent socket's path with '..' taken lexically (checkTrustedPath's
 * resolve()), but connects to the path as given, which the kernel resolves physically ('..' after
 * a link goes up from where the link leads). An --agent path such as /run/sg/via/../hook.sock,
 * via a link into /tmp, is checked at /run/sg/hook.sock and connected at /tmp/hook.sock, which any
 * user can bind. The fix: connect to what was checked (checkTrustedPath's `real`), or resolve '..'
 * physically in checkTrustedPath. (The path is the hook entry's: an operator's odd path, not a pod's.)
 */
import { chmodSync, chownSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { askAgent } from '../../src/hook/ask-agent.js';
import { fakeAgent } from '../support/agent-socket.js';
import { tempDir } from '../support/temp.js';

let root: string;
beforeAll(() => {
  if (process.geteuid?.() !== 0) throw new Error('runs as root');
  root = tempDir('sigguard-review2-dotdot-');
  chmodSync(root, 0o755);
});

it("an --agent path with '..' after a link: the socket connected to is the one checked", async () => {
  const mine = join(root, 'run-sg');
  mkdirSync(mine, { mode: 0o700 });
  const sticky = join(root, 'tmp');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  const sub = join(sticky, 'sub');
  mkdirSync(sub, { mode: 0o755 });
  symlinkSync(sub, join(mine, 'via'));
  const honest = await fakeAgent(join(mine, 'hook.sock'), () => `${JSON.stringify({ v: 1, decline: 'honest agent' })}\n`);
  // anyone's: a socket in the world-writable folder, as nobody would bind it
  const evil = await fakeAgent(
    join(sticky, 'hook.sock'),
    () => `${JSON.stringify({ v: 1, allow: { decision: 'allow', code: 'ALLOWED', reason: 'says nobody' } })}\n`,
  );
  chownSync(join(sticky, 'hook.sock'), 65534, 65534);
  try {
    const asked = await askAgent(`${mine}/via/../hook.sock`, { state: '{}', policy: '/p.yaml' }, Date.now() + 4000);
    expect(evil.asked).toEqual([]);
    expect(asked).not.toHaveProperty('allow');
  } finally {
    await honest.close();
    await evil.close();
  }
});
