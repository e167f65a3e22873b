/**
 * The trust material of one sigstoreSigned requirement, read when the policy is
 * loaded: trusted keys, a Fulcio CA with Rekor keys (`fulcio`), a private CA
 * (`pki`), or a Sigstore trusted root (`keyless`), with a fingerprint of every
 * byte of it (the verdict cache keys on it) and the compiled identity rule.
 *
 * Light on purpose: node:crypto parses certificates and keys here; the
 * @sigstore objects the verifier needs are built from these bytes on first use
 * (src/verify/authority.ts), so a hook that decides by scope alone never loads
 * them. `sigguard policy validate` builds them all.
 */
import type { X509Certificate } from 'node:crypto';
import { sha256Hex } from '../hash.js';
import { readProblem, readTrustedFile } from '../document/file-trust.js';
import { basename, resolve } from 'node:path';
import { type TrustedKey, parsePublicKey } from './keys.js';
import { publicGoodTrustedRootBytes } from './public-good.js';
import { type RootOrigin, choosePublicGood, describeOrigin, keptOrPlain, publicGoodKeptPath } from './kept-root.js';
import { type KeylessIdentity, type StringMatch, anchoredLikeCosign, wholeValueRegExp } from './certificate-rules.js';
import type { FulcioExtensionName, KeylessInput, RequirementInput } from './schema.js';
import type { CertificatePool, RekorKey, RekorLogs, TrustRule, TrustedRootFile } from './types.js';

type SigstoreInput = Extract<RequirementInput, { type: 'sigstoreSigned' | 'sigstoreAttested' }>;

export interface TrustContext {
  /** Throws the policy error for a field path relative to the requirement (e.g. `fulcio.caPath`). */
  fail(field: string, message: string): never;
  /** Adds a warning for a field path relative to the requirement. */
  warn(field: string, message: string): void;
  baseDir: string;
}

export const PUBLIC_GOOD = 'public-good';

const sha256 = (b: Buffer | string): string => sha256Hex(b);

/** One fingerprint over labelled parts, unambiguous (each part length-prefixed). */
function fingerprintOf(parts: Array<[string, Buffer | string]>): string {
  const all: Array<string | Buffer> = [];
  for (const [name, value] of parts) {
    const b = Buffer.from(value);
    all.push(`${name}:${b.length}:`, b);
  }
  return sha256Hex(...all);
}

function readBytes(ctx: TrustContext, field: string, path: string, what: string): Buffer {
  try {
    return readTrustedFile(resolve(ctx.baseDir, path));
  } catch (err) {
    return ctx.fail(field, `cannot read ${what} ${path}: ${readProblem(err)}`);
  }
}

/** `…Data` fields hold the base64 of the file's content, as in containers-policy.json(5). */
function decodeData(ctx: TrustContext, field: string, data: string): Buffer {
  const text = data.replace(/\s+/g, '');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) ctx.fail(field, 'not base64');
  return bytes;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function parseCertificates(ctx: TrustContext, field: string, bytes: Buffer): X509Certificate[] {
  const blocks = bytes.toString('utf8').match(PEM_CERT) ?? [];
  if (blocks.length === 0) ctx.fail(field, 'holds no PEM certificate');
  return blocks.map((pem, i) => {
    try {
      // node:crypto loads here, not with this module: a warm hook start never parses a certificate (issue 15)
      return new (process.getBuiltinModule('node:crypto').X509Certificate)(pem);
    } catch (err) {
      return ctx.fail(field, `certificate ${i + 1} is unreadable (${(err as Error).message})`);
    }
  });
}

const selfSigned = (c: X509Certificate): boolean => {
  try {
    return c.checkIssued(c) && c.verify(c.publicKey);
  } catch {
    return false;
  }
};

interface Source {
  field: string;
  label: string;
  bytes: Buffer;
}

function pathOrData(
  ctx: TrustContext,
  block: string,
  path: string | undefined,
  data: string | undefined,
  pathField: string,
  dataField: string,
  what: string,
): Source | undefined {
  if (path !== undefined)
    return { field: `${block}.${pathField}`, label: basename(path), bytes: readBytes(ctx, `${block}.${pathField}`, path, what) };
  if (data !== undefined)
    return { field: `${block}.${dataField}`, label: dataField, bytes: decodeData(ctx, `${block}.${dataField}`, data) };
  return undefined;
}

function certificatePool(ctx: TrustContext, roots: Source, intermediates: Source | undefined): CertificatePool {
  const rootCerts = parseCertificates(ctx, roots.field, roots.bytes);
  const anchors = rootCerts.filter(selfSigned);
  if (anchors.length === 0)
    ctx.fail(roots.field, 'holds no root (self-signed) certificate: sigguard builds chains up to a root named here');
  const extra = intermediates ? parseCertificates(ctx, intermediates.field, intermediates.bytes) : [];
  for (const c of extra) if (c.ca === false) ctx.fail(intermediates!.field, `${c.subject.replace(/\n/g, ', ')} is not a CA certificate`);
  return {
    label: roots.label,
    roots: anchors.map((c) => c.raw),
    intermediates: [...rootCerts.filter((c) => !selfSigned(c)), ...extra].map((c) => c.raw),
  };
}

function rekorKeys(ctx: TrustContext, req: SigstoreInput): RekorKey[] | undefined {
  const sources: Source[] = [];
  if (req.rekorPublicKeyPath !== undefined)
    sources.push({
      field: 'rekorPublicKeyPath',
      label: basename(req.rekorPublicKeyPath),
      bytes: readBytes(ctx, 'rekorPublicKeyPath', req.rekorPublicKeyPath, 'Rekor key'),
    });
  req.rekorPublicKeyPaths?.forEach((p, i) => {
    sources.push({
      field: `rekorPublicKeyPaths[${i}]`,
      label: basename(p),
      bytes: readBytes(ctx, `rekorPublicKeyPaths[${i}]`, p, 'Rekor key'),
    });
  });
  if (req.rekorPublicKeyData !== undefined)
    sources.push({
      field: 'rekorPublicKeyData',
      label: 'rekorPublicKeyData',
      bytes: decodeData(ctx, 'rekorPublicKeyData', req.rekorPublicKeyData),
    });
  req.rekorPublicKeyDatas?.forEach((d, i) => {
    sources.push({
      field: `rekorPublicKeyDatas[${i}]`,
      label: `rekorPublicKeyDatas[${i}]`,
      bytes: decodeData(ctx, `rekorPublicKeyDatas[${i}]`, d),
    });
  });
  if (sources.length === 0) return undefined;
  return sources.map((s) => {
    let key: TrustedKey;
    try {
      key = parsePublicKey(s.bytes, s.label);
    } catch (err) {
      return ctx.fail(s.field, (err as Error).message);
    }
    // as containers/image: Rekor signs its entry timestamps with ECDSA
    if (key.key.asymmetricKeyType !== 'ec')
      ctx.fail(s.field, `${s.label}: a Rekor public key must be ECDSA, not ${key.key.asymmetricKeyType}`);
    return { label: s.label, key: key.key, spki: key.key.export({ format: 'der', type: 'spki' }) };
  });
}

const MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\+json;version=0\.[12]|\.v0\.[12]\+json)$/;

/** The bytes of a `trustedRoot`: public-good (the newer of the built-in and the updated copy), or a file (TUF-checked when kept by `trust update`). */
function rootSource(ctx: TrustContext, field: string, value: string): { bytes: Buffer; label: string; origin: RootOrigin } {
  if (value === PUBLIC_GOOD) {
    const chosen = choosePublicGood(publicGoodTrustedRootBytes(), publicGoodKeptPath());
    return { ...chosen, label: describeOrigin(PUBLIC_GOOD, chosen.origin) };
  }
  const path = resolve(ctx.baseDir, value);
  const kept = keptOrPlain(path);
  if (kept.kind === 'invalid') return { bytes: Buffer.alloc(0), label: value, origin: { source: 'tuf', path, problem: kept.problem } };
  if (kept.kind === 'plain') return { bytes: readBytes(ctx, field, value, 'trusted root'), label: value, origin: { source: 'file', path } };
  const k = kept.root;
  const origin: RootOrigin = { source: 'tuf', path, targetsVersion: k.targetsVersion, mirror: k.mirror, fetchedAt: k.fetchedAt };
  return { bytes: k.bytes, label: describeOrigin(value, origin), origin };
}

function trustedRootFile(
  ctx: TrustContext,
  field: string,
  value: string,
): TrustedRootFile & { counts: Record<'tlogs' | 'ctlogs' | 'certificateAuthorities' | 'timestampAuthorities', number> } {
  const { bytes, label, origin } = rootSource(ctx, field, value);
  if (origin.problem !== undefined) {
    // refused at verification time with its reason (verify/authority.ts), never the older root instead
    const none = { tlogs: -1, ctlogs: -1, certificateAuthorities: -1, timestampAuthorities: -1 };
    return { label, json: null, fingerprint: sha256(`unusable\0${origin.problem}`), origin, counts: none };
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return ctx.fail(field, `${label}: trusted root is not JSON`);
  }
  const obj = (json ?? {}) as Record<string, unknown>;
  if (typeof obj.mediaType !== 'string' || !MEDIA_TYPE.test(obj.mediaType))
    ctx.fail(field, `${label}: not a Sigstore trusted root (mediaType ${JSON.stringify(obj.mediaType)})`);
  const count = (k: string): number => {
    const v = obj[k];
    if (v === undefined || v === null) return 0;
    if (!Array.isArray(v)) return ctx.fail(field, `${label}: ${k} is not a list`);
    return v.length;
  };
  return {
    label,
    json,
    fingerprint: sha256(bytes),
    origin,
    counts: {
      tlogs: count('tlogs'),
      ctlogs: count('ctlogs'),
      certificateAuthorities: count('certificateAuthorities'),
      timestampAuthorities: count('timestampAuthorities'),
    },
  };
}

function stringMatch(ctx: TrustContext, field: string, exact: string | undefined, regexp: string | undefined): StringMatch {
  if (exact !== undefined) return { exact };
  const source = regexp!;
  let compiled: RegExp;
  try {
    compiled = wholeValueRegExp(source);
  } catch (err) {
    return ctx.fail(field, (err as Error).message);
  }
  if (!anchoredLikeCosign(source)) {
    ctx.warn(
      field,
      `${JSON.stringify(source)} must match the whole value here (as ^(?:${source})$), while cosign and policy-controller accept a match anywhere in the value; anchor it (^…$) to mean the same in both`,
    );
  }
  return { regexp: compiled, source };
}

const matchText = (m: StringMatch): string => ('exact' in m ? `=${m.exact}` : `~${m.source}`);

function keylessRule(ctx: TrustContext, k: KeylessInput): TrustRule {
  const root = trustedRootFile(ctx, 'keyless.trustedRoot', k.trustedRoot);
  if (root.counts.certificateAuthorities === 0)
    ctx.fail('keyless.trustedRoot', `${root.label}: trusted root has no certificate authorities`);
  if (k.requireRekor && root.counts.tlogs === 0)
    ctx.fail('keyless.requireRekor', `trusted root ${root.label} has no transparency logs (set requireRekor: false to go without Rekor)`);
  if (k.requireSCT && root.counts.ctlogs === 0)
    ctx.fail(
      'keyless.requireSCT',
      `trusted root ${root.label} has no certificate transparency logs (set requireSCT: false for a CA that embeds no SCTs)`,
    );
  const identities: KeylessIdentity[] = k.identities.map((id, i) => ({
    issuer: stringMatch(ctx, `keyless.identities[${i}].${id.issuer !== undefined ? 'issuer' : 'issuerRegExp'}`, id.issuer, id.issuerRegExp),
    subject: stringMatch(
      ctx,
      `keyless.identities[${i}].${id.subject !== undefined ? 'subject' : 'subjectRegExp'}`,
      id.subject,
      id.subjectRegExp,
    ),
  }));
  const extensions = Object.fromEntries(Object.entries(k.extensions ?? {}).filter(([, v]) => v !== undefined)) as Partial<
    Record<FulcioExtensionName, string>
  >;
  const { counts: _counts, ...file } = root;
  return {
    kind: 'keyless',
    root: file,
    certificate: { kind: 'keyless', identities, extensions },
    requireRekor: k.requireRekor,
    requireSCT: k.requireSCT,
    fingerprint: root.fingerprint,
    label: `trusted root ${root.label}`,
    canonical: {
      kind: 'keyless',
      fingerprint: root.fingerprint,
      identities: identities.map((id) => ({ issuer: matchText(id.issuer), subject: matchText(id.subject) })),
      extensions,
      requireRekor: k.requireRekor,
      requireSCT: k.requireSCT,
    },
  };
}

function rekorLogs(
  keys: RekorKey[] | undefined,
  publicGoodIfNone: boolean,
  ctx: TrustContext,
): { logs: RekorLogs; fingerprint: string; label: string } | undefined {
  if (keys !== undefined) {
    return {
      logs: { kind: 'keys', keys },
      fingerprint: fingerprintOf(keys.map((k) => ['rekor', k.spki])),
      label: `Rekor ${keys.map((k) => k.label).join(', ')}`,
    };
  }
  if (!publicGoodIfNone) return undefined;
  const { counts: _c, ...root } = trustedRootFile(ctx, 'requireRekor', PUBLIC_GOOD);
  return { logs: { kind: 'trustedRoot', root }, fingerprint: root.fingerprint, label: `Rekor of ${root.label}` };
}

/** The requirement's trusted keys (empty unless key-based) and its trust rule. */
export function compileTrust(req: SigstoreInput, keys: TrustedKey[], ctx: TrustContext): TrustRule {
  if (req.keyless !== undefined) return keylessRule(ctx, req.keyless);
  if (req.pki !== undefined) {
    const p = req.pki;
    const roots = pathOrData(ctx, 'pki', p.caRootsPath, p.caRootsData, 'caRootsPath', 'caRootsData', 'CA roots')!;
    const inter = pathOrData(
      ctx,
      'pki',
      p.caIntermediatesPath,
      p.caIntermediatesData,
      'caIntermediatesPath',
      'caIntermediatesData',
      'CA intermediates',
    );
    const ca = certificatePool(ctx, roots, inter);
    const fingerprint = fingerprintOf([
      ...ca.roots.map((r): [string, Buffer] => ['root', r]),
      ...ca.intermediates.map((r): [string, Buffer] => ['intermediate', r]),
    ]);
    return {
      kind: 'pki',
      ca,
      certificate: { kind: 'pki', subjectEmail: p.subjectEmail, subjectHostname: p.subjectHostname },
      fingerprint,
      label: `CA ${ca.label}`,
      canonical: { kind: 'pki', fingerprint, subjectEmail: p.subjectEmail ?? null, subjectHostname: p.subjectHostname ?? null },
    };
  }
  const rekor = rekorLogs(rekorKeys(ctx, req), req.requireRekor === true, ctx);
  if (req.fulcio !== undefined) {
    const f = req.fulcio;
    const ca = certificatePool(ctx, pathOrData(ctx, 'fulcio', f.caPath, f.caData, 'caPath', 'caData', 'Fulcio CA')!, undefined);
    const fingerprint = fingerprintOf([
      ...ca.roots.map((r): [string, Buffer] => ['root', r]),
      ...ca.intermediates.map((r): [string, Buffer] => ['intermediate', r]),
      ['rekor', rekor!.fingerprint],
    ]);
    return {
      kind: 'fulcio',
      ca,
      rekor: rekor!.logs,
      certificate: { kind: 'fulcio', oidcIssuer: f.oidcIssuer, subjectEmail: f.subjectEmail },
      fingerprint,
      label: `Fulcio CA ${ca.label}, ${rekor!.label}`,
      canonical: { kind: 'fulcio', fingerprint, oidcIssuer: f.oidcIssuer, subjectEmail: f.subjectEmail },
    };
  }
  const fingerprint = rekor?.fingerprint ?? '';
  return {
    kind: 'keys',
    rekor: rekor?.logs,
    fingerprint,
    label: rekor ? `keys ${keys.map((k) => k.label).join(', ')} with ${rekor.label}` : `keys ${keys.map((k) => k.label).join(', ')}`,
    canonical: { kind: 'keys', rekor: rekor ? fingerprint : null },
  };
}
