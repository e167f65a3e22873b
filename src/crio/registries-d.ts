/**
 * containers-registries.d(5): the YAML that makes containers/image read
 * sigstore attachments (cosign's `.sig` signatures) for a scope, and the
 * checks against a node's existing registries.d folder.
 *
 * Rules that differ from policy.json: all *.yaml files of the folder are
 * merged and a `docker` key may appear in only one of them (containers/image
 * refuses the whole folder otherwise); for `use-sigstore-attachments` the most
 * specific key that sets it wins; keys are looked up for the location
 * containers/image actually pulls from (a registries.conf mirror or rewritten
 * location), not for the name the pod wrote.
 */
import { parse as parseYaml } from 'yaml';
import { scopeProblem } from '../policy/scopes.js';

export const ATTACHMENTS = 'use-sigstore-attachments';

/** The registries.d file: `docker: { <scope>: { use-sigstore-attachments: true } }`, keys sorted, quoted. */
export function registriesDYaml(keys: readonly string[], header: readonly string[]): string {
  const lines = header.map((h) => `# ${h}`);
  if (keys.length === 0) {
    lines.push('docker: {}');
  } else {
    lines.push('docker:');
    for (const key of [...keys].sort()) lines.push(`  ${JSON.stringify(key)}:`, `    ${ATTACHMENTS}: true`);
  }
  return `${lines.join('\n')}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Re-parses a generated registries.d file; returns its keys. Throws on anything unexpected. */
export function checkRegistriesD(text: string): string[] {
  const doc: unknown = parseYaml(text, { strict: true, uniqueKeys: true });
  if (!isObject(doc)) throw new Error('registries.d: not a YAML mapping');
  for (const k of Object.keys(doc)) if (k !== 'docker') throw new Error(`registries.d: unexpected top-level key "${k}"`);
  const docker = doc.docker;
  if (!isObject(docker)) throw new Error('registries.d: "docker" is not a mapping');
  for (const [key, section] of Object.entries(docker)) {
    const problem = scopeProblem(key.startsWith('registry-1.docker.io/') ? `docker.io${key.slice('registry-1.docker.io'.length)}` : key);
    if (problem !== undefined) throw new Error(`registries.d: key "${key}": ${problem}`);
    if (!isObject(section) || Object.keys(section).length !== 1 || section[ATTACHMENTS] !== true) {
      throw new Error(`registries.d: key "${key}" must hold exactly ${ATTACHMENTS}: true`);
    }
  }
  return Object.keys(docker);
}

/** Is registries.d key `key` at or below scope `scope` (so that it takes precedence over it)? */
export function keyWithinScope(key: string, scope: string): boolean {
  if (key === scope) return true;
  if (scope.startsWith('*.')) {
    const domain = scope.slice(1); // ".example.com"
    if (key.startsWith('*.')) return key.endsWith(domain); // a narrower wildcard
    const host = (key.split('/')[0] ?? '').replace(/:[0-9]+$/, '');
    return host.endsWith(domain);
  }
  if (!scope.includes('/')) return key.startsWith(`${scope}/`);
  return key.startsWith(`${scope}/`) || key.startsWith(`${scope}:`) || key.startsWith(`${scope}@`);
}

export interface ExistingFile {
  /** Where the file is, for messages. */
  path: string;
  text: string;
}

export interface TargetCheck {
  /** Keys we would write that another file already defines: containers/image would refuse the folder. */
  clashes: Array<{ key: string; file: string }>;
  /** One line each: existing keys that switch attachments off below a scope that needs signatures. */
  warnings: string[];
}

/** Compares the keys we write with the other *.yaml files of the node's registries.d folder. */
export function checkTargetDir(ours: readonly string[], existing: readonly ExistingFile[]): TargetCheck {
  const clashes: TargetCheck['clashes'] = [];
  const warnings: string[] = [];
  for (const file of existing) {
    let doc: unknown;
    try {
      doc = parseYaml(file.text);
    } catch (err) {
      throw new Error(
        `cannot parse ${file.path}: ${(err as Error).message.split('\n')[0]} (containers/image would refuse the whole registries.d folder)`,
      );
    }
    if (doc === null || doc === undefined) continue;
    if (!isObject(doc)) throw new Error(`${file.path} is not a YAML mapping (containers/image would refuse the whole registries.d folder)`);
    const docker = doc.docker;
    if (docker === undefined || docker === null) continue;
    if (!isObject(docker)) throw new Error(`${file.path}: "docker" is not a mapping`);
    for (const [key, section] of Object.entries(docker)) {
      if (ours.includes(key)) clashes.push({ key, file: file.path });
      else if (isObject(section) && section[ATTACHMENTS] === false) {
        for (const scope of ours) {
          if (keyWithinScope(key, scope)) {
            warnings.push(
              `${file.path}: "${key}" sets ${ATTACHMENTS}: false, so containers/image reads no signature there and CRI-O refuses those images although scope "${scope}" would verify them`,
            );
          }
        }
      }
    }
  }
  return { clashes, warnings };
}
