/**
 * The agent's state folder on the host (`--state-dir`, default /var/lib/sigguard): the only place
 * where a path taken from the synced documents (a ConfigMap's `trust.publicGood`) may name a file for
 * the agent, running as root on the host, to create or replace. Whoever may edit the ConfigMap could
 * otherwise have every node write a file of theirs anywhere (/etc/ld.so.preload, /etc/cron.d/...).
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';

export const AGENT_STATE_DIR = '/var/lib/sigguard';

/** The real path `path` names: its deepest existing ancestor with links resolved, the rest as given. */
function realPlace(path: string): string {
  const rest: string[] = [];
  let at = resolve(path);
  while (lstatSync(at, { throwIfNoEntry: false }) === undefined) {
    const up = dirname(at);
    if (up === at) break;
    rest.unshift(basename(at));
    at = up;
  }
  return join(realpathSync(at), ...rest);
}

/** Why `path` is not a place under `folder` (links resolved, `..` taken), or undefined when it is. */
export function outsideStateDir(path: string, folder: string): string | undefined {
  if (!isAbsolute(path)) return `${path} is not an absolute path`;
  const base = existsSync(folder) ? realpathSync(folder) : resolve(folder);
  const real = realPlace(path);
  if (real.startsWith(`${base}${sep}`)) return undefined;
  return `${path}${real === resolve(path) ? '' : ` (really ${real})`} is not under the agent's state folder ${folder}`;
}
