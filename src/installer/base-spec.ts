/**
 * Adding sigguard's hook to an OCI base runtime spec (containerd's
 * `base_runtime_spec`, Kind's /etc/containerd/cri-base.json) and taking it
 * out again: idempotent, keeping every other hook (Kind has its own
 * createContainer hook), removing exactly sigguard's own entry.
 */
import { type OciHook, isSigguardHook } from './hook-entry.js';

type Spec = Record<string, unknown> & { hooks?: Record<string, unknown[]> };

export function installHook(spec: Spec, stage: string, entry: OciHook): { spec: Spec; changed: boolean } {
  const hooks = { ...(spec.hooks ?? {}) };
  const list = Array.isArray(hooks[stage]) ? [...(hooks[stage] as unknown[])] : [];
  const existing = list.findIndex(isSigguardHook);
  if (existing >= 0 && JSON.stringify(list[existing]) === JSON.stringify(entry)) return { spec, changed: false };
  if (existing >= 0) list[existing] = entry;
  else list.unshift(entry); // first: nothing else runs for a container sigguard refuses
  hooks[stage] = list;
  return { spec: { ...spec, hooks }, changed: true };
}

export function uninstallHook(spec: Spec): { spec: Spec; changed: boolean } {
  if (spec.hooks === undefined) return { spec, changed: false };
  let changed = false;
  const hooks: Record<string, unknown[]> = {};
  for (const [stage, list] of Object.entries(spec.hooks)) {
    if (!Array.isArray(list)) {
      hooks[stage] = list;
      continue;
    }
    const kept = list.filter((h) => !isSigguardHook(h));
    if (kept.length !== list.length) changed = true;
    if (kept.length > 0) hooks[stage] = kept;
  }
  if (!changed) return { spec, changed: false };
  const next: Spec = { ...spec, hooks };
  if (Object.keys(hooks).length === 0) delete next.hooks;
  return { spec: next, changed };
}
