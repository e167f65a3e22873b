/** Reading parsed TOML (containerd's config.toml, `containerd config dump`) without `any`. */
import { type Table, isTable } from '../../src/installer/containerd-effective.js';

/** The table at `path` in a parsed TOML document (undefined where a step is not a table). */
export function tableAt(t: unknown, ...path: string[]): Table | undefined {
  let cur = t;
  for (const k of path) cur = isTable(cur) ? cur[k] : undefined;
  return isTable(cur) ? cur : undefined;
}
