/**
 * zod/mini, for the documents a person writes (the policy and the configuration), which a hook
 * validates on a start with nothing cached (issue 15). The same zod core as src/zod.ts (one zod:
 * the same issues, the same messages), without the classic API's methods set up on every schema
 * object: building the policy's schemas was the larger part of a cold validation. Configured as
 * src/zod.ts (no JIT), with zod's English messages (the classic API sets them up on its first
 * schema, zod/mini never).
 */
import { config, locales } from 'zod/mini';

config({ jitless: true });
config(locales.en());

export * from 'zod/mini';
