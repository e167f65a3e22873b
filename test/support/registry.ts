/** Debian's docker-registry (distribution 2.8) on a loopback port, for the integration tiers. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REGISTRY_BIN } from './paths.js';
import { tempDir } from './temp.js';

/**
 * A port that was free a moment ago (check-then-use: another process may take it before the caller
 * binds it). Prefer binding port 0 and keeping the socket; Registry.start retries on a taken port.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class PortTaken extends Error {}

export class Registry {
  private proc: ChildProcess | undefined;
  readonly dir = tempDir('sigguard-registry-');
  readonly log = join(this.dir, 'registry.log');
  /** Sent back in a header by this registry only: an answer from another listener on the port is not taken for it. */
  private readonly nonce = randomBytes(8).toString('hex');
  constructor(readonly port: number) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** On a free port; docker-registry binds it itself, so a port taken meanwhile means another try. */
  static async start(): Promise<Registry> {
    for (let attempt = 1; ; attempt++) {
      const r = new Registry(await freePort());
      try {
        await r.start(0);
        return r;
      } catch (err) {
        await r.stop();
        if (!(err instanceof PortTaken) || attempt >= 5) throw err;
      }
    }
  }

  /**
   * Starts docker-registry on this.port; a restart after stop() is on the same port (the tests'
   * images, hosts.toml files and nodes name it), so a port another process took meanwhile is
   * tried again, `portTakenRetries` times, 250 ms apart, before giving up.
   */
  async start(portTakenRetries = 20): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (err) {
        if (!(err instanceof PortTaken) || attempt >= portTakenRetries) throw err;
        await sleep(250);
      }
    }
  }

  private async startOnce(): Promise<void> {
    const config = join(this.dir, 'config.yml');
    writeFileSync(
      config,
      `version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${this.dir}/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${this.port}
  headers:
    X-Sigguard-Test-Registry: [${this.nonce}]
`,
    );
    const { openSync, statSync } = await import('node:fs');
    // this start's own lines only: the log is appended to across restarts
    const from = (() => {
      try {
        return statSync(this.log).size;
      } catch {
        return 0;
      }
    })();
    const out = openSync(this.log, 'a');
    this.proc = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', out, out] });
    for (let i = 0; i < 200; i++) {
      try {
        const res = await fetch(`http://${this.host}/v2/`);
        if (res.status === 200 && res.headers.get('x-sigguard-test-registry') === this.nonce) return;
      } catch {
        /* not up yet */
      }
      if (this.proc.exitCode !== null) {
        const log = readFileSync(this.log).subarray(from).toString('utf8');
        if (/address already in use/.test(log)) throw new PortTaken(`port ${this.port} taken: ${log.slice(-500)}`);
        throw new Error(`docker-registry exited: ${log.slice(-2000)}`);
      }
      await sleep(50);
    }
    throw new Error('docker-registry did not answer in 10 s');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.proc = undefined;
  }

  /** Access-log request lines ("METHOD /path"), for counting what a command asked for. */
  requests(): string[] {
    const text = readFileSync(this.log, 'utf8');
    const out: string[] = [];
    for (const m of text.matchAll(/"([A-Z]+) (\/v2\/[^ ]*) HTTP\/[0-9.]+"/g)) out.push(`${m[1]} ${m[2]}`);
    return out;
  }
}
