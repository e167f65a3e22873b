/**
 * The public-good production trusted root, as the bytes @sigstore/tuf ships in
 * its seeds (bundled into the binary by esbuild; nothing is fetched or read at
 * run time). Kept apart from trusted-root.ts so that the policy loader can
 * fingerprint it without loading @sigstore/verify.
 */
import seeds from '@sigstore/tuf/seeds.json' with { type: 'json' };

export const PUBLIC_GOOD_TUF_URL = 'https://tuf-repo-cdn.sigstore.dev';

/** The TrustedRoot JSON bytes; throws when the seeds do not carry it. */
export function publicGoodTrustedRootBytes(): Buffer {
  const repo = (seeds as Record<string, { targets?: Record<string, unknown> } | undefined>)[PUBLIC_GOOD_TUF_URL];
  const target = repo?.targets?.['trusted_root.json'];
  if (typeof target !== 'string') throw new Error('built-in public-good trusted root missing from @sigstore/tuf seeds');
  return Buffer.from(target, 'base64');
}

/** The public-good repository's TUF root metadata as the seeds carry it: `trust update`'s initial root. */
export function publicGoodTufRootBytes(): Buffer {
  const repo = (seeds as Record<string, Record<string, unknown> | undefined>)[PUBLIC_GOOD_TUF_URL];
  const root = repo?.['root.json'];
  if (typeof root !== 'string') throw new Error('built-in public-good TUF root missing from @sigstore/tuf seeds');
  return Buffer.from(root, 'base64');
}
