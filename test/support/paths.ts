/** Where the tests find the built artefact and the tools build/tools.sh fetched. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
/** The one built artefact every tier runs (make build). */
export const SIGGUARD = process.env.SIGGUARD_BIN ?? resolve(ROOT, 'bin/sigguard');
export const COSIGN2 = resolve(ROOT, '.tools/bin/cosign2');
export const COSIGN3 = resolve(ROOT, '.tools/bin/cosign3');
export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const BUSYBOX = '/bin/busybox';

export function requireTools(...paths: string[]): void {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`missing test tools (run make tools): ${missing.join(', ')}`);
}
