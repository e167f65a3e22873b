/**
 * Review of 8f6506a/d8f30e0 (install.sh's verifier service): paths the review tests do not take.
 * install.sh runs for real against a local containerd 2.1 node laid out like a Kind node, with the
 * node's stand-in systemctl (e2e/kind/standins/node/systemctl) and, where a case needs it, a
 * wrapper in front of a command that does what a real node does at that moment.
 *
 * containerd is not restarted (--restart true): no pod runs here, the hook entry is only read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstallNode, STANDIN_SYSTEMCTL, UNIT, installArgs, ownLines, startInstallNode } from '../support/node/install-fixture.js';

let n: InstallNode;
const at = (p: string) => n.at(p);
const installSh = (args: string[], pathFirst?: string) => n.installSh(args, pathFirst);
const busyPidFile = () => at('/busy.pid');
const killBusy = () => {
  if (!existsSync(busyPidFile())) return;
  try {
    process.kill(Number(readFileSync(busyPidFile(), 'utf8')), 'SIGKILL');
  } catch {}
  rmSync(busyPidFile(), { force: true });
};

beforeAll(async () => {
  n = await startInstallNode('sgr');
  writeFileSync(n.at('/src/broken-policy.yaml'), 'version: 1\nmode: nonsense\n');
}, 120_000);

afterAll(async () => {
  if (n) killBusy();
  await n?.stop();
}, 60_000);

describe('install.sh restore path', () => {
  it('a policy that fails validation while the new binary is executing (a hook starting a container) still puts the previous files back and the verifier back running', async () => {
    const first = await installSh(installArgs());
    expect(first.code, first.stderr).toBe(0);
    expect(n.verifier.pid()).toBeDefined();

    // install.sh reads the previous install's record (grep -E ^/ installed-files) right after the
    // new binary is in place: at that moment a container start runs the new binary as its hook.
    // Here a long-lived process of the new binary stands in for that hook.
    const realGrep = execFileSync('bash', ['-c', 'command -v grep'], { encoding: 'utf8' }).trim();
    const dir = join(n.outside, 'busy');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'grep'),
      `#!/usr/bin/env bash
root=\${SIGGUARD_ROOT%/}
if [[ $1 == -E && $2 == '^/' && ! -f $root/busy.pid ]]; then
  setsid "$root/usr/local/bin/sigguard" verifier --socket "$root/busy.sock" --policy "$root/src/policy.yaml" </dev/null >/dev/null 2>&1 &
  printf '%s\\n' "$!" >"$root/busy.pid"
  for ((i = 0; i < 50; i++)); do
    [[ $(readlink "/proc/$!/exe" 2>/dev/null) != "$root/usr/local/bin/sigguard" ]] || break
    sleep 0.05
  done
fi
exec ${realGrep} "$@"
`,
      { mode: 0o755 },
    );
    try {
      const r = await installSh(installArgs('/src/broken-policy.yaml'), dir);
      expect(existsSync(busyPidFile()), 'the new binary ran while install.sh restored').toBe(true);
      expect(r.code).toBe(1);
      const own = ownLines(r.stderr);
      expect(own).toHaveLength(1);
      // today: "install.sh: failed at line 343: cp -a -- .../backup/bin .../usr/local/bin/sigguard"
      // (cp onto an executing file: Text file busy); the verifier is left stopped
      expect(own[0]).toMatch(/is not valid on this node: .*\(the previous files are back\)$/);
      expect(n.verifier.pid(), "the previous install's verifier, running again").toBeDefined();
    } finally {
      killBusy();
    }
  }, 180_000);
});

describe('install.sh --uninstall on a systemd that answers as a real one', () => {
  it('the unit file taken out by hand while the verifier still runs: systemd still stops the loaded unit, so the uninstall completes', async () => {
    const ok = await installSh(installArgs());
    expect(ok.code, ok.stderr).toBe(0);
    expect(n.verifier.pid()).toBeDefined();
    rmSync(at(UNIT));
    // a real systemd: `disable --now` of a unit whose file is gone fails before it stops anything
    // ("Failed to disable unit: Unit file X does not exist.", exit 1), while `stop` of the loaded
    // unit works (the stand-in's stop)
    const dir = join(n.outside, 'real-disable');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'systemctl'),
      `#!/usr/bin/env bash
root=\${SIGGUARD_ROOT%/}
if [[ ( "$*" == 'disable --now sigguard-verifier.service' || "$*" == 'disable sigguard-verifier.service' ) && ! -f $root${UNIT} ]]; then
  printf 'Failed to disable unit: Unit file sigguard-verifier.service does not exist.\\n' >&2
  exit 1
fi
exec ${STANDIN_SYSTEMCTL} "$@"
`,
      { mode: 0o755 },
    );
    const un = await installSh(['--uninstall', '--restart', 'true', '--wait', '10'], dir);
    // today: exit 1, "install.sh: stopping sigguard-verifier.service failed: Failed to disable
    // unit: Unit file sigguard-verifier.service does not exist." with the hook already out of the
    // configuration, containerd not restarted, every file still in place
    expect({ code: un.code, own: ownLines(un.stderr) }).toEqual({ code: 0, own: [] });
    expect(n.verifier.pid()).toBeUndefined();
    expect(existsSync(at('/usr/local/bin/sigguard'))).toBe(false);
  }, 180_000);
});
