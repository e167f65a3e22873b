/**
 * What the sigguard agent tests share: containerd under a small supervisor (what systemd's
 * Restart=always is on a real node), a ConfigMap volume written as kubelet writes one, and
 * reading Prometheus text.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ContainerdNode, launch, nodeMounts, nodeProcesses, stopNode } from './node/containerd-node.js';
import type { Kubelet } from './node/kubelet.js';

/** Restarts containerd whenever it exits, until stopped: the node's supervisor. */
export function supervise(n: ContainerdNode): { stop(): void; restarts: number } {
  const s = { stopped: false, restarts: 0, stop: () => (s.stopped = true) };
  const watch = () => {
    n.process?.once('exit', () => {
      if (s.stopped) return;
      s.restarts++;
      n.process = undefined;
      launch(n, 30_000).then(watch, (err: unknown) => console.error(`supervisor: ${err}`));
    });
  };
  watch();
  return s;
}

/** A ConfigMap volume as kubelet writes it: a new folder, one rename of ..data, a link per name. */
export class ConfigMapVolume {
  private n = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  publish(files: Record<string, string>): void {
    const ts = `..2026_${++this.n}`;
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(this.dir, ts, dirname(name)), { recursive: true });
      writeFileSync(join(this.dir, ts, name), text);
    }
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const top of new Set(Object.keys(files).map((f) => f.split('/')[0] as string))) {
      if (!existsSync(join(this.dir, top))) symlinkSync(`..data/${top}`, join(this.dir, top));
    }
  }
}

/** The agent's log records (pino JSON lines on stdout) as they come, and the port it listens on once it says. */
export function agentOutput(child: ChildProcess): { lines: Array<Record<string, unknown>>; port: number } {
  const out = { lines: [] as Array<Record<string, unknown>>, port: 0 };
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      try {
        const rec = JSON.parse(l) as Record<string, unknown>;
        out.lines.push(rec);
        if (typeof rec.port === 'number') out.port = rec.port;
      } catch {
        out.lines.push({ msg: l });
      }
    }
  });
  return out;
}

/** The value of one series in a Prometheus text exposition (0 when absent). */
export function series(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined. */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

/** GET on the agent's endpoints; status 0 when nothing answers. */
export async function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, text: await r.text() };
  } catch {
    return { status: 0, text: '' };
  }
}

/** The tests' teardown: supervisor off, pods gone, containerd stopped, nothing left running, the folder removed. */
export async function tearDownNode(t: {
  supervisor: { stop(): void } | undefined;
  node: ContainerdNode | undefined;
  kubelet: Kubelet | undefined;
  dir: string;
}): Promise<number[]> {
  t.supervisor?.stop();
  if (!t.node) return [];
  await t.kubelet?.cleanup();
  t.kubelet?.close();
  await stopNode(t.node);
  const left = nodeProcesses(t.node);
  if (nodeMounts(t.node).length === 0) rmSync(t.dir, { recursive: true, force: true });
  return left;
}
