/**
 * The agent's socket for hooks (src/agent/verify-server.ts) as a connection sees it: one request
 * a connection (what follows its line is never decided), a request over its limit declined at
 * once, a connection that sends nothing ended by the request timeout's absence of a line, the
 * socket 0600. Its documents do not exist here: every answer is a decline, which is all that is
 * needed to see how many there are and when.
 */
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifyServer, startVerifyServer } from '../../src/agent/verify-server.js';
import { MAX_REQUEST_BYTES } from '../../src/hook/agent-protocol.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-verify-server-');
const socket = join(dir, 'agent', 'hook.sock');
let server: VerifyServer;
beforeAll(async () => {
  server = await startVerifyServer({ socket, config: join(dir, 'config.yaml'), policy: join(dir, 'policy.yaml') });
});
afterAll(() => server?.close());

/** Sends `data` (ending the writing side after it when `end`), returns all that came back until the close. */
function exchange(data: Buffer | string, end = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let got = '';
    c.on('data', (d) => (got += d));
    c.on('error', reject);
    c.on('close', () => resolve(got));
    c.write(data);
    if (end) c.end();
  });
}

describe("the agent's socket for hooks", () => {
  it('is a 0600 socket in a 0700 folder', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'agent')).mode & 0o777).toBe(0o700);
  });

  it('decides one request a connection: a second line after the first is never read', async () => {
    const before = { ...server.stats };
    const got = await exchange('not json\n{"v":1}\nmore\n');
    expect(got.split('\n')).toEqual([JSON.stringify({ v: 1, decline: 'the request is not JSON' }), '']);
    expect(server.stats.declined - before.declined).toBe(1);
  });

  it('a request over its limit is declined without waiting for its end', async () => {
    const got = await exchange(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20), false);
    expect(JSON.parse(got)).toEqual({ v: 1, decline: `request over ${MAX_REQUEST_BYTES} bytes` });
  });

  it('requests not yet whole hold at most 16 MiB together: beyond, declined at once', async () => {
    const partial = Buffer.alloc(MAX_REQUEST_BYTES - 1024, 0x20); // no newline: held
    const answers = await Promise.all([0, 1, 2].map(() => exchange(partial)));
    // each connection ends without a line, so each is answered: two hold ~12 MiB, the third does not fit
    expect(answers.map((a) => JSON.parse(a).decline).sort()).toEqual([
      'no whole request line',
      'no whole request line',
      'too many requests at once',
    ]);
  });

  it('a connection that ends without a whole line is declined', async () => {
    expect(JSON.parse(await exchange('{"v":1'))).toEqual({ v: 1, decline: 'no whole request line' });
  });

  it('a socket left by a stopped agent is replaced; a file that is not a socket is refused', async () => {
    const again = await startVerifyServer({ socket, config: join(dir, 'config.yaml'), policy: join(dir, 'policy.yaml') }).catch(
      (e: Error) => e,
    );
    // the running server's socket is a socket: replaced (the old server keeps its open connections only)
    expect(again).not.toBeInstanceOf(Error);
    await (again as VerifyServer).close();
    const { writeFileSync } = await import('node:fs');
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'x');
    await expect(startVerifyServer({ socket: file, config: 'c', policy: 'p' })).rejects.toThrow(/is not a unix socket/);
  });
});
