/**
 * Review of b0c07c7 (the agent's kept connection to the runtime, src/hook/cri-images.ts `keep`):
 * what an attacker who starts many containers could hope for from one long-lived HTTP/2
 * connection. Each start's answer must be its own container's, never another's (streams
 * interleaved, some cancelled by their start's deadline, HPACK's dynamic table churned by
 * thousands of answers with headers and error messages that differ), and a runtime killed and
 * started again on the same socket must answer the very next start.
 * Against a CRI server made with @grpc/grpc-js and CRI's own api.proto, not sigguard's code.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { criNodeImages } from '../../src/hook/cri-images.js';
import { criPackage } from '../support/node/cri-peer.js';
import { tempDir } from '../support/temp.js';

const h = (s: string) => createHash('sha256').update(s).digest('hex');

interface StatusCall {
  containerId: string;
}

/** A runtime answering ContainerStatus for any id: the id's own image, after a delay; ids "gone-*": NOT_FOUND naming the id. */
async function runtime(socket: string): Promise<{ server: grpc.Server; calls: number }> {
  const v1 = criPackage();
  const server = new grpc.Server();
  const state = { server, calls: 0 };
  server.addService(v1.RuntimeService.service, {
    containerStatus(call: grpc.ServerUnaryCall<StatusCall, unknown>, callback: grpc.sendUnaryData<unknown>) {
      state.calls++;
      const id = call.request.containerId;
      // headers that differ on every answer: each enters the peer's HPACK table and pushes older ones out
      const md = new grpc.Metadata();
      md.set('x-container', `${id}-${'p'.repeat(id.length % 97)}`);
      call.sendMetadata(md);
      const delay = Number.parseInt(h(id).slice(0, 2), 16) % 12;
      setTimeout(() => {
        if (id.startsWith('gone-')) {
          callback({ code: grpc.status.NOT_FOUND, details: `container "${id}" not found (${h(id)})` });
          return;
        }
        callback(null, {
          status: {
            id,
            imageRef: `registry.example/app@sha256:${h(`ref ${id}`)}`,
            imageId: `sha256:${h(`id ${id}`)}`,
            image: { image: `sha256:${h(`id ${id}`)}`, userSpecifiedImage: `registry.example/app:${id}` },
          },
          info: {},
        });
      }, delay);
    },
  });
  rmSync(socket, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return state;
}

let servers: grpc.Server[] = [];
afterEach(() => {
  for (const s of servers) s.forceShutdown();
  servers = [];
});

describe('the kept connection under many starts (review of b0c07c7)', () => {
  it("every start gets its own container's answer: interleaved, some cancelled, HPACK churned", async () => {
    const socket = join(tempDir('sigguard-kept-review-'), 'rt.sock');
    const rt = await runtime(socket);
    servers.push(rt.server);
    let checked = 0;
    for (let round = 0; round < 8; round++) {
      const starts = Array.from({ length: 60 }, (_, i) => {
        const id = `${i % 7 === 3 ? 'gone-' : ''}c${round}-${i}-${h(`${round} ${i}`).slice(0, 8 + (i % 40))}`;
        const deadline = new AbortController();
        // settled into a result at once: every start's outcome is looked at, none left unhandled
        const asked = criNodeImages(socket, deadline.signal, true)
          .containerImage(id)
          .then(
            (v) => ({ ok: true as const, v }),
            (e: Error) => ({ ok: false as const, e }),
          );
        if (i % 5 === 1) setTimeout(() => deadline.abort(), i % 4);
        return { id, cancelled: i % 5 === 1, asked };
      });
      for (const s of starts) {
        const got = await s.asked;
        if (got.ok) {
          expect(s.id.startsWith('gone-'), s.id).toBe(false);
          expect(got.v.imageRef).toBe(`registry.example/app@sha256:${h(`ref ${s.id}`)}`);
          expect(got.v.imageId).toBe(`sha256:${h(`id ${s.id}`)}`);
          expect(got.v.userSpecifiedImage).toBe(`registry.example/app:${s.id}`);
          checked++;
        } else if (!s.cancelled) {
          // only a container that is not there fails, and its error names it, not another
          expect(s.id.startsWith('gone-'), `${s.id}: ${got.e.message}`).toBe(true);
          expect(got.e.message).toContain(`container "${s.id}" not found`);
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  }, 60_000);

  it('a runtime killed and started again on the same socket: the next start is answered', async () => {
    const socket = join(tempDir('sigguard-kept-review-'), 'rt.sock');
    const first = await runtime(socket);
    const live = () => new AbortController().signal;
    expect((await criNodeImages(socket, live(), true).containerImage('before')).imageRef).toContain(h('ref before'));
    first.server.forceShutdown();
    // a restart takes the runtime a while: its old connections' end has arrived by the next start
    await new Promise((r) => setTimeout(r, 100));
    const second = await runtime(socket);
    servers.push(second.server);
    expect((await criNodeImages(socket, live(), true).containerImage('after')).imageRef).toContain(h('ref after'));
    expect(second.calls).toBe(1);
  });
});
