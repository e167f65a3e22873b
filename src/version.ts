/** Filled in by the bundler (build/bundle.mjs); the fallbacks are for running from source. */
declare const __SIGGUARD_VERSION__: string | undefined;
declare const __SIGGUARD_COMMIT__: string | undefined;

export const VERSION_INFO = {
  version: typeof __SIGGUARD_VERSION__ === 'string' ? __SIGGUARD_VERSION__ : '0.0.0-dev',
  commit: typeof __SIGGUARD_COMMIT__ === 'string' ? __SIGGUARD_COMMIT__ : 'unknown',
};
