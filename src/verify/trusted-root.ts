/**
 * Sigstore trusted roots (TrustedRoot JSON, as the TUF repository publishes
 * it) turned into @sigstore/verify's TrustMaterial: from a file, or the
 * public-good production root built into the binary (the copy @sigstore/tuf
 * ships in its seeds, bundled by esbuild; nothing is read at run time).
 *
 * One rule stricter than @sigstore/verify: an authority (tlog, ctlog, CA or
 * TSA) whose validity has no start is not trusted at all. The library would
 * trust it from the beginning of time; the trusted-root spec makes the start
 * required, and a key with no known start must not vouch for old entries.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import { z } from '../zod.js';
import { PUBLIC_GOOD_TUF_URL, publicGoodTrustedRootBytes } from '../policy/public-good.js';

export class TrustedRootError extends Error {
  override name = 'TrustedRootError';
}

export { PUBLIC_GOOD_TUF_URL };

const MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\+json;version=0\.[12]|\.v0\.[12]\+json)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const base64 = z.string().regex(BASE64, 'not base64');
const time = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a timestamp');
const timeRange = z.looseObject({ start: time.nullish(), end: time.nullish() });
const tlog = z.looseObject({
  baseUrl: z.string().nullish(),
  hashAlgorithm: z.string().nullish(),
  publicKey: z.looseObject({ rawBytes: base64, keyDetails: z.string(), validFor: timeRange.nullish() }),
  logId: z.looseObject({ keyId: base64 }),
  checkpointKeyId: z.looseObject({ keyId: base64 }).nullish(),
});
const authority = z.looseObject({
  subject: z.looseObject({}).nullish(),
  uri: z.string().nullish(),
  certChain: z.looseObject({ certificates: z.array(z.looseObject({ rawBytes: base64 })).min(1) }),
  validFor: timeRange.nullish(),
});
const trustedRootSchema = z.looseObject({
  mediaType: z.string().regex(MEDIA_TYPE, 'not a Sigstore trusted root media type'),
  tlogs: z
    .array(tlog)
    .nullish()
    .transform((v) => v ?? []),
  certificateAuthorities: z
    .array(authority)
    .nullish()
    .transform((v) => v ?? []),
  ctlogs: z
    .array(tlog)
    .nullish()
    .transform((v) => v ?? []),
  timestampAuthorities: z
    .array(authority)
    .nullish()
    .transform((v) => v ?? []),
});

export interface LoadedTrust {
  trust: TrustMaterial;
  /** Where it came from: a file path or `public-good (built in)`. */
  source: string;
  /** Authorities set aside as untrusted, with why (e.g. `tlogs[1]: validFor has no start`). */
  untrusted: string[];
  /** sha256 (hex) of the root's JSON bytes (of its JSON text when built from a value). */
  fingerprint: string;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`;
}

/** Validates a parsed trusted root and builds the TrustMaterial; throws TrustedRootError. */
export function trustFromJSON(json: unknown, source: string, fingerprint?: string): LoadedTrust {
  const parsed = trustedRootSchema.safeParse(json);
  if (!parsed.success)
    throw new TrustedRootError(`${source}: not a valid trusted root (${parsed.error.issues.slice(0, 3).map(describeIssue).join('; ')})`);
  const root = parsed.data;
  const untrusted: string[] = [];
  const keep = <T>(list: T[], field: string, start: (x: T) => string | null | undefined): T[] =>
    list.filter((x, i) => {
      if (start(x) !== undefined && start(x) !== null) return true;
      untrusted.push(`${field}[${i}]: validFor has no start`);
      return false;
    });
  const filtered = {
    ...root,
    tlogs: keep(root.tlogs, 'tlogs', (t) => t.publicKey.validFor?.start),
    ctlogs: keep(root.ctlogs, 'ctlogs', (t) => t.publicKey.validFor?.start),
    certificateAuthorities: keep(root.certificateAuthorities, 'certificateAuthorities', (c) => c.validFor?.start),
    timestampAuthorities: keep(root.timestampAuthorities, 'timestampAuthorities', (c) => c.validFor?.start),
  };
  try {
    const print = fingerprint ?? createHash('sha256').update(JSON.stringify(json)).digest('hex');
    return { trust: toTrustMaterial(TrustedRoot.fromJSON(filtered)), source, untrusted, fingerprint: print };
  } catch (err) {
    throw new TrustedRootError(`${source}: unusable trusted root (${(err as Error).message})`);
  }
}

/** Reads a TrustedRoot JSON file; throws TrustedRootError. */
export function loadTrustedRootFile(path: string): LoadedTrust {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TrustedRootError(`cannot read trusted root ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TrustedRootError(`${path}: trusted root is not JSON`);
  }
  return trustFromJSON(json, path, createHash('sha256').update(text).digest('hex'));
}

/** The public-good production trusted root as @sigstore/tuf's seeds carry it (base64 TUF target). */
export function publicGoodTrustedRootJSON(): unknown {
  try {
    return JSON.parse(publicGoodTrustedRootBytes().toString('utf8'));
  } catch (err) {
    throw new TrustedRootError((err as Error).message);
  }
}

let publicGood: LoadedTrust | undefined;

/** The public-good production trust (built in), parsed once. */
export function publicGoodTrust(): LoadedTrust {
  publicGood ??= trustFromJSON(
    publicGoodTrustedRootJSON(),
    'public-good (built in)',
    createHash('sha256').update(publicGoodTrustedRootBytes()).digest('hex'),
  );
  return publicGood;
}

/** A trusted root file when given, else the built-in public-good root. */
export function loadTrust(path?: string): LoadedTrust {
  return path === undefined ? publicGoodTrust() : loadTrustedRootFile(path);
}
