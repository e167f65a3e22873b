/**
 * `sigguard check IMAGE`: the verdict the hook would give, with the reason. With `--cache`
 * (or `--cache-dir DIR`), through the hook's verdict cache as the hook goes through it
 * (engine/cached-verify.ts): a fresh cached verdict is the answer, a verification stores its own.
 */
import { DocCache } from '../cache/doc-cache.js';
import { CACHE_DEFAULTS, type CacheSettings } from '../cache/verdict-cache.js';
import { type Config, loadConfig } from '../config/load.js';
import { startDeadline } from '../deadline.js';
import { type Decided, type Outcome, cachedVerify } from '../engine/cached-verify.js';
import { verifyWithConfig } from '../engine/session.js';
import type { Verdict } from '../engine/types.js';
import { verdictSubject } from '../engine/verify-image.js';
import { ExitCode, ReasonCode, SigguardError } from '../errors.js';
import { loadPolicy } from '../policy/load.js';
import { setPublicGoodKept } from '../policy/kept-root.js';
import { scopeTrustRoots } from '../policy/trust-roots.js';
import { parseReference } from '../reference/reference.js';
import type { RequestRecord } from '../registry/client.js';
import { parse, parseSeconds } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';
import { mark } from '../trace.js';

export function explainText(v: Verdict, requests: RequestRecord[]): string {
  const lines: string[] = [];
  lines.push(`image:    ${v.image}`);
  lines.push(`digest:   ${v.digest ?? '(not resolved)'}${v.platformDigest ? ` (platform manifest ${v.platformDigest})` : ''}`);
  if (v.configDigest) lines.push(`config:   ${v.configDigest} (the image id a runtime reports for what runs)`);
  lines.push(`scope:    ${v.scope === '' ? '(policy default)' : v.scope}`);
  lines.push('requirements:');
  for (const r of v.requirements) {
    lines.push(
      `  - ${r.type}${r.predicateType ? ` predicateType=${r.predicateType}` : ''}${r.keys ? ` keys=[${r.keys.join(', ')}]` : ''}${r.trust ? ` trust=${r.trust}` : ''}${r.signedIdentity ? ` signedIdentity=${r.signedIdentity}` : ''}${r.signatureFormats ? ` formats=${r.signatureFormats.join(',')}` : ''}`,
    );
    if (r.condition) lines.push(`    condition: ${r.condition}`);
    lines.push(`    ${r.satisfied ? 'satisfied' : 'NOT satisfied'}${r.detailCode ? ` [${r.code} ${r.detailCode}]` : ''}: ${r.reason}`);
  }
  lines.push(`signatures: ${v.signatures.length === 0 ? 'none examined' : ''}`);
  for (const s of v.signatures) {
    lines.push(`  - ${s.format} on ${s.subject} (${s.source})`);
    lines.push(
      `    ${s.status}${s.detailCode ? ` [${s.detailCode}]` : ''}${s.signer ? ` signer=${s.signer}` : ''}${s.dockerReference ? ` docker-reference=${s.dockerReference}` : ''}${s.detail ? `: ${s.detail}` : ''}`,
    );
  }
  if (v.attestations !== undefined) lines.push(`attestations: ${v.attestations.length === 0 ? 'none examined' : ''}`);
  for (const a of v.attestations ?? []) {
    lines.push(`  - ${a.format} ${a.predicateType ?? '(unread)'} on ${a.subject} (${a.source})`);
    lines.push(
      `    ${a.status}${a.detailCode ? ` [${a.detailCode}]` : ''}${a.signer ? ` signer=${a.signer}` : ''}${a.detail ? `: ${a.detail}` : ''}`,
    );
  }
  for (const n of v.notes ?? []) lines.push(`note: ${n}`);
  lines.push(`registry requests: ${requests.length}`);
  return lines.join('\n');
}

/** The verdict cache `check --cache` reads and fills: the configuration's, or the defaults' if it has none; `--cache-dir` moves it. */
function cacheSettings(config: Config, dir: string | undefined): CacheSettings {
  const settings = config.cache ?? {
    dir: CACHE_DEFAULTS.dir,
    ttlMs: CACHE_DEFAULTS.ttlSeconds * 1000,
    denyBackoffMs: CACHE_DEFAULTS.denyBackoffSeconds * 1000,
    maxStaleMs: CACHE_DEFAULTS.maxStaleSeconds * 1000,
  };
  return dir === undefined ? settings : { ...settings, dir };
}

/** A decision made without a verification (a cached verdict, or the policy alone), for --explain. */
function explainOutcome(o: Outcome, requests: RequestRecord[]): string {
  const lines = [`image:    ${o.image ?? '(unknown)'}`, `digest:   ${o.digest ?? '(not resolved)'}`];
  if (o.configDigest) lines.push(`config:   ${o.configDigest}`);
  if (o.scope !== undefined) lines.push(`scope:    ${o.scope === '' ? '(policy default)' : o.scope}`);
  if (o.signer) lines.push(`signer:   ${o.signer}`);
  lines.push(`cache:    ${o.cache === 'hit' ? 'hit (the cached verdict; nothing verified now)' : (o.cache ?? 'not used')}`);
  lines.push(`registry requests: ${requests.length}`);
  return lines.join('\n');
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      policy: { type: 'string' },
      config: { type: 'string' },
      deadline: { type: 'string' },
      explain: { type: 'boolean' },
      json: { type: 'boolean' },
      cache: { type: 'boolean' },
      'cache-dir': { type: 'string' },
    },
    'check',
  );
  if (positionals.length !== 1) throw new SigguardError(ReasonCode.USAGE, 'check takes exactly one IMAGE (see sigguard help)');
  const deadlineMs = parseSeconds(values.deadline, '--deadline', 30) * 1000;
  // validated documents as the hook keeps them (cache/doc-cache.ts): an unchanged policy or
  // configuration is neither parsed nor validated again, so a cold check pays for no YAML or zod
  const config = await loadConfig(values.config, DEFAULT_PATHS.config, new DocCache(CACHE_DEFAULTS.dir));
  mark('config');
  setPublicGoodKept(config.trust.publicGood);
  const policy = await loadPolicy(values.policy ?? DEFAULT_PATHS.policy, config.cache ? new DocCache(config.cache.dir) : undefined);
  mark('policy');
  const cacheDir = values['cache-dir'];
  const useCache = values.cache === true || cacheDir !== undefined;
  let decided: Decided;
  const requests: RequestRecord[] = [];
  const onRequest = (r: RequestRecord) => requests.push(r);
  const deadline = startDeadline(Date.now() + deadlineMs, `check deadline of ${deadlineMs / 1000} s exceeded`);
  try {
    const ref = parseReference(positionals[0]!);
    if (useCache) {
      // the reference as named: only one that names a digest can be looked up (a tag is verified)
      decided = await cachedVerify(
        { ref, named: ref },
        {
          config,
          policy,
          signal: deadline.signal,
          cache: cacheSettings(config, cacheDir),
          allowTagResolution: true,
          onRequest,
          exitsAfter: true,
        },
      );
    } else {
      // `check` exits once it has printed: its registry connections are left to the exit (engine/session.ts)
      const verdict = await verifyWithConfig(ref, {
        config,
        policy,
        signal: deadline.signal,
        allowTagResolution: true,
        onRequest,
        exitsAfter: true,
      });
      decided = { outcome: { ...verdict }, verdict };
    }
  } catch (err) {
    if (err instanceof SigguardError && err.code === ReasonCode.INVALID_REFERENCE) throw new SigguardError(ReasonCode.USAGE, err.message);
    throw err;
  } finally {
    deadline.clear();
  }
  const { outcome, verdict } = decided;
  // what was decided (a cached or stale verdict included), over the verification it comes from
  const shown: Verdict | Outcome = verdict ? { ...verdict, ...outcome } : outcome;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(values.explain ? { ...shown, requests } : shown)}\n`);
  } else {
    const word = outcome.decision === 'allow' ? 'allowed' : 'denied';
    const subject = verdictSubject({ image: outcome.image ?? positionals[0]!, digest: outcome.digest });
    const cached = outcome.cache === 'hit' || outcome.cache === 'stale' ? ` (cache: ${outcome.cache})` : '';
    process.stdout.write(`${word} ${subject}: ${outcome.reason} [${outcome.code}]${cached}\n`);
    if (values.explain) {
      process.stdout.write(`${verdict ? explainText(verdict, requests) : explainOutcome(outcome, requests)}\n`);
      // which trusted root (source, TUF version) the scope's keyless and Rekor requirements use, a cached verdict's too
      const roots = scopeTrustRoots(policy, outcome.scope);
      if (roots !== undefined) process.stdout.write(`trust root: ${roots}\n`);
    }
  }
  if (outcome.decision === 'allow') return ExitCode.ALLOW;
  // A configuration problem found on the way (a broken hosts.toml, an unreadable CA file) is the
  // operator's to fix, like a bad --config: exit 2. The hook refuses the container either way.
  if (outcome.code === ReasonCode.CONFIG_INVALID) return ExitCode.USAGE_OR_CONFIG;
  return ExitCode.DENY;
}
