/**
 * Review of the registry client's connections (src/registry/http.ts) as an attacker who answers
 * the requests, or who shares a registry with the images verified:
 * - a connection made under one TLS setting (skip_verify, another CA) is never handed to a
 *   request made under another: a request that verifies the certificate is refused by one that
 *   does not verify, whatever was kept from before;
 * - a TLS handshake that never completes, or a kept connection that dies and a new one that
 *   stalls, ends at the deadline;
 * - a body read to the connection's end that closeIdleConnections cuts is an error, not a
 *   shorter body taken whole;
 * - bytes that come on a kept connection while no request is on it (the rest of a response the
 *   server framed otherwise than we did) end it: they are never read as the next request's answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeIdleConnections, httpRequest } from '../../src/registry/http.js';
import { makePki } from '../support/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'sg-http-review-'));
const pki = makePki(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const closers: Array<() => void> = [];
afterEach(() => {
  closeIdleConnections();
  for (const c of closers.splice(0)) c();
});

function track(server: Server, sockets: Socket[]): Promise<number> {
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

const OK = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const outcome = (p: Promise<{ body: Buffer }>) =>
  p.then(
    (r) => `ok: ${r.body.toString()}`,
    (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
  );

describe('TLS settings and the connections kept', () => {
  it('a connection made with skip_verify (or another CA) never serves a request that verifies', async () => {
    const sockets: Socket[] = [];
    let connections = 0;
    const server = createTlsServer({ key: pki.key, cert: pki.cert }, (s) => {
      connections++;
      sockets.push(s);
      s.on('error', () => {});
      s.on('data', () => s.write(OK('signed')));
    });
    const port = await track(server, sockets);
    const url = new URL(`https://localhost:${port}/v2/`);
    const req = (tls: { ca?: string[]; insecureSkipVerify?: boolean } | undefined) =>
      outcome(httpRequest(url, { maxBytes: 1024, signal: AbortSignal.timeout(5000), ...(tls ? { tls } : {}) }));
    expect(await req({ insecureSkipVerify: true })).toBe('ok: signed');
    // the kept skip_verify connection is not the one a verifying request takes
    expect(await req(undefined)).toMatch(/^REGISTRY_UNREACHABLE: .*(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to)/i);
    expect(await req({ insecureSkipVerify: false })).toMatch(/^REGISTRY_UNREACHABLE/);
    expect(await req({ ca: [pki.ca] })).toBe('ok: signed');
    // a kept connection trusted through one CA list is not taken under another
    expect(await req({ ca: ['-----BEGIN CERTIFICATE-----\nnot this one\n-----END CERTIFICATE-----\n'] })).not.toBe('ok: signed');
    expect(await req({ insecureSkipVerify: true })).toBe('ok: signed');
    expect(await req({ ca: [pki.ca] })).toBe('ok: signed');
    // handshakes done: the skip_verify connection and the CA'd one, each reused (refused ones never complete)
    expect(connections).toBe(2);
  });

  it('a TLS handshake the server never answers ends at the deadline', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
    });
    const port = await track(server, sockets);
    const t0 = Date.now();
    expect(
      await outcome(httpRequest(new URL(`https://localhost:${port}/v2/`), { maxBytes: 1024, signal: AbortSignal.timeout(300) })),
    ).toMatch(/^DEADLINE_EXCEEDED/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a kept connection that died, then a new one that never answers: the deadline, one retry only', async () => {
    const sockets: Socket[] = [];
    let n = 0;
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.on('data', () => {
        n++;
        if (n === 1) {
          s.write(OK('first'));
          setTimeout(() => s.destroy(), 10);
        } // later requests: no answer
      });
    });
    const port = await track(server, sockets);
    const url = new URL(`http://127.0.0.1:${port}/v2/`);
    expect(await outcome(httpRequest(url, { maxBytes: 1024, signal: AbortSignal.timeout(5000) }))).toBe('ok: first');
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    expect(await outcome(httpRequest(url, { maxBytes: 1024, signal: AbortSignal.timeout(300) }))).toMatch(/^DEADLINE_EXCEEDED/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(sockets).toHaveLength(2);
  });
});

describe('bodies and kept connections', () => {
  it('closeIdleConnections cutting a body read to the end: an error, never the part read so far', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\n\r\n{"schemaVersion":2,'));
    });
    const port = await track(server, sockets);
    const pending = outcome(httpRequest(new URL(`http://127.0.0.1:${port}/v2/`), { maxBytes: 1024, signal: AbortSignal.timeout(5000) }));
    await new Promise((r) => setTimeout(r, 50));
    closeIdleConnections();
    expect(await pending).toMatch(/^REGISTRY_UNREACHABLE/);
  });

  it('bytes on a kept connection between requests end it: never read as the next answer', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      let n = 0;
      s.on('data', () => {
        n++;
        if (n === 1) {
          // a HEAD answered with a body the client does not expect (a server that frames it otherwise):
          // its first bytes come at once, the rest while the next request is on the connection
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n');
          setTimeout(() => s.write('junk'), 20);
        } else s.write(OK('smuggled')); // the rest of that body, which looks like an answer
      });
    });
    const port = await track(server, sockets);
    const url = new URL(`http://127.0.0.1:${port}/v2/`);
    const head = await httpRequest(url, { method: 'HEAD', maxBytes: 1024, signal: AbortSignal.timeout(5000) });
    expect(head.status).toBe(200);
    await new Promise((r) => setTimeout(r, 80));
    // the kept connection got 'junk' while idle: the next request goes on a new connection
    expect(await outcome(httpRequest(url, { maxBytes: 1024, signal: AbortSignal.timeout(5000) }))).not.toBe('ok: smuggled');
    expect(sockets.length).toBeGreaterThanOrEqual(2);
  });
});
