/**
 * The registry client's connections (src/registry/http.ts over http1.ts): kept and reused per
 * origin within a verification, a kept one the server closed tried once more on a new one (never a
 * fresh one: no retry loop), every failure a refusal with its reason code, nothing sent when a
 * header would inject another, the deadline ending any exchange, and closeIdleConnections ending
 * them all. Against small raw servers on loopback (faults a real registry will not produce).
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../src/errors.js';
import { closeIdleConnections, httpRequest } from '../../src/registry/http.js';

const OK = (body: string) => `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

interface Raw {
  url: (path?: string) => URL;
  connections: () => number;
  requests: string[];
  sockets: Socket[];
  close: () => Promise<void>;
}

/** A server that answers each request (a head, and a body of its Content-Length) with `answer(request, n)`; undefined: no answer. */
async function raw(answer: (request: string, n: number, s: Socket) => string | undefined): Promise<Raw> {
  let connections = 0;
  const requests: string[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    connections++;
    sockets.push(s);
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const request = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        requests.push(request);
        const out = answer(request, requests.length, s);
        if (out !== undefined) s.write(out);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/v2/') => new URL(`http://127.0.0.1:${port}${path}`),
    connections: () => connections,
    requests,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const servers: Raw[] = [];
afterEach(async () => {
  closeIdleConnections();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
const serve = async (answer: Parameters<typeof raw>[0]) => {
  const s = await raw(answer);
  servers.push(s);
  return s;
};
const get = (url: URL, extra: Partial<Parameters<typeof httpRequest>[1]> = {}) =>
  httpRequest(url, { maxBytes: 1 << 20, signal: AbortSignal.timeout(5000), ...extra });
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
  );

describe('connections', () => {
  it('one connection carries requests one after another; concurrent ones each get their own, then are reused', async () => {
    const s = await serve((_r, n) => OK(`r${n}`));
    for (let i = 1; i <= 3; i++) expect((await get(s.url())).body.toString()).toBe(`r${i}`);
    expect(s.connections()).toBe(1);
    const bodies = await Promise.all([1, 2, 3, 4].map(() => get(s.url())));
    expect(bodies.map((b) => b.status)).toEqual([200, 200, 200, 200]);
    expect(s.connections()).toBe(4);
    await Promise.all([1, 2, 3, 4].map(() => get(s.url())));
    expect(s.connections()).toBe(4);
  });

  it('the request on the wire: method, target, Host, user-agent, a POST body with its length', async () => {
    const s = await serve(() => OK('t'));
    await get(s.url('/token?scope=a%20b'), {
      method: 'POST',
      body: 'grant=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const port = s.url().port;
    expect(s.requests[0]).toBe(
      `POST /token?scope=a%20b HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nuser-agent: sigguard\r\ncontent-type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\ngrant=x`,
    );
  });

  it('a kept connection the server closed meanwhile: the request goes once more on a new one', async () => {
    const s = await serve((_r, n, sock) => {
      if (n === 1) setTimeout(() => sock.destroy(), 20); // after answering, the server drops the idle connection
      return OK(`r${n}`);
    });
    expect((await get(s.url())).body.toString()).toBe('r1');
    await new Promise((r) => setTimeout(r, 80));
    expect((await get(s.url())).body.toString()).toBe('r2');
    expect(s.connections()).toBe(2);
  });

  it('a new connection closed without an answer is not tried again: REGISTRY_UNREACHABLE', async () => {
    const s = await serve((_r, _n, sock) => {
      sock.destroy();
      return undefined;
    });
    expect(await codeOf(get(s.url()))).toMatch(new RegExp(`^${ReasonCode.REGISTRY_UNREACHABLE}: registry 127.0.0.1:\\d+ unreachable`));
    expect(s.connections()).toBe(1);
  });

  it('a kept connection that then gets a malformed answer is not tried again', async () => {
    const s = await serve((_r, n) =>
      n === 1 ? OK('a') : 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    await get(s.url());
    expect(await codeOf(get(s.url()))).toMatch(
      /^REGISTRY_UNREACHABLE: .*malformed HTTP response: both Content-Length and Transfer-Encoding/,
    );
    expect(s.requests).toHaveLength(2);
  });

  it('closeIdleConnections ends every connection, kept or in use', async () => {
    const s = await serve((_r, n) => (n === 1 ? OK('a') : undefined));
    await get(s.url());
    const pending = codeOf(get(s.url()));
    await new Promise((r) => setTimeout(r, 30));
    closeIdleConnections();
    expect(await pending).toMatch(/^REGISTRY_UNREACHABLE/);
    await new Promise((r) => setTimeout(r, 30));
    expect(s.sockets.every((x) => x.destroyed || x.readableEnded)).toBe(true);
  });
});

describe('failures are refusals with their reason', () => {
  it('a declared body over the cap: RESPONSE_TOO_LARGE before it is read', async () => {
    const s = await serve(() => 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    expect(await codeOf(get(s.url(), { maxBytes: 10 }))).toMatch(
      /^RESPONSE_TOO_LARGE: response from 127.0.0.1:\d+\/v2\/ larger than 10 bytes/,
    );
  });

  it('truncate: the first maxBytes, marked, and the connection not kept', async () => {
    const s = await serve(() => OK('0123456789'));
    const r = await get(s.url(), { maxBytes: 4, truncate: true });
    expect([r.body.toString(), r.truncated]).toEqual(['0123', true]);
    await get(s.url(), { maxBytes: 4, truncate: true });
    expect(s.connections()).toBe(2);
  });

  it('an answer that never ends (a drip): DEADLINE_EXCEEDED at the deadline', async () => {
    const s = await serve((_r, _n, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
      const t = setInterval(() => (sock.destroyed ? clearInterval(t) : sock.write('x')), 10);
      return undefined;
    });
    const t0 = Date.now();
    expect(await codeOf(get(s.url(), { signal: AbortSignal.timeout(300) }))).toMatch(
      /^DEADLINE_EXCEEDED: deadline exceeded while talking to/,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a header that would inject another (a token with CRLF): REGISTRY_BAD_RESPONSE, nothing sent', async () => {
    const s = await serve(() => OK('x'));
    expect(await codeOf(get(s.url(), { headers: { authorization: 'Bearer t\r\nX-Injected: 1' } }))).toMatch(
      /^REGISTRY_BAD_RESPONSE: cannot send a request to 127.0.0.1:\d+: invalid request header "authorization"/,
    );
    expect(s.connections()).toBe(0);
  });

  it('nothing listening: REGISTRY_UNREACHABLE (ECONNREFUSED)', async () => {
    const s = await serve(() => OK('x'));
    const url = s.url();
    await s.close();
    expect(await codeOf(get(url))).toMatch(/^REGISTRY_UNREACHABLE: registry 127.0.0.1:\d+ unreachable \(ECONNREFUSED\)/);
  });
});
