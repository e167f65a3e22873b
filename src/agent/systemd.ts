/**
 * `--restart systemd[:UNIT]`: the host's systemd restarts the runtime's unit, asked over D-Bus
 * (org.freedesktop.systemd1.Manager.RestartUnit(UNIT, "replace")), and the agent waits for the job
 * to end ("done"; anything else is a failed restart).
 *
 * Where systemd is reached (`--systemd-bus`):
 * - `private:PATH` (default `private:/run/systemd/private`): systemd's own socket, a direct
 *   connection to PID 1 that every systemd host has, Kind nodes included (they run no D-Bus
 *   daemon). systemd sends its signals to every direct connection. The socket must be owned by
 *   root (a look-alike socket someone else made is refused).
 * - `system:PATH` (e.g. `system:/run/dbus/system_bus_socket`): through the host's system bus. The
 *   name org.freedesktop.systemd1 must be owned by a root connection, and only that connection's
 *   JobRemoved signal counts (another peer on the bus cannot fake the job's end).
 *
 * Bounded: connect and authentication, every call, and the wait for the job each have a timeout.
 */
import { lstatSync } from 'node:fs';
import { ReasonCode, SigguardError } from '../errors.js';
import { DBusConnection, type Message, MessageType } from './dbus.js';

export interface SystemdBus {
  kind: 'private' | 'system';
  path: string;
}

export const DEFAULT_SYSTEMD_BUS = 'private:/run/systemd/private';
const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };

const usage = (m: string) => new SigguardError(ReasonCode.USAGE, m);
const failed = (m: string) => new SigguardError(ReasonCode.INTERNAL_ERROR, `systemd restart: ${m}`);

export function parseSystemdBus(spec: string): SystemdBus {
  const m = /^(private|system):(\/.+)$/.exec(spec);
  if (!m) throw usage(`--systemd-bus takes private:PATH or system:PATH (an absolute socket path), not "${spec}"`);
  return { kind: m[1] as SystemdBus['kind'], path: m[2] as string };
}

/** A service unit's name as systemd spells one (no paths, no globs, no options). */
export function checkUnitName(unit: string): string {
  if (!/^[A-Za-z0-9:_.\\@-]{1,247}\.service$/.test(unit) || unit.startsWith('-'))
    throw usage(`--restart systemd:UNIT takes a service unit name such as containerd.service, not "${unit}"`);
  return unit;
}

export interface RestartUnitOptions {
  bus: SystemdBus;
  unit: string;
  /** The wait for the restart job to end. */
  jobTimeoutMs: number;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
  /** Who systemd runs as (root); the tests' stand-in may say otherwise. */
  systemdUid?: number;
}

/** Restarts `unit` through the host's systemd; resolves once its job ended "done". */
export async function restartUnit(o: RestartUnitOptions): Promise<void> {
  const callMs = Math.min(o.callTimeoutMs ?? 10_000, o.jobTimeoutMs);
  const uid = o.systemdUid ?? 0;
  const st = lstatSync(o.bus.path, { throwIfNoEntry: false });
  if (st === undefined)
    throw failed(
      `no socket at ${o.bus.path} (mount the host's ${o.bus.kind === 'private' ? 'systemd private socket' : 'system bus socket'})`,
    );
  if (!st.isSocket() || st.uid !== uid) throw failed(`${o.bus.path} is not a socket owned by uid ${uid}: refused`);
  let conn: DBusConnection;
  try {
    conn = await DBusConnection.connect(o.bus.path, { timeoutMs: o.connectTimeoutMs ?? 5000 });
  } catch (err) {
    throw failed((err as Error).message);
  }
  try {
    let owner: string | undefined;
    const ended = new Map<string, string>();
    let wake: (() => void) | undefined;
    conn.onMessage((m: Message) => {
      if (m.type !== MessageType.SIGNAL || m.interface !== MANAGER || m.member !== 'JobRemoved' || m.path !== MANAGER_PATH) return;
      if (o.bus.kind === 'system' && (owner === undefined || m.sender !== owner)) return; // not systemd's
      const [, job, , result] = m.body;
      if (m.signature !== 'uoss' || typeof job !== 'string' || typeof result !== 'string') return;
      ended.set(job, result);
      wake?.();
    });
    let lost: Error | undefined;
    conn.onClose((err) => {
      lost = err;
      wake?.();
    });
    const call = async (c: Omit<Parameters<DBusConnection['call']>[0], 'timeoutMs'>) => (await conn.call({ ...c, timeoutMs: callMs })).body;
    const dest = o.bus.kind === 'system' ? { destination: SYSTEMD } : {};
    if (o.bus.kind === 'system') {
      await call({ ...BUS, member: 'Hello' });
      const [name] = await call({ ...BUS, member: 'GetNameOwner', signature: 's', body: [SYSTEMD] });
      if (typeof name !== 'string') throw new Error('GetNameOwner answered no name');
      const [peerUid] = await call({ ...BUS, member: 'GetConnectionUnixUser', signature: 's', body: [name] });
      if (peerUid !== uid)
        throw new Error(`${SYSTEMD} is owned by ${name}, running as uid ${String(peerUid)}, not systemd (uid ${uid}): refused`);
      owner = name;
      await call({
        ...BUS,
        member: 'AddMatch',
        signature: 's',
        body: [`type='signal',sender='${name}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`],
      });
    }
    await call({ ...dest, path: MANAGER_PATH, interface: MANAGER, member: 'Subscribe' });
    const [job] = await call({
      ...dest,
      path: MANAGER_PATH,
      interface: MANAGER,
      member: 'RestartUnit',
      signature: 'ss',
      body: [o.unit, 'replace'],
    });
    if (typeof job !== 'string') throw new Error('RestartUnit answered no job');
    const deadline = Date.now() + o.jobTimeoutMs;
    while (!ended.has(job)) {
      if (lost !== undefined) throw new Error(`waiting for the restart job of ${o.unit}: ${lost.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the restart job of ${o.unit} (${job}) did not end within ${Math.round(o.jobTimeoutMs / 1000)} s`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    const result = ended.get(job);
    if (result !== 'done') throw new Error(`the restart job of ${o.unit} ended "${result}"`);
  } catch (err) {
    throw err instanceof SigguardError ? err : failed((err as Error).message);
  } finally {
    conn.close();
  }
}
