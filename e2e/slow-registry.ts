/**
 * The local node's slow registry, for the e2e cases where the registry answers later than the
 * hook's deadline: a loopback relay (test/support/fault-proxy.ts, port 0, kept open) in front of
 * the real docker-registry holds every request for `delayMs` before relaying it, and is put in
 * the registry's place for the name pods use by rewriting the node's
 * certs.d/<alias>/hosts.toml, the file both containerd and the hook reach the registry through.
 * `fast()` puts hosts.toml back and closes the relay; a request still held is dropped (its timer
 * cleared), so nothing is answered after the case.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaultProxy } from '../test/support/fault-proxy.js';
import { hostsToml } from '../test/support/node/containerd-node.js';

function writeHosts(certsDir: string, host: string, origin: string): void {
  const file = join(certsDir, host, 'hosts.toml');
  writeFileSync(`${file}.tmp`, hostsToml(origin));
  renameSync(`${file}.tmp`, file);
}

export class SlowRegistry {
  private constructor(
    private readonly proxy: FaultProxy,
    private readonly restore: () => void,
  ) {}

  /** Requests relayed so far or held now (what reached the slow registry). */
  get requests(): number {
    return this.proxy.seen.length;
  }

  /**
   * From now on, `alias` (a certs.d host of the node in `certsDir`) reaches `registryHost` only
   * through a relay that holds each request `delayMs` first.
   */
  static async start(opts: { certsDir: string; alias: string; registryHost: string; delayMs: number }): Promise<SlowRegistry> {
    const proxy = await FaultProxy.start({ upstream: opts.registryHost });
    proxy.overrides.push(
      (_req, res) =>
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), opts.delayMs);
          // the hook gave up (deadline) or the relay closed: drop the request, answer nothing
          res.once('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        }),
    );
    writeHosts(opts.certsDir, opts.alias, `http://${proxy.host}`);
    return new SlowRegistry(proxy, () => writeHosts(opts.certsDir, opts.alias, `http://${opts.registryHost}`));
  }

  /** hosts.toml as before, the relay closed. */
  async fast(): Promise<void> {
    this.restore();
    await this.proxy.close();
  }
}
