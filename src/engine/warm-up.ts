/**
 * What a verification does the first time once the registry has answered, done while its first
 * requests are still in flight (issue 15): loading node:crypto (~4 ms), OpenSSL's first hash, and
 * parsing the requirements' keys (the first parse and export ~2 ms: OpenSSL builds its decoders).
 * Before, each ran on the cold path after a response came; now the process does them while it
 * would otherwise wait for the registry.
 *
 * It changes no decision: node:crypto is the same module when loaded later, and a key read here is
 * read again where it is used (policy/keys.ts keeps a parse that worked, and one that throws throws
 * again there, with the same bytes: a refusal where it is used, as before). Nothing here throws.
 */
import type { Requirement } from '../policy/types.js';
import { fastEligible } from './requirements/prepare-fast.js';
import { mark } from '../trace.js';

/**
 * Schedules the warm-up in three steps, one per check phase, so that a response that came meanwhile
 * is handled (and its next request sent) between them: loading node:crypto (~4 ms; the first
 * response's digest check needs it), OpenSSL's first hash (apart from the load: a cosign 3
 * bundle's referrers list, back while node:crypto loaded, would wait ~2 ms more for it), then the
 * keys (needed only once the signatures are fetched). The steps hold the event loop: an unref'd
 * immediate lets libuv block in its poll, and each step would wait for the next response. Every
 * command ends with process.exit. `over`: whether the verification has ended (verify-image.ts says
 * so once the verdict is made) or run out of time; then nothing more is warmed.
 */
export function warmWhileWaiting(requirements: readonly Requirement[], over: () => boolean): void {
  const ended = (): boolean => {
    try {
      return over();
    } catch {
      return true;
    }
  };
  const loadCrypto = (): void => {
    try {
      process.getBuiltinModule('node:crypto');
    } catch {
      /* the digest check itself says what is wrong */
    }
  };
  const firstHash = (): void => {
    try {
      // OpenSSL fetches SHA-256 on the first hash: the registry client's first digest check
      process.getBuiltinModule('node:crypto').createHash('sha256').update('').digest();
    } catch {
      /* the digest check itself says what is wrong */
    }
  };
  const keys = (): void => {
    for (const r of requirements) {
      if (r.type !== 'sigstoreSigned' && r.type !== 'sigstoreAttested') continue;
      for (const k of r.keys) {
        try {
          void k.key; // parsed now, kept for its use (a key whose cached facts are wrong throws there too)
        } catch {
          /* thrown again where the key is used */
        }
      }
    }
    // a verification the fast path cannot judge reads its signatures with @sigstore (the cold
    // bundle, ~10 ms to compile and evaluate): loaded now too. A load that fails here fails
    // again where the verification imports it: a refusal there, as without the warm-up.
    if (!fastEligible([...requirements])) {
      const certificates = requirements.some(
        (r) => (r.type === 'sigstoreSigned' || r.type === 'sigstoreAttested') && !(r.trust.kind === 'keys' && r.trust.rekor === undefined),
      );
      for (const load of [
        () => import('./requirements/prepare.js'),
        () => import('../verify/trust.js'),
        ...(certificates ? [() => import('../verify/authority.js'), () => import('../verify/verifier.js')] : []),
      ]) {
        load().catch(() => {});
      }
    }
  };
  const steps = [loadCrypto, firstHash, keys];
  // traced after each step: node:crypto's load (~3-4 ms) is the longest thing a cold start does while the registry answers
  const names = ['warm-up: node:crypto', 'warm-up: first hash', 'warm-up: keys'];
  const run = (i: number): void => {
    setImmediate(() => {
      if (ended()) return;
      steps[i]!();
      mark(names[i]!);
      if (i + 1 < steps.length) run(i + 1);
    });
  };
  run(0);
}
