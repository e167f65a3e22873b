/**
 * The user the build's code-cache training runs as, when the build runs as root (build/sea.mjs).
 * The trainer runs the bundles and writes the caches that go into the executable, so whoever can
 * write its folder or signal its processes could put code there. It ran as nobody (65534), which
 * every other unprivileged daemon on a build host may run as too. It now runs as a uid that no
 * account names and no running process has, from the range Debian reserves (65000–65533), so
 * that only root shares it: one inside the uid map (a build in a user namespace maps few uids).
 */
import { readFileSync, readdirSync } from 'node:fs';

export const RESERVED_FROM = 65000;
export const RESERVED_TO = 65533;

/** The ids /etc/passwd and /etc/group name (the third field of each line). */
export function namedIds(text) {
  const ids = new Set();
  for (const line of text.split('\n')) {
    const id = line.split(':')[2];
    if (id !== undefined && /^\d+$/.test(id)) ids.add(Number(id));
  }
  return ids;
}

/** The ids /proc/<pid>/status says a process has (real, effective, saved, filesystem; Uid: and Gid:). */
export function statusIds(text) {
  const ids = new Set();
  for (const m of text.matchAll(/^(?:Uid|Gid):\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/gm)) for (let i = 1; i <= 4; i++) ids.add(Number(m[i]));
  return ids;
}

/** Whether `id` is inside a uid_map/gid_map (lines of: first id inside, first outside, count). */
export function mapped(mapText, id) {
  for (const line of mapText.split('\n')) {
    const [inside, , count] = line.trim().split(/\s+/).map(Number);
    if (Number.isInteger(inside) && Number.isInteger(count) && id >= inside && id < inside + count) return true;
  }
  return false;
}

/** The highest id in the reserved range that is in neither `used` nor outside the maps; undefined if none. */
export function chooseId(used, uidMap, gidMap) {
  for (let id = RESERVED_TO; id >= RESERVED_FROM; id--) if (!used.has(id) && mapped(uidMap, id) && mapped(gidMap, id)) return id;
  return undefined;
}

/** This host's: every id an account, a group or a running process has, then chooseId. */
export function unusedId() {
  const read = (f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const used = new Set([...namedIds(read('/etc/passwd')), ...namedIds(read('/etc/group'))]);
  for (const pid of readdirSync('/proc')) if (/^\d+$/.test(pid)) for (const id of statusIds(read(`/proc/${pid}/status`))) used.add(id);
  // a host without the map files (no user namespaces) maps every id
  const all = '0 0 4294967295';
  return chooseId(used, read('/proc/self/uid_map') || all, read('/proc/self/gid_map') || all);
}
