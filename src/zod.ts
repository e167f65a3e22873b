/**
 * zod, configured once for a short-lived process: without its JIT (zod compiles a parser per
 * object schema with new Function on first use, which a hook never earns back). Every module
 * imports z from here (the policy and the configuration from src/zod-docs.ts: zod/mini, configured
 * the same way), so the setting is in place before any schema is built. Evaluating zod
 * costs ~20 ms: the hook's warm path (cached verdicts and documents) never imports it.
 */
import { config, z } from 'zod';

config({ jitless: true });

export { z };
