/**
 * The hook entry, from the one template in hook-config/hooks.d/sigguard.json
 * (oci-hooks(5)), built into the binary: the installer, the CRI-O generator
 * and the hooks.d file all say the same thing.
 */
import { z } from '../zod.js';
import template from '../../hook-config/hooks.d/sigguard.json' with { type: 'json' };

export const hookSchema = z.strictObject({
  path: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.array(z.string()).optional(),
  timeout: z.number().int().positive().optional(),
});
export type OciHook = z.infer<typeof hookSchema>;

const hooksDSchema = z.strictObject({
  version: z.literal('1.0.0'),
  hook: hookSchema,
  when: z.strictObject({ always: z.boolean().optional() }).passthrough(),
  stages: z.array(z.string()).length(1),
});

export const HOOKS_D_TEMPLATE = hooksDSchema.parse(template);
/** The OCI stage sigguard runs at: createRuntime (prestart's current name). */
export const HOOK_STAGE = HOOKS_D_TEMPLATE.stages[0] as 'createRuntime';

/** The hook entry for a given binary path and extra `sigguard hook` flags. */
export function hookEntry(path = HOOKS_D_TEMPLATE.hook.path, extraArgs: string[] = []): OciHook {
  return { ...HOOKS_D_TEMPLATE.hook, path, args: [...(HOOKS_D_TEMPLATE.hook.args ?? []), ...extraArgs] };
}

/** Whether a hook entry is sigguard's own (`<anything>/sigguard` run as `sigguard hook`). */
export function isSigguardHook(h: unknown): boolean {
  const parsed = hookSchema.safeParse(h);
  if (!parsed.success) return false;
  const args = parsed.data.args ?? [];
  return /(^|\/)sigguard$/.test(parsed.data.path) && args[1] === 'hook';
}
