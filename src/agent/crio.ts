/**
 * sigguard agent on a CRI-O node (`--runtime crio`): the hook as a hooks.d file (oci-hooks(5),
 * naming the executable the agent installed), and the files `sigguard crio-policy` generates for
 * the policy in force — policy.json, the per-namespace policies, registries.d, the crio.conf.d
 * drop-in — at their node paths (src/crio/layout.ts NODE), regenerated after every applied policy
 * change so CRI-O's own verification and the hook never drift. CRI-O reads hooks.d and the
 * signature policy as it runs; the crio.conf.d drop-in is read at its start (or SIGHUP reload),
 * so only a change of that file asks for the restart mechanism.
 *
 * What was at those paths before is recorded (agent-crio.json in /etc/sigguard) and put back by
 * --uninstall, byte for byte; files the agent created are removed.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from '../zod.js';
import { generateCrioFiles } from '../crio/generate.js';
import { readPolicyInput } from '../crio/input.js';
import { NODE, OUT } from '../crio/layout.js';
import { NEWEST_KNOWN, parseVersion } from '../crio/versions.js';
import { HOOKS_D_TEMPLATE, type OciHook } from '../installer/hook-entry.js';
import { compilePolicy } from '../policy/compile.js';

export interface CrioNodeOptions {
  /** The node's root as the agent sees it ('/' in the DaemonSet, which mounts the paths where they are). */
  root: string;
  etc: string;
  entry: OciHook;
  /** containers/image's version in the node's CRI-O (`--containers-image-version`), default the newest known. */
  containersImageVersion?: string;
}

const stateSchema = z.strictObject({
  version: z.literal(1),
  /** node path -> its content before the agent (base64), or null when the agent created it */
  files: z.record(z.string(), z.string().nullable()),
});
type CrioState = z.infer<typeof stateSchema>;

const statePath = (o: Pick<CrioNodeOptions, 'etc'>) => join(o.etc, 'agent-crio.json');
const onNode = (o: Pick<CrioNodeOptions, 'root'>, path: string) => join(o.root, path);

/** The node paths and their contents for the policy in force. */
export function crioNodeFiles(o: CrioNodeOptions): Map<string, string> {
  const policyFile = join(o.etc, 'policy.yaml');
  const { doc, input } = readPolicyInput(policyFile);
  compilePolicy(doc, policyFile); // every key must read, as crio-policy checks
  const result = generateCrioFiles(input, {
    source: policyFile,
    keyBase: o.etc,
    target: o.containersImageVersion ? parseVersion(o.containersImageVersion) : NEWEST_KNOWN,
  });
  const files = new Map<string, string>();
  for (const [name, text] of result.files) {
    if (name === OUT.policyJson) files.set(NODE.policyJson, text);
    else if (name === OUT.registriesD) files.set(NODE.registriesD, text);
    else if (name === OUT.crioConf) files.set(NODE.crioConf, text);
    else if (name.startsWith(`${OUT.namespacePolicies}/`))
      files.set(`${NODE.namespacePolicies}/${name.slice(OUT.namespacePolicies.length + 1)}`, text);
  }
  // the hook entry names the executable the agent installed (the generator's names the default path)
  files.set(NODE.hooksD, `${JSON.stringify({ ...HOOKS_D_TEMPLATE, hook: o.entry }, null, 2)}\n`);
  return files;
}

function readState(o: CrioNodeOptions): CrioState {
  if (!existsSync(statePath(o))) return { version: 1, files: {} };
  return stateSchema.parse(JSON.parse(readFileSync(statePath(o), 'utf8')));
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileSync(`${path}.sigguard-tmp`, text, { mode: 0o644 });
  renameSync(`${path}.sigguard-tmp`, path);
}

/** Puts the files for the policy in force in place; returns the node paths written (none: nothing changed). */
export function installCrio(o: CrioNodeOptions): string[] {
  const want = crioNodeFiles(o);
  const state = readState(o);
  const written: string[] = [];
  for (const [path, text] of want) {
    const file = onNode(o, path);
    const now = existsSync(file) ? readFileSync(file) : undefined;
    if (now?.toString('utf8') === text) continue;
    if (!(path in state.files)) state.files[path] = now === undefined ? null : now.toString('base64');
    writeFileSync(statePath(o), `${JSON.stringify(state)}\n`, { mode: 0o600 }); // recorded before the node changes
    writeAtomically(file, text);
    written.push(path);
  }
  // a namespace no longer exempt: its policy file goes (else it would keep exempting it)
  const dir = onNode(o, NODE.namespacePolicies);
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const path = `${NODE.namespacePolicies}/${name}`;
    if (!want.has(path) && path in state.files) {
      rmSync(join(dir, name), { force: true });
      written.push(path);
    }
  }
  return written;
}

/** Which of the files for the policy in force are missing or differ on the node. */
export function checkCrio(o: CrioNodeOptions): string[] {
  const drift: string[] = [];
  for (const [path, text] of crioNodeFiles(o)) {
    const file = onNode(o, path);
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) drift.push(path);
  }
  return drift;
}

/** Every file as it was before the agent: put back, or removed when the agent created it. */
export function uninstallCrio(o: Pick<CrioNodeOptions, 'root' | 'etc'>): string[] {
  if (!existsSync(statePath(o))) return [];
  const state = stateSchema.parse(JSON.parse(readFileSync(statePath(o), 'utf8')));
  const restored: string[] = [];
  // the hook first: from here on CRI-O runs no sigguard hook
  const order = Object.keys(state.files).sort((a, b) => (a === NODE.hooksD ? -1 : b === NODE.hooksD ? 1 : 0));
  for (const path of order) {
    const before = state.files[path];
    const file = onNode(o, path);
    if (before === null || before === undefined) rmSync(file, { force: true });
    else writeAtomically(file, Buffer.from(before, 'base64').toString('utf8'));
    restored.push(path);
  }
  rmSync(statePath(o), { force: true });
  return restored;
}
