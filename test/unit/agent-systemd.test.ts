/**
 * `--restart systemd`: the agent asks systemd over D-Bus to restart the runtime's unit
 * (src/agent/systemd.ts over src/agent/dbus.ts). Through a real dbus-daemon (Debian's, a private
 * configuration on a socket in a temp dir) to a stand-in that owns org.freedesktop.systemd1, and
 * directly on a stand-in of systemd's private socket. Attack and fault cases: a bus that never
 * answers, a RestartUnit error, a job that ends "failed", a job that never ends, a name owned by
 * nobody, a JobRemoved faked by another peer, a socket not owned by systemd's user, malformed and
 * oversized messages.
 */
import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DBusConnection, type Message, MessageStream, decodeMessage, encodeMessage, splitSignature } from '../../src/agent/dbus.js';
import { containerdPids, parseRestart, restartRuntime } from '../../src/agent/restart.js';
import { restartUnit } from '../../src/agent/systemd.js';
import { FakeSystemd, faultServer, startBus } from '../support/fake-systemd.js';

let dir: string;
let bus: Awaited<ReturnType<typeof startBus>>;
const stops: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-dbus-'));
  bus = await startBus(dir);
}, 20_000);
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});
afterAll(async () => {
  await bus?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function systemdOnBus(): Promise<FakeSystemd> {
  const f = await FakeSystemd.onBus(bus.path);
  stops.push(() => f.stop());
  return f;
}
const viaBus = (o: { unit?: string; jobTimeoutMs?: number; callTimeoutMs?: number } = {}) =>
  restartUnit({
    bus: { kind: 'system', path: bus.path },
    unit: o.unit ?? 'containerd.service',
    jobTimeoutMs: o.jobTimeoutMs ?? 5000,
    ...(o.callTimeoutMs ? { callTimeoutMs: o.callTimeoutMs } : {}),
  });

describe('--restart systemd: parsing', () => {
  it('names the unit (default: the runtime’s) and where systemd is reached; anything else is a usage error', () => {
    expect(parseRestart('systemd')).toEqual({ kind: 'systemd', unit: undefined, bus: { kind: 'private', path: '/run/systemd/private' } });
    expect(parseRestart('systemd:crio.service', 'system:/run/dbus/system_bus_socket')).toEqual({
      kind: 'systemd',
      unit: 'crio.service',
      bus: { kind: 'system', path: '/run/dbus/system_bus_socket' },
    });
    expect(parseRestart('systemd:containerd@node-1.service').kind).toBe('systemd');
    for (const bad of [
      'systemd:',
      'systemd:containerd',
      'systemd:../x.service',
      'systemd:a b.service',
      'systemd:multi-user.target',
      'systemd:-x.service',
    ])
      expect(() => parseRestart(bad), bad).toThrow(/systemd:UNIT/);
    for (const bad of ['private:', 'system:relative', 'tcp:host=x,port=1', '/run/systemd/private'])
      expect(() => parseRestart('systemd', bad), bad).toThrow(/--systemd-bus/);
  });
});

describe('--restart systemd: through the system bus (a real dbus-daemon)', () => {
  it('RestartUnit(unit, "replace"), then waits for its job to end "done"', async () => {
    const f = await systemdOnBus();
    let release: () => void = () => {};
    f.onRestart = () => new Promise((r) => (release = () => r({ result: 'done' })));
    let done = false;
    const p = viaBus().then(() => (done = true));
    await until(() => f.restarts.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false); // the job has not ended: the agent waits
    release();
    await p;
    expect(f.restarts).toEqual(['containerd.service replace']);
  });

  it('a job that ends "failed" (or "canceled", "timeout", ...) is a failed restart', async () => {
    const f = await systemdOnBus();
    for (const result of ['failed', 'canceled', 'dependency', 'timeout']) {
      f.onRestart = () => ({ result });
      await expect(viaBus()).rejects.toThrow(`ended "${result}"`);
    }
  });

  it('RestartUnit refused by systemd (no such unit, access denied): a failed restart with systemd’s error', async () => {
    const f = await systemdOnBus();
    f.onRestart = () => ({ error: 'org.freedesktop.systemd1.NoSuchUnit' });
    await expect(viaBus({ unit: 'nope.service' })).rejects.toThrow(/systemd restart: .*NoSuchUnit/);
  });

  it('a job that never ends: bounded by the job timeout', async () => {
    const f = await systemdOnBus();
    f.onRestart = () => 'never';
    const t0 = Date.now();
    await expect(viaBus({ jobTimeoutMs: 700 })).rejects.toThrow(/did not end within/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('systemd on the bus never answers RestartUnit: bounded by the call timeout', async () => {
    const f = await systemdOnBus();
    f.onRestart = () => 'silent';
    const t0 = Date.now();
    await expect(viaBus({ callTimeoutMs: 400 })).rejects.toThrow(/no answer to org.freedesktop.systemd1.Manager.RestartUnit within 400 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('nobody owns org.freedesktop.systemd1: refused (the bus says so)', async () => {
    await expect(viaBus()).rejects.toThrow(/systemd restart: .*NameHasNoOwner/);
  });

  it('a JobRemoved "done" faked by another peer on the bus does not count: only the owner’s', async () => {
    const f = await systemdOnBus();
    const liar = await FakeSystemd.onBus(bus.path, 'org.example.liar');
    stops.push(() => liar.stop());
    f.onRestart = async (_unit, caller) => {
      // the liar sends the job's end first, as if it were systemd: broadcast, and straight to the agent
      liar.jobRemoved(1, '/org/freedesktop/systemd1/job/1', 'containerd.service', 'done');
      liar.jobRemoved(1, '/org/freedesktop/systemd1/job/1', 'containerd.service', 'done', caller);
      await new Promise((r) => setTimeout(r, 300));
      return { result: 'failed' };
    };
    await expect(viaBus()).rejects.toThrow('ended "failed"');
  });

  it('org.freedesktop.systemd1 owned by a connection of another user: refused before any restart', async () => {
    const f = await systemdOnBus(); // runs as root here; systemd is taken to be uid 4242 for this case
    const as4242 = () =>
      restartUnit({ bus: { kind: 'system', path: bus.path }, unit: 'containerd.service', jobTimeoutMs: 2000, systemdUid: 4242 });
    await expect(as4242()).rejects.toThrow(/not a socket owned by uid 4242/); // a socket someone else made
    chownSync(bus.path, 4242, 0);
    try {
      await expect(as4242()).rejects.toThrow(/owned by :1\.\d+, running as uid 0, not systemd \(uid 4242\)/);
    } finally {
      chownSync(bus.path, 0, 0);
    }
    expect(f.restarts).toEqual([]);
  });
});

describe('--restart systemd: systemd’s private socket (a direct connection)', () => {
  const direct = async () => {
    const path = join(dir, `private-${Math.random().toString(36).slice(2)}`);
    const f = await FakeSystemd.direct(path);
    stops.push(() => f.stop());
    return { f, path };
  };

  it('RestartUnit and JobRemoved without a bus daemon', async () => {
    const { f, path } = await direct();
    await restartUnit({ bus: { kind: 'private', path }, unit: 'crio.service', jobTimeoutMs: 5000 });
    expect(f.restarts).toEqual(['crio.service replace']);
    f.onRestart = () => ({ result: 'failed' });
    await expect(restartUnit({ bus: { kind: 'private', path }, unit: 'crio.service', jobTimeoutMs: 5000 })).rejects.toThrow('"failed"');
  });

  it('restartRuntime: the runtime’s unit by default (crio.service for CRI-O), then the CRI awaited (bounded)', async () => {
    const { f, path } = await direct();
    const m = parseRestart('systemd', `private:${path}`);
    const cri = join(dir, 'no-cri.sock');
    for (const daemon of ['containerd', 'crio'] as const)
      await expect(restartRuntime(m, { containerdConfig: '/x', socket: cri, timeoutMs: 500, daemon })).rejects.toThrow(/did not answer/);
    expect(f.restarts).toEqual(['containerd.service replace', 'crio.service replace']);
  });

  it('a unit that is not the runtime’s (systemd restarts another daemon, the runtime reading the config runs on): a failed restart, not a ready node', async () => {
    const { f, path } = await direct();
    const m = parseRestart('systemd:docker-containerd.service', `private:${path}`);
    // the runtime: a root process named crio reading CRI-O's default configuration (cat, waiting on its stdin)
    const runtime = spawn('/bin/cat', [], { argv0: 'crio', stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((r) => runtime.once('exit', r));
    stops.push(() => void runtime.kill('SIGKILL'));
    const o = {
      containerdConfig: '/etc/crio/crio.conf',
      socket: join(dir, 'cri-answering.sock'),
      timeoutMs: 2000,
      daemon: 'crio' as const,
    };
    const cri = createServer((_req, res) => {
      res.addTrailers({ 'grpc-status': '5', 'grpc-message': 'not found' });
      res.writeHead(200, { 'content-type': 'application/grpc' }).end();
    });
    await new Promise<void>((r) => cri.listen(o.socket, r));
    stops.push(() => new Promise<void>((r) => cri.close(() => r())));
    expect(containerdPids(o.containerdConfig, '/proc', 'crio')).toContain(runtime.pid);
    // the job ends "done" and the (never restarted) CRI answers: before, the runtime was taken as restarted
    await expect(restartRuntime(m, o)).rejects.toThrow(/still runs: docker-containerd.service is not its unit/);
    // the runtime's own unit: systemd stops it (and starts another): restarted
    f.onRestart = async () => {
      runtime.kill('SIGKILL');
      await exited;
      return { result: 'done' };
    };
    expect(await restartRuntime(m, o)).toBe(true);
  });

  it('no socket, or a socket that never answers: bounded, one-line errors', async () => {
    await expect(
      restartUnit({ bus: { kind: 'private', path: join(dir, 'absent') }, unit: 'x.service', jobTimeoutMs: 1000 }),
    ).rejects.toThrow(/no socket at/);
    const path = join(dir, 'silent');
    stops.push(await faultServer(path, () => {})); // accepts, never answers
    const t0 = Date.now();
    await expect(
      restartUnit({ bus: { kind: 'private', path }, unit: 'x.service', jobTimeoutMs: 1000, connectTimeoutMs: 500 }),
    ).rejects.toThrow(/no D-Bus authentication .* within 500 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('authenticated, then silent: every call is bounded', async () => {
    const path = join(dir, 'mute');
    stops.push(await faultServer(path, (s) => s.once('data', () => s.write('OK 0123456789abcdef0123456789abcdef\r\n'))));
    await expect(
      restartUnit({ bus: { kind: 'private', path }, unit: 'x.service', jobTimeoutMs: 5000, callTimeoutMs: 300 }),
    ).rejects.toThrow(/no answer to org.freedesktop.systemd1.Manager.Subscribe within 300 ms/);
  });

  it('a peer that sends garbage, or closes mid-job: a failed restart, never a crash or a hang', async () => {
    for (const reply of [Buffer.from('XYZW0000000000000000'), Buffer.alloc(64, 0x6c)]) {
      const path = join(dir, `garbage-${reply[0]}`);
      stops.push(
        await faultServer(path, (s) =>
          s.once('data', () => {
            s.write('OK 0123456789abcdef0123456789abcdef\r\n');
            s.once('data', () => s.write(reply));
          }),
        ),
      );
      await expect(restartUnit({ bus: { kind: 'private', path }, unit: 'x.service', jobTimeoutMs: 3000 })).rejects.toThrow(
        /systemd restart: (D-Bus protocol|.*closed)/,
      );
    }
    const { f, path } = await direct();
    f.onRestart = () => {
      setTimeout(() => void f.stop(), 100);
      return 'never';
    };
    await expect(restartUnit({ bus: { kind: 'private', path }, unit: 'x.service', jobTimeoutMs: 5000 })).rejects.toThrow(/closed/);
  });
});

describe('D-Bus wire format', () => {
  it('round-trips the types the agent and its stand-in use; splits signatures, refuses bad ones', () => {
    const m = {
      type: 4,
      flags: 0,
      path: '/org/freedesktop/systemd1',
      interface: 'org.freedesktop.systemd1.Manager',
      member: 'JobRemoved',
      signature: 'uossa{sv}(ybnqixtd)',
      body: [
        7,
        '/org/freedesktop/systemd1/job/7',
        'containerd.service',
        'done',
        [['k', { signature: 'as', value: ['a', 'ü'] }]],
        [1, true, -2, 3, -4, 5n, 6n, 0.5],
      ],
    };
    const back = decodeMessage(encodeMessage(m, 9));
    expect(back).toMatchObject({ ...m, serial: 9 });
    expect(splitSignature('a{sv}(uu)s')).toEqual(['a{sv}', '(uu)', 's']);
    for (const bad of ['a', '(', '()', 'a{s}', '{sv}', 'z', ')']) expect(() => splitSignature(bad), bad).toThrow(/protocol/);
  });

  it('refuses malformed messages: bad padding, a bool of 2, a string without its NUL, a body past its length', () => {
    const good = encodeMessage({ type: 1, flags: 0, path: '/a', member: 'M', signature: 'bs', body: [true, 'x'] }, 1);
    const bool2 = Buffer.from(good);
    bool2.writeUInt32LE(2, good.length - 10);
    expect(() => decodeMessage(bool2)).toThrow(/boolean/);
    const noNul = Buffer.from(good);
    noNul[good.length - 1] = 0x41;
    expect(() => decodeMessage(noNul)).toThrow(/NUL/);
    expect(() => decodeMessage(Buffer.concat([good, Buffer.alloc(8)]))).toThrow(/length/);
    const serial0 = Buffer.from(good);
    serial0.writeUInt32LE(0, 8);
    expect(() => decodeMessage(serial0)).toThrow(/serial 0/);
  });

  it('frames a byte stream one byte at a time, and skips an oversized message without holding it', () => {
    const got: Message[] = [];
    const s = new MessageStream((m) => got.push(m), 4096);
    const small = encodeMessage({ type: 4, flags: 0, path: '/a', interface: 'i.x', member: 'S', signature: 's', body: ['one'] }, 1);
    const big = encodeMessage(
      { type: 4, flags: 0, path: '/a', interface: 'i.x', member: 'S', signature: 's', body: ['x'.repeat(10_000)] },
      2,
    );
    const all = Buffer.concat([small, big, small]);
    for (let i = 0; i < all.length; i++) s.push(all.subarray(i, i + 1));
    expect(got.map((m) => m.serial)).toEqual([1, 1]);
    expect(s.skipped).toBe(1);
    s.push(Buffer.concat([small, big.subarray(0, 100)]));
    s.push(Buffer.concat([big.subarray(100), small]));
    expect(got.length).toBe(4);
  });

  it('a connection to a real dbus-daemon: Hello, then a call to a missing name is an error reply', async () => {
    const c = await DBusConnection.connect(bus.path, { timeoutMs: 2000 });
    try {
      const [name] = (
        await c.call({
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'Hello',
          timeoutMs: 2000,
        })
      ).body;
      expect(name).toMatch(/^:1\.\d+$/);
      await expect(c.call({ destination: 'org.example.none', path: '/x', member: 'M', timeoutMs: 2000 })).rejects.toThrow(/ServiceUnknown/);
    } finally {
      c.close();
    }
  });
});

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('not within time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
