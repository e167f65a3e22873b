/** Reading the configuration file (YAML or JSON) into defaults-filled settings. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PATHS } from '../defaults.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { parseDocument } from '../document/parse.js';
import { UntrustedFileError, readTrustedFile } from '../document/file-trust.js';
import { firstIssue } from '../document/zod-issue.js';
import { type Platform, hostPlatform } from '../registry/platform.js';
import { CACHE_DEFAULTS, type CacheSettings } from '../cache/verdict-cache.js';
import type { DocCache } from '../cache/doc-cache.js';
import type { ConfigInput } from './schema.js';
import { DEFAULT_PUBLIC_GOOD_KEPT } from '../policy/kept-root.js';

export interface Config {
  source: string | undefined;
  authFiles: string[];
  certsDir: string;
  insecureRegistries: string[];
  caFiles: Record<string, string[]>;
  platform: Platform;
  node: { containerdSocket: string; crioSocket: string };
  /** undefined: the verdict cache is off. */
  cache: CacheSettings | undefined;
  /** The updated public-good root's file, and how old trust material may be (`trust status`). */
  trust: { publicGood: string; maxAgeDays: number };
}

function defaultAuthFiles(): string[] {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  return [join(dir, 'config.json')];
}

export async function compileConfig(doc: unknown, source: string | undefined): Promise<Config> {
  return buildConfig(await validateConfig(doc, source), source);
}

/** The schema check; the schema (and zod) are loaded only when a document needs checking. */
export async function validateConfig(doc: unknown, source: string | undefined): Promise<ConfigInput> {
  const { configSchema } = await import('./schema.js');
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `invalid config ${source ?? '(defaults)'}${path ? `: ${path}` : ''}: ${message}`);
  }
  return parsed.data;
}

function buildConfig(c: ConfigInput, source: string | undefined): Config {
  return {
    source,
    authFiles: c.registry.authFiles ?? defaultAuthFiles(),
    certsDir: c.registry.certsDir ?? DEFAULT_PATHS.certsDir,
    insecureRegistries: c.registry.insecureRegistries,
    caFiles: c.registry.caFiles,
    platform: c.platform ?? hostPlatform(),
    trust: { publicGood: c.trust?.publicGood ?? DEFAULT_PUBLIC_GOOD_KEPT, maxAgeDays: c.trust?.maxAgeDays ?? 30 },
    node: c.node,
    cache: c.cache.enabled
      ? {
          dir: c.cache.dir ?? CACHE_DEFAULTS.dir,
          ttlMs: (c.cache.ttlSeconds ?? CACHE_DEFAULTS.ttlSeconds) * 1000,
          denyBackoffMs: (c.cache.denyBackoffSeconds ?? CACHE_DEFAULTS.denyBackoffSeconds) * 1000,
          maxStaleMs: (c.cache.maxStaleSeconds ?? CACHE_DEFAULTS.maxStaleSeconds) * 1000,
        }
      : undefined,
  };
}

/**
 * Loads the configuration. An explicitly named file must exist; the default
 * path may be absent (then defaults apply).
 */
export async function loadConfig(file: string | undefined, defaultFile?: string, docs?: DocCache): Promise<Config> {
  const path = file ?? defaultFile;
  if (path === undefined || (file === undefined && !existsSync(path))) return cachedConfig('', undefined, async () => ({}), docs);
  let text: string;
  try {
    text = readTrustedFile(path).toString('utf8');
  } catch (err) {
    if (err instanceof UntrustedFileError) throw new SigguardError(ReasonCode.CONFIG_INVALID, `refusing config ${err.message}`);
    const e = err as NodeJS.ErrnoException;
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read config ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return cachedConfig(text, path, () => parseDocument(text, path, ReasonCode.CONFIG_INVALID), docs);
}

/**
 * With a document cache, a configuration whose text was validated before skips the parser
 * and the schema. The hook keeps these in the default cache folder whatever the
 * configuration says: it cannot know another folder before it has read the configuration.
 */
async function cachedConfig(
  text: string,
  source: string | undefined,
  parse: () => Promise<unknown>,
  docs: DocCache | undefined,
): Promise<Config> {
  const cached = docs?.get('config', text) as ConfigInput | undefined;
  if (cached !== undefined) return buildConfig(cached, source);
  const validate = async (): Promise<ConfigInput> => validateConfig(await parse(), source);
  if (docs) return buildConfig(await docs.validateOnce('config', text, validate), source);
  return buildConfig(await validate(), source);
}
