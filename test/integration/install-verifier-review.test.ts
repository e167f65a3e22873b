/**
 * Review of install/install.sh's verifier service (df4b435): failure paths the Kind-scripts test
 * does not take. install.sh runs for real against a local containerd 2.1 node laid out like a
 * Kind node (test/support/node/containerd-node.ts, SIGGUARD_ROOT=<node folder>), with the node's
 * stand-in systemctl (e2e/kind/standins/node/systemctl, which runs the unit's ExecStart) and,
 * where a case needs systemd to answer as a real one does, a wrapper in front of it that answers
 * that one command the way systemd does and hands everything else to the stand-in.
 *
 * containerd is not restarted (--restart true): no pod runs here, the hook entry is only read.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAgentDirect } from '../support/agent-socket.js';
import { run } from '../support/cli.js';
import { exeOf } from '../support/node/containerd-node.js';
import {
  type InstallNode,
  STANDIN_SYSTEMCTL,
  UNIT,
  installArgs as installArgsFor,
  ownLines,
  startInstallNode,
} from '../support/node/install-fixture.js';
import { ROOT } from '../support/paths.js';

let n: InstallNode;
const at = (p: string) => n.at(p);
const agentSocket = () => at('/var/lib/sigguard/agent/hook.sock');
const verifierPid = () => n.verifier.pid();
const hookArgs = (): string[] => JSON.parse(readFileSync(n.node.baseSpec, 'utf8')).hooks.createRuntime?.[0]?.args ?? [];
const installArgs = installArgsFor();
const installSh = (args: string[], pathFirst?: string) => n.installSh(args, pathFirst);

/** A systemctl that answers `when` (the whole command line) with `answer`, and hands the rest to the stand-in. */
function systemctlWrapper(name: string, condition: string, answer: string, code: number): string {
  const dir = join(n.outside, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'systemctl'),
    `#!/usr/bin/env bash
set -euo pipefail
root=\${SIGGUARD_ROOT%/}
running() { [[ -f $root/run/standin-sigguard-verifier.pid ]] && kill -0 "$(cat "$root/run/standin-sigguard-verifier.pid")" 2>/dev/null; }
if ${condition}; then
  printf '%s\\n' ${JSON.stringify(answer)} >&2
  exit ${code}
fi
exec ${STANDIN_SYSTEMCTL} "$@"
`,
    { mode: 0o755 },
  );
  return dir;
}

beforeAll(async () => {
  n = await startInstallNode('sgv');
}, 120_000);

afterAll(async () => {
  await n?.stop();
}, 60_000);

describe('install.sh verifier service: failure paths', () => {
  it('a re-install that fails before the verifier is restarted leaves no verifier of the replaced binary deciding for the hook', async () => {
    const first = await installSh(installArgs);
    expect(first.code, first.stderr).toBe(0);
    const before = verifierPid();
    expect(before).toBeDefined();
    expect(exeOf(before!)).toBe(at('/usr/local/bin/sigguard'));
    expect(hookArgs().slice(-2)).toEqual(['--agent', agentSocket()]);

    // the node's systemd refuses the enable (a read-only /etc/systemd, a policy denial, a bus timeout)
    const refusing = systemctlWrapper(
      'enable-refused',
      `[[ "$*" == 'enable sigguard-verifier.service' ]]`,
      'Failed to enable unit: Access denied',
      1,
    );
    const again = await installSh(installArgs, refusing);
    expect(again.code).toBe(1);
    expect(ownLines(again.stderr)).toEqual(['install.sh: enabling sigguard-verifier.service failed: Failed to enable unit: Access denied']);
    // the binary was replaced, the hook entry still asks the socket...
    expect(hookArgs().slice(-2)).toEqual(['--agent', agentSocket()]);
    // ...and what answers there must not be the verifier of the binary this install replaced
    const now = verifierPid();
    const exe = now === undefined ? undefined : exeOf(now);
    if (now !== undefined) {
      // it does answer the hook's requests (here a decline: no registry)
      const answer = await askAgentDirect(agentSocket(), {
        image: 'localhost:5001/sigguard-e2e/signed:v1',
        config: '/etc/sigguard/config.yaml',
        policy: at('/etc/sigguard/policy.yaml'),
        until: Date.now() + 5000,
      });
      expect(answer.v).toBe(1);
    }
    expect(
      now === before && exe?.endsWith(' (deleted)')
        ? `pid ${now}, the previous install's verifier, still answers, running ${exe}`
        : 'no stale verifier',
    ).toBe('no stale verifier');
  }, 180_000);

  it('--uninstall completes when the verifier unit is already gone (systemd: "Unit ... not loaded", exit 5)', async () => {
    const ok = await installSh(installArgs);
    expect(ok.code, ok.stderr).toBe(0);
    expect(verifierPid()).toBeDefined();
    // the service stopped and its unit taken out by hand (or by configuration management), the
    // record still lists it
    await run(STANDIN_SYSTEMCTL, ['disable', '--now', 'sigguard-verifier.service'], { env: { SIGGUARD_ROOT: n.root } });
    rmSync(at(UNIT));
    expect(readFileSync(at('/etc/sigguard/installed-files'), 'utf8')).toContain(UNIT);
    // systemd stops no unit it has not loaded: "Failed to stop X: Unit X not loaded.", exit 5
    const systemd = systemctlWrapper(
      'not-loaded',
      `[[ "$*" == 'stop sigguard-verifier.service' && ! -f $root${UNIT} ]] && ! running`,
      'Failed to stop sigguard-verifier.service: Unit sigguard-verifier.service not loaded.',
      5,
    );
    const un = await installSh(['--uninstall', '--restart', 'true', '--wait', '10'], systemd);
    expect({ code: un.code, own: ownLines(un.stderr) }).toEqual({ code: 0, own: [] });
    expect(existsSync(at('/usr/local/bin/sigguard'))).toBe(false);
    expect(existsSync(at('/etc/sigguard'))).toBe(false);
  }, 180_000);
});

describe('install.sh: a path systemd cannot take in ExecStart', () => {
  it('fails in one line, before any file is replaced', async () => {
    const root = mkdtempSync(join(n.outside, 'a root with a space '));
    mkdirSync(join(root, 'etc/containerd'), { recursive: true });
    writeFileSync(join(root, 'etc/containerd/config.toml'), '');
    mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'src/keys'), { recursive: true });
    copyFileSync(at('/src/sigguard'), join(root, 'src/sigguard'));
    copyFileSync(at('/src/keys/cosign.pub'), join(root, 'src/keys/cosign.pub'));
    writeFileSync(join(root, 'src/policy.yaml'), readFileSync(at('/src/policy.yaml'), 'utf8'));
    const r = await run('bash', [join(ROOT, 'install/install.sh'), ...installArgs], {
      env: { PATH: `${join(ROOT, 'e2e/kind/standins/node')}:${process.env.PATH}`, SIGGUARD_ROOT: root },
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(ownLines(r.stderr)).toHaveLength(1);
    expect(ownLines(r.stderr)[0]).toContain('only letters, digits and ._/+:@- are taken');
    // checked with everything else "before changing anything"
    expect(existsSync(join(root, 'usr/local/bin/sigguard'))).toBe(false);
  }, 120_000);
});
