/**
 * Review 2 of 53d00e5 (session.ts inFlight): a verification's requests that are still under way
 * when it ends (discoverEarly's signature lookups when the manifest failed first: "awaited below,
 * unless the manifest fails first") were ended by closeIdleConnections at its end; now only when no
 * other verification runs. In the agent the request's deadline is then cleared (decideRequest's
 * deadline.clear() does not abort the signal), so such a request runs with no deadline at all for
 * as long as other verifications overlap: past the `until` it was given, holding its socket (and
 * what it may still fetch within its budget). Correct: a verification's own requests end with it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Verifier, askAgentDirect, startVerifier } from '../support/agent-socket.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('sigguard-review2-stray-');
const servers: Server[] = [];
let v: Verifier | undefined;

/** A loopback "registry": its open connections counted, each request answered by `handle` (or never). */
async function registry(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const open = new Set<Socket>();
  const pending = new Set<IncomingMessage>();
  const s = createServer((req, res) => {
    pending.add(req);
    res.once('finish', () => pending.delete(req));
    req.socket.once('close', () => pending.delete(req));
    handle(req, res);
  });
  s.on('connection', (c) => {
    open.add(c);
    c.once('close', () => open.delete(c));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return {
    host: `127.0.0.1:${(s.address() as AddressInfo).port}`,
    open,
    pending,
    close: () => {
      for (const c of open) c.destroy();
    },
  };
}

beforeAll(() => requireTools(SIGGUARD));
afterAll(async () => {
  await v?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

const ask = (socket: string, image: string, until: number) => askAgentDirect(socket, { image, config, policy, until });
let config = '';
let policy = '';

it("a verification's requests still under way when it ends (the manifest failed first) do not outlive the request's until", async () => {
  const digest = `sha256:${'1'.repeat(64)}`;
  // the manifest: not found at once; every other request (the signatures' lookups): never answered
  const tarpit = await registry((req, res) => {
    if (req.url?.includes(`/manifests/${digest}`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    }
  });
  // another image being decided meanwhile (another hook's): its registry answers after 7 s
  const slow = await registry((_req, res) => {
    setTimeout(() => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    }, 7000);
  });
  const pub = join(dir, 'key.pub');
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString());
  policy = join(dir, 'policy.yaml');
  const req = `    - type: sigstoreSigned\n      keyPath: ${pub}\n      signedIdentity: {type: matchRepository}\n`;
  writeFileSync(policy, `version: 1\ndefault: reject\nscopes:\n  "${tarpit.host}":\n${req}  "${slow.host}":\n${req}`);
  config = join(dir, 'config.yaml');
  writeFileSync(config, `cache:\n  dir: ${join(dir, 'cache')}\nnode:\n  containerdSocket: ${join(dir, 'no-runtime.sock')}\n`);
  v = await startVerifier(join(dir, 'hook.sock'), config, policy);

  const other = ask(v.socket, `${slow.host}/app@${digest}`, Date.now() + 8000);
  await new Promise((r) => setTimeout(r, 300));
  const until = Date.now() + 2000;
  const a = await ask(v.socket, `${tarpit.host}/app@${digest}`, until);
  expect(a.decline).toMatch(/IMAGE_NOT_FOUND/);
  // past the until the agent was given for it, while the other verification still runs
  await new Promise((r) => setTimeout(r, until + 1500 - Date.now()));
  const stillOpen = tarpit.open.size;
  const stillAsked = [...tarpit.pending].map((r) => `${r.method} ${r.url}`);
  tarpit.close();
  expect(stillAsked, "the tarpit's requests still waited for past the request's until").toEqual([]);
  // (an idle connection kept in the pool for the next verification may stay: that is the pool's own matter)
  void stillOpen;
  await other;
}, 30_000);
