/** Where the tests find the built artefact and the tools build/tools.sh fetched. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
/** The one built artefact every tier runs (make build). */
export const SIGGUARD = process.env.SIGGUARD_BIN ?? resolve(ROOT, 'bin/sigguard');
/** make tools' folder; SIGGUARD_TOOLS_DIR when the tests run from a copy of the tree (Stryker's sandbox). */
export const TOOLS = process.env.SIGGUARD_TOOLS_DIR ?? resolve(ROOT, '.tools');
export const COSIGN2 = resolve(TOOLS, 'bin/cosign2');
export const COSIGN3 = resolve(TOOLS, 'bin/cosign3');
export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const BUSYBOX = '/bin/busybox';

export function requireTools(...paths: string[]): void {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`missing test tools (run make tools): ${missing.join(', ')}`);
}
