/**
 * `make demo`: the whole story in a few seconds, on this machine only. A
 * registry, a cosign key pair, a signed and an unsigned image, a Kind-like
 * containerd 2.1 node with sigguard as its createRuntime hook, and two pods
 * started over CRI the way kubelet starts them. Prints what happened to each
 * pod and where the decision log is; stops and removes everything on exit and
 * on Ctrl-C. Exit 0 when the signed pod ran and the unsigned one was refused.
 *
 * Built by e2e/bundle.mjs into build/out/e2e/demo.cjs.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../test/support/paths.js';
import type { PodResult } from './cases.js';
import { Cleanup, signalExitCode } from './cleanup.js';
import { nodePolicy, requireLocalTools, startLocalEnv, startSigguardNode } from './local-env.js';

const VERSION = '2.1' as const;
const KEPT_LOG = join(ROOT, 'build/out/demo/decisions.log');

const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');

let quiet = false; // once interrupted, only the cleanup speaks
const say = (s = '') => {
  if (!quiet) process.stdout.write(`${s}\n`);
};
const step = (what: string, detail: string) => say(`  ${what.padEnd(11)} ${detail}`);
const shown = (p: string) => (p.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), p) : p);

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const cleanup = new Cleanup();
  let root = '';
  cleanup.onSignals((sig) => {
    say(`\n${sig === 'SIGINT' ? 'Interrupted' : 'Terminated'}: stopping the node and the registry, removing ${root}`);
    quiet = true;
  });

  say(bold('sigguard demo') + dim(' — refusing unsigned images at container start, on a local containerd node'));
  say();
  try {
    requireLocalTools([VERSION]);
    root = cleanup.tempRoot('/tmp/sigguard-demo-');
    const env = await startLocalEnv(cleanup, { preferAliasPort: 5001 });
    step('registry', `${env.registry.host}; pods name it ${env.alias}, as on Kind`);

    const signedRef = `${env.alias}/demo/signed:v1`;
    const unsignedRef = `${env.alias}/demo/unsigned:v1`;
    const signed = await env.push.image('demo/signed', 'v1', 'hello from a signed image');
    await env.push.image('demo/unsigned', 'v1', 'hello from an unsigned image');
    await env.sign([{ image: `${env.alias}/demo/signed@${signed.digest}`, with: 'trusted' }]);
    step('images', `${signedRef} ${green('signed')} with cosign (key pair in a temp folder)`);
    step('', `${unsignedRef} ${red('not signed')}`);

    const { sg } = await startSigguardNode(env, cleanup, {
      version: VERSION,
      parent: root,
      policyText: nodePolicy(env),
      deadlineSeconds: 8,
    });
    step('node', `containerd ${VERSION}, sigguard installed as its createRuntime hook (policy: ${env.alias} needs the key)`);
    if (cleanup.interrupted) return signalExitCode(cleanup.interrupted);

    const pods: Array<{ image: string; r: PodResult }> = [];
    for (const [name, image] of [
      ['signed-app', signedRef],
      ['unsigned-app', unsignedRef],
    ] as const) {
      pods.push({ image, r: await sg.runPod({ name, image }) });
    }
    step('pods', 'started through CRI as kubelet does: pull, sandbox, create, start');
    say();

    const keyPath = env.trusted.pub;
    const rows = [['POD', 'IMAGE', 'OUTCOME', 'HOOK', 'REASON']];
    for (const { image, r } of pods) {
      const d = r.decision;
      const reason = d ? `${d.code}: ${d.reason.replaceAll(keyPath, 'cosign.pub')}` : (r.error ?? '');
      rows.push([r.name, image, r.ran ? 'started' : 'refused', d ? `${d.durationMs} ms` : '-', reason]);
    }
    const lines = table(rows);
    say(`  ${bold(lines[0]!)}`);
    lines.slice(1).forEach((l, i) => {
      say(`  ${pods[i]!.r.ran ? l.replace('started', green('started')) : l.replace('refused', red('refused'))}`);
    });

    const refused = pods.find((p) => !p.r.ran);
    if (refused?.r.error) {
      say();
      say(`  What kubelet gets back for ${refused.r.name} (kubectl describe pod shows it):`);
      const e = refused.r.error.replace(/^start: /, '');
      const at = e.indexOf('error running hook');
      say(`    ${dim(at > 0 ? `…${e.slice(at)}` : e)}`);
    }

    mkdirSync(join(ROOT, 'build/out/demo'), { recursive: true });
    if (existsSync(sg.decisionLog)) copyFileSync(sg.decisionLog, KEPT_LOG);
    say();
    say(`  Decision log, one JSON line per container start (kept after the demo): ${shown(KEPT_LOG)}`);
    say(`    jq -r '[.pod, .image, .digest[:19], .decision, .code, .durationMs] | @tsv' ${shown(KEPT_LOG)}`);

    const signedRan = pods[0]!.r.ran && pods[0]!.r.decision?.code === 'ALLOWED';
    const unsignedRefused = !pods[1]!.r.ran && (pods[1]!.r.error ?? '').includes('sigguard: denied');
    await sg.stop();
    const errors = await cleanup.run();
    say();
    if (signedRan && unsignedRefused && errors.length === 0) {
      say(
        `${green('ok')}: the signed pod started, the unsigned one was refused; everything stopped and removed (${((performance.now() - t0) / 1000).toFixed(1)} s).`,
      );
      return 0;
    }
    say(
      red(
        `not ok: expected the signed pod to start and the unsigned one to be refused by sigguard${errors.length ? ', and a clean teardown' : ''}.`,
      ),
    );
    return 1;
  } catch (err) {
    // a Ctrl-C also kills the children in the foreground group (gzip, cosign): let its handler run first
    await new Promise((r) => setTimeout(r, 100));
    if (cleanup.interrupted) return signalExitCode(cleanup.interrupted);
    say(red(`demo failed: ${(err as Error).message}`));
    return 1;
  } finally {
    // once, however main ended (a second run() returns the same errors)
    for (const e of await cleanup.run()) say(red(`  cleanup: ${e}`));
  }
}

main().then(
  (code) => {
    // interrupted: the signal handler exits once the cleanup is done
    if (code < 130) process.exit(code);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
