/**
 * The host's systemd, as far as `--restart systemd` talks to it, for a machine whose PID 1 is not
 * systemd: a real `dbus-daemon` (Debian's, .tools/bin/dbus-daemon from build/tools.sh) with a
 * private configuration on a socket in a temp dir, and a small service that owns
 * org.freedesktop.systemd1 on it (or serves systemd's private socket directly) and implements
 * Manager.Subscribe and Manager.RestartUnit, ending each job with a JobRemoved signal. What a
 * restart does is the test's: `onRestart` (e.g. stop containerd and let the tests' supervisor start
 * it again).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { DBusConnection, type Message, MessageType } from '../../src/agent/dbus.js';
import { TOOLS, requireTools } from './paths.js';

export const DBUS_DAEMON = join(TOOLS, 'bin/dbus-daemon');
const MANAGER = 'org.freedesktop.systemd1.Manager';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };

/** A dbus-daemon of the test's own: anyone may own any name and send anything (the client's checks are what is tested). */
export async function startBus(dir: string): Promise<{ path: string; stop(): Promise<void> }> {
  requireTools(DBUS_DAEMON);
  const path = join(dir, 'system_bus_socket');
  const config = join(dir, 'bus.conf');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>sigguard-test</type>
  <listen>unix:path=${path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
  );
  const child = spawn(DBUS_DAEMON, [`--config-file=${config}`, '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dbus-daemon did not start: ${err}`)), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`dbus-daemon exited ${code}: ${err}`));
    });
  });
  return {
    path,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

/** A unix-socket server for fault cases; close() also ends the connections it accepted. */
export async function faultServer(path: string, onConnection: (s: Socket) => void): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => srv.listen(path, r));
  return () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
}

/** How the stand-in ends a restart: a job result, a D-Bus error for the call, a job that never ends, or no answer at all. */
export type RestartOutcome = { result: string } | { error: string } | 'never' | 'silent';

export class FakeSystemd {
  readonly restarts: string[] = [];
  /** What RestartUnit does; default: the job ends "done". */
  onRestart: (unit: string, caller: string | undefined) => Promise<RestartOutcome> | RestartOutcome = () => ({ result: 'done' });
  private jobs = 0;
  private readonly conns: DBusConnection[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  uniqueName: string | undefined;

  /** Owns org.freedesktop.systemd1 on the bus at `path`. */
  static async onBus(path: string, name = 'org.freedesktop.systemd1'): Promise<FakeSystemd> {
    const f = new FakeSystemd();
    const conn = await DBusConnection.connect(path, { timeoutMs: 5000 });
    f.serve(conn);
    const [unique] = (await conn.call({ ...BUS, member: 'Hello', timeoutMs: 5000 })).body;
    f.uniqueName = unique as string;
    const [owned] = (await conn.call({ ...BUS, member: 'RequestName', signature: 'su', body: [name, 4], timeoutMs: 5000 })).body;
    if (owned !== 1) throw new Error(`could not own ${name}: ${String(owned)}`);
    return f;
  }

  /** Serves systemd's private socket at `path`: direct connections, no bus. */
  static async direct(path: string): Promise<FakeSystemd> {
    const f = new FakeSystemd();
    f.server = createServer((s) => {
      f.sockets.add(s);
      s.once('close', () => f.sockets.delete(s));
      f.accept(s);
    });
    await new Promise<void>((r) => f.server?.listen(path, r));
    chmodSync(path, 0o600);
    return f;
  }

  /** The server side of SASL EXTERNAL, as systemd answers it. */
  private accept(s: Socket): void {
    let buf = Buffer.alloc(0);
    let step = 0;
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        const line = buf.subarray(0, end).toString('latin1').replace(/^\0/, '');
        buf = buf.subarray(end + 2);
        if (step === 0 && /^AUTH EXTERNAL [0-9a-f]+$/.test(line)) {
          s.write('OK 0123456789abcdef0123456789abcdef\r\n');
          step = 1;
        } else if (step === 1 && line === 'BEGIN') {
          s.off('data', onData);
          this.serve(DBusConnection.adopt(s, buf));
          return;
        } else {
          s.write('ERROR\r\n');
          s.destroy();
          return;
        }
      }
    };
    s.on('data', onData);
  }

  private serve(conn: DBusConnection): void {
    this.conns.push(conn);
    conn.onMessage((m) => void this.handle(conn, m));
  }

  private reply(conn: DBusConnection, m: Message, signature?: string, body?: unknown[]): void {
    conn.send({ type: MessageType.METHOD_RETURN, flags: 0, replySerial: m.serial, destination: m.sender, signature, body });
  }

  private error(conn: DBusConnection, m: Message, name: string, text: string): void {
    conn.send({
      type: MessageType.ERROR,
      flags: 0,
      replySerial: m.serial,
      destination: m.sender,
      errorName: name,
      signature: 's',
      body: [text],
    });
  }

  private async handle(conn: DBusConnection, m: Message): Promise<void> {
    if (m.type !== MessageType.METHOD_CALL) return;
    if (m.path !== MANAGER_PATH || m.interface !== MANAGER) return this.error(conn, m, 'org.freedesktop.DBus.Error.UnknownObject', 'no');
    if (m.member === 'Subscribe') return this.reply(conn, m);
    if (m.member !== 'RestartUnit' || m.signature !== 'ss')
      return this.error(conn, m, 'org.freedesktop.DBus.Error.UnknownMethod', `${m.member} not here`);
    const [unit, mode] = m.body as [string, string];
    this.restarts.push(`${unit} ${mode}`);
    const id = ++this.jobs;
    const job = `${MANAGER_PATH}/job/${id}`;
    const outcome = this.onRestart(unit, m.sender);
    if (outcome === 'silent') return; // the call is never answered
    if (!(outcome instanceof Promise) && typeof outcome === 'object' && 'error' in outcome)
      return this.error(conn, m, outcome.error, `Unit ${unit} refused`);
    this.reply(conn, m, 'o', [job]);
    const ended = await outcome;
    if (ended === 'never' || ended === 'silent') return;
    if ('error' in ended) return;
    this.jobRemoved(id, job, unit, ended.result);
  }

  /** JobRemoved to every subscriber: a broadcast on the bus (or to `destination` alone), each direct connection otherwise. */
  jobRemoved(id: number, job: string, unit: string, result: string, destination?: string): void {
    for (const c of this.conns) {
      try {
        c.send({
          type: MessageType.SIGNAL,
          flags: 0,
          path: MANAGER_PATH,
          interface: MANAGER,
          member: 'JobRemoved',
          destination,
          signature: 'uoss',
          body: [id, job, unit, result],
        });
      } catch {
        // that client is gone
      }
    }
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
