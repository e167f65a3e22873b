/**
 * RFC 5280 certificate path validation for signing certificates (`pki`,
 * `fulcio`, `keyless`), as Go's crypto/x509 applies it (containers/image and
 * cosign verify with it, with KeyUsages [codeSigning]):
 *
 * - a path from the leaf to a trusted root of one certificate authority, built
 *   here with bounds (at most PATH_LIMITS.pathLength certificates, no
 *   certificate twice, a cap on signature checks, visited nodes and candidate
 *   paths): a cycle (A issued by B, B by A) or a pile of look-alike
 *   certificates costs a bounded amount and ends in a refusal;
 * - each candidate path is then checked in full: every certificate valid at
 *   every time given (the Rekor or timestamp-authority proven times, or now),
 *   issuers are CAs (basic constraints) allowed to sign certificates
 *   (keyCertSign when key usage is present), path length constraints, extended
 *   key usage nested down the chain (Go's checkChainForKeyUsage: a CA listing
 *   EKUs restricts what it issues, anyExtendedKeyUsage or no EKU extension
 *   permits all), name constraints of every CA (the root's too) against every
 *   name below it (email, DNS, URI, IP: Go's matching rules), no unhandled
 *   critical extension;
 * - and pkijs's CertificateChainValidationEngine validates that same path
 *   (signatures, validity, CA flags, policies), fed only the chosen path.
 *
 * pkijs's engine alone is not enough: it does not check path length
 * constraints, ignores the root's name constraints, and joins the permitted
 * subtrees of successive CAs (a name allowed by either passes) where RFC 5280
 * intersects them.
 */
import { X509Certificate as NodeX509, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { TrustMaterial } from '@sigstore/verify';
import * as pkijs from 'pkijs';
import { SIGNATURE_LIMITS } from './limits.js';

type CertAuthority = TrustMaterial['certificateAuthorities'][number];

export const PATH_LIMITS = {
  /** Certificates a signature may bring along (a bundle's chain, cosign's chain annotation). */
  untrustedCertificates: SIGNATURE_LIMITS.chainCertificates,
  /** Certificates in one path, leaf and root included. */
  pathLength: 8,
  /** Signature checks while building paths (Go's maxChainSignatureChecks). */
  signatureChecks: 100,
  /** Nodes visited while building paths. */
  expansions: 512,
  /** Complete candidate paths validated in full. */
  candidatePaths: 8,
  /** Name-constraint comparisons over one path (Go: 250,000). */
  constraintComparisons: 250_000,
} as const;

const OID_SAN = '2.5.29.17';
const OID_NAME_CONSTRAINTS = '2.5.29.30';
const OID_EKU = '2.5.29.37';
const OID_KEY_USAGE = '2.5.29.15';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const EKU_ANY = '2.5.29.37.0';

/** Critical extensions a path validator must understand (those Go's x509 handles). */
const HANDLED_CRITICAL = new Set([
  OID_KEY_USAGE,
  OID_BASIC_CONSTRAINTS,
  OID_SAN,
  OID_NAME_CONSTRAINTS,
  OID_EKU,
  '2.5.29.32', // certificate policies
  '2.5.29.33', // policy mappings
  '2.5.29.36', // policy constraints
  '2.5.29.54', // inhibit anyPolicy
  '2.5.29.35', // authority key identifier
  '2.5.29.14', // subject key identifier
]);

/** Why no trusted path exists; the message is the refusal's reason. */
export class PathRefusal extends Error {
  override name = 'PathRefusal';
}

function describeName(text: string | undefined): string {
  const parts = (text ?? '').split('\n').filter(Boolean);
  return parts.length === 0 ? '(empty subject)' : parts.join(', ');
}

/** A certificate parsed both ways: node (cheap issuer and signature checks) and pkijs (extensions, validation). */
/** Exported (with the matching helpers below) for the unit tests that pin their rules one by one. */
export class PathCert {
  readonly fp: string;
  readonly node: NodeX509;
  readonly pk: pkijs.Certificate;
  /** Subject and public key: Go's alreadyInChain treats two such certificates as one. */
  readonly identity: string;
  readonly label: string;

  constructor(readonly der: Buffer) {
    try {
      this.node = new NodeX509(der);
      this.pk = pkijs.Certificate.fromBER(new Uint8Array(der));
    } catch {
      throw new PathRefusal('a certificate in the chain is unreadable');
    }
    this.fp = createHash('sha256').update(der).digest('hex');
    const spki = createHash('sha256')
      .update(this.node.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    this.identity = `${this.node.subject ?? ''}\u0000${spki}`;
    this.label = `"${describeName(this.node.subject)}"`;
  }

  ext(oid: string): pkijs.Extension | undefined {
    return this.pk.extensions?.find((e) => e.extnID === oid);
  }

  get isCA(): boolean {
    const bc = this.ext(OID_BASIC_CONSTRAINTS)?.parsedValue as pkijs.BasicConstraints | undefined;
    return bc?.cA === true;
  }

  /** The path length constraint; undefined when there is none. */
  get pathLen(): number | undefined {
    const bc = this.ext(OID_BASIC_CONSTRAINTS)?.parsedValue as pkijs.BasicConstraints | undefined;
    if (bc?.cA !== true || bc.pathLenConstraint === undefined) return undefined;
    const v = bc.pathLenConstraint;
    return typeof v === 'number' ? v : Number.MAX_SAFE_INTEGER;
  }

  /** keyCertSign, or undefined without a key usage extension. */
  get keyCertSign(): boolean | undefined {
    const ku = this.ext(OID_KEY_USAGE);
    if (ku === undefined) return undefined;
    const bits = ku.parsedValue as { valueBlock?: { valueHexView?: Uint8Array } } | undefined;
    const first = bits?.valueBlock?.valueHexView?.[0];
    return first !== undefined && (first & 0x04) !== 0;
  }

  /** The extended key usages, undefined without the extension. */
  get ekus(): string[] | undefined {
    const ext = this.ext(OID_EKU);
    if (ext === undefined) return undefined;
    return (ext.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
  }

  /** The subject alternative names, undefined without the extension. */
  get sans(): pkijs.GeneralName[] | undefined {
    const ext = this.ext(OID_SAN);
    if (ext === undefined) return undefined;
    return (ext.parsedValue as pkijs.AltName | undefined)?.altNames ?? [];
  }

  validAt(t: Date): boolean {
    return this.pk.notBefore.value.getTime() <= t.getTime() && t.getTime() <= this.pk.notAfter.value.getTime();
  }

  validity(): string {
    return `${this.pk.notBefore.value.toISOString()} to ${this.pk.notAfter.value.toISOString()}`;
  }
}

/** Trusted certificates parsed once per certificate object. */
const parsedTrusted = new WeakMap<object, PathCert>();

function trustedCert(c: CertAuthority['certChain'][number]): PathCert {
  let p = parsedTrusted.get(c);
  if (p === undefined) {
    p = new PathCert(Buffer.from(c.root.toDER()));
    parsedTrusted.set(c, p);
  }
  return p;
}

// ---- Go's name-constraint matching (crypto/x509 verify.go), rewritten ----

/** Labels of a domain, last first; undefined when not a valid domain (empty labels, bytes outside 33..126). */
export function reverseLabels(domain: string): string[] | undefined {
  if (domain.length === 0) return [];
  const labels = domain.split('.').reverse();
  if (labels.some((l) => l.length === 0 || /[^\x21-\x7e]/.test(l))) return undefined;
  return labels;
}

interface Mailbox {
  local: string;
  domain: string;
}

/** An RFC 2821 mailbox (RFC 5280 rfc822Name): quoted or dot-atom local part, '@', a domain. */
export function parseMailbox(text: string): Mailbox | undefined {
  let rest = text;
  let local = '';
  if (rest.startsWith('"')) {
    rest = rest.slice(1);
    for (;;) {
      if (rest.length === 0) return undefined;
      const c = rest.charCodeAt(0);
      rest = rest.slice(1);
      if (c === 0x22) break;
      if (c === 0x5c) {
        if (rest.length === 0) return undefined;
        const q = rest.charCodeAt(0);
        if (q === 10 || q === 13 || q === 0 || q > 127) return undefined;
        local += rest[0];
        rest = rest.slice(1);
      } else if (c === 9 || c === 10 || c === 13 || c === 0 || c === 0x22 || c === 0x5c || c > 126) {
        return undefined;
      } else {
        local += String.fromCharCode(c);
      }
    }
  } else {
    const atom = /^(?:\\.|[0-9A-Za-z!#$%&'*+\-/=?^_`{|}~.])*/.exec(rest)![0];
    local = atom.replace(/\\(.)/g, '$1');
    rest = rest.slice(atom.length);
    if (local.length === 0 || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return undefined;
  }
  if (!rest.startsWith('@')) return undefined;
  const domain = rest.slice(1);
  if (domain.length === 0 || reverseLabels(domain) === undefined) return undefined;
  return { local, domain };
}

const lower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Go's domainNameValid for a DNS SAN. */
export function dnsNameValid(s: string): boolean {
  if (s.length === 0 || s.startsWith('.') || s.endsWith('.') || s.length > 253) return false;
  return s.split('.').every((l) => l.length > 0 && l.length <= 63 && !/[^\x21-\x7e]/.test(l));
}

export function matchDomain(domain: string, constraint: string, excluded: boolean): boolean {
  if (constraint.length === 0) return true;
  let domainLabels = reverseLabels(domain);
  if (domainLabels === undefined) throw new PathRefusal(`cannot parse domain ${JSON.stringify(domain)}`);
  const mustHaveSubdomains = constraint.startsWith('.');
  let constraintLabels = reverseLabels(mustHaveSubdomains ? constraint.slice(1) : constraint);
  if (constraintLabels === undefined) throw new PathRefusal(`cannot parse name constraint ${JSON.stringify(constraint)}`);
  if (domainLabels.length < constraintLabels.length || (mustHaveSubdomains && domainLabels.length === constraintLabels.length))
    return false;
  if (excluded && domain.startsWith('*') && domainLabels.length > 1 && constraintLabels.length > 0) {
    domainLabels = domainLabels.slice(0, -1);
    constraintLabels = constraintLabels.slice(0, -1);
  }
  return constraintLabels.every((l, i) => lower(l) === lower(domainLabels[i]!));
}

export function matchEmail(mailbox: Mailbox, constraint: string, excluded: boolean): boolean {
  if (constraint.includes('@')) {
    const c = parseMailbox(constraint);
    if (c === undefined) throw new PathRefusal(`cannot parse name constraint ${JSON.stringify(constraint)}`);
    return mailbox.local === c.local && lower(mailbox.domain) === lower(c.domain);
  }
  return matchDomain(mailbox.domain, constraint, excluded);
}

/** The host of a URI SAN, as Go's url.Parse gives it; refusals for hosts no constraint can judge. */
export function uriHost(uri: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  let host = m ? m[1]! : '';
  const at = host.lastIndexOf('@');
  if (at >= 0) host = host.slice(at + 1);
  if (host.length === 0) throw new PathRefusal(`URI with empty host (${JSON.stringify(uri)}) cannot be matched against name constraints`);
  if (host.includes(':') && !host.endsWith(']')) {
    const colon = host.lastIndexOf(':');
    if (host.indexOf(':') !== colon) throw new PathRefusal(`URI ${JSON.stringify(uri)} has an unreadable host`);
    host = host.slice(0, colon);
  }
  if (isIP(host) !== 0 || (host.startsWith('[') && host.endsWith(']'))) {
    throw new PathRefusal(`URI with IP (${JSON.stringify(uri)}) cannot be matched against name constraints`);
  }
  return host;
}

export function matchIP(ip: Uint8Array, constraint: Uint8Array): boolean {
  const n = ip.length;
  if (constraint.length !== 2 * n) return false;
  for (let i = 0; i < n; i++) if ((ip[i]! & constraint[n + i]!) !== (constraint[i]! & constraint[n + i]!)) return false;
  return true;
}

function ipText(ip: Uint8Array): string {
  if (ip.length === 4) return [...ip].join('.');
  return Buffer.from(ip)
    .toString('hex')
    .replace(/(.{4})(?!$)/g, '$1:');
}

function constraintText(gn: pkijs.GeneralName): string {
  if (gn.type === 7) {
    const b = (gn.value as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView;
    const n = b.length / 2;
    return `${ipText(b.subarray(0, n))}/${ipText(b.subarray(n))}`;
  }
  return String(gn.value);
}

const NAME_FORMS: Record<number, string> = { 1: 'email address', 2: 'DNS name', 6: 'URI', 7: 'IP address' };

/** A CA's constraints by name form; `unsupported` lists forms sigguard (like Go) does not check. */
export function constraintsOf(
  ca: PathCert,
): { permitted: pkijs.GeneralName[]; excluded: pkijs.GeneralName[]; critical: boolean } | undefined {
  const ext = ca.ext(OID_NAME_CONSTRAINTS);
  if (ext === undefined) return undefined;
  const nc = ext.parsedValue as pkijs.NameConstraints | undefined;
  if (nc === undefined) throw new PathRefusal(`name constraints of ${ca.label} are unreadable`);
  const take = (list: pkijs.GeneralSubtree[] | undefined): pkijs.GeneralName[] => {
    const out: pkijs.GeneralName[] = [];
    for (const st of list ?? []) {
      const gn = st.base;
      if (NAME_FORMS[gn.type] === undefined) {
        // Go: a name form it cannot check makes a critical extension unhandled (the CA is refused)
        if (ext.critical)
          throw new PathRefusal(`name constraints of ${ca.label} use a name form sigguard cannot check (GeneralName type ${gn.type})`);
        continue;
      }
      if (gn.type === 7) {
        const len = (gn.value as { valueBlock?: { valueHexView?: Uint8Array } }).valueBlock?.valueHexView?.length;
        if (len !== 8 && len !== 32) throw new PathRefusal(`name constraints of ${ca.label} hold a malformed IP range`);
      } else if (typeof gn.value !== 'string') {
        throw new PathRefusal(`name constraints of ${ca.label} are unreadable`);
      } else if (gn.type === 6 && isIP(gn.value.replace(/^\./, '')) !== 0) {
        throw new PathRefusal(`name constraints of ${ca.label}: a URI constraint cannot be an IP address`);
      }
      out.push(gn);
    }
    return out;
  };
  return { permitted: take(nc.permittedSubtrees), excluded: take(nc.excludedSubtrees), critical: ext.critical };
}

/** Undefined when every name below each constrained CA is allowed; else why not. */
export function nameConstraintProblem(path: PathCertLike[]): string | undefined {
  let comparisons = 0;
  for (let i = 1; i < path.length; i++) {
    const ca = path[i] as PathCert;
    const cons = constraintsOf(ca);
    if (cons === undefined) continue;
    for (let j = 0; j < i; j++) {
      const sans = (path[j] as PathCert).sans;
      if (sans === undefined) continue;
      for (const gn of sans) {
        const form = NAME_FORMS[gn.type];
        if (form === undefined) continue; // other SAN forms are not constrained (Go)
        let shown: string;
        let match: (c: pkijs.GeneralName, excluded: boolean) => boolean;
        if (gn.type === 7) {
          const ip = (gn.value as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView;
          if (ip.length !== 4 && ip.length !== 16) return `IP address SAN of ${(path[j] as PathCert).label} is malformed`;
          shown = ipText(ip);
          match = (c) => matchIP(ip, (c.value as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView);
        } else {
          const name = String(gn.value);
          shown = name;
          if (gn.type === 1) {
            const mailbox = parseMailbox(name);
            if (mailbox === undefined)
              return `cannot parse email address ${JSON.stringify(name)} under the name constraints of ${ca.label}`;
            match = (c, ex) => matchEmail(mailbox, String(c.value), ex);
          } else if (gn.type === 2) {
            if (!dnsNameValid(name)) return `cannot parse DNS name ${JSON.stringify(name)} under the name constraints of ${ca.label}`;
            match = (c, ex) => matchDomain(name, String(c.value), ex);
          } else {
            const host = uriHost(name);
            match = (c, ex) => matchDomain(host, String(c.value), ex);
          }
        }
        const excluded = cons.excluded.filter((c) => c.type === gn.type);
        const permitted = cons.permitted.filter((c) => c.type === gn.type);
        comparisons += excluded.length + permitted.length;
        if (comparisons > PATH_LIMITS.constraintComparisons) return `name constraints of ${ca.label} take too many comparisons`;
        const hit = excluded.find((c) => match(c, true));
        if (hit !== undefined)
          return `${form} ${JSON.stringify(shown)} is excluded by the name constraint ${JSON.stringify(constraintText(hit))} of ${ca.label}`;
        if (permitted.length > 0 && !permitted.some((c) => match(c, false))) {
          return `${form} ${JSON.stringify(shown)} is not permitted by the name constraints of ${ca.label} (permitted: ${permitted.map(constraintText).join(', ')})`;
        }
      }
    }
  }
  return undefined;
}

/**
 * Go's checkChainForKeyUsage for one requested usage, walking from the root down: a
 * certificate without EKU, or with anyExtendedKeyUsage, permits everything; one that lists
 * EKUs without the usage ends it. Undefined when the usage survives; else the certificate.
 */
export function ekuRefusedBy(path: PathCertLike[], usage: string = EKU_CODE_SIGNING): PathCertLike | undefined {
  for (let i = path.length - 1; i >= 0; i--) {
    const ekus = path[i]!.ekus;
    if (ekus === undefined || ekus.length === 0) continue;
    if (ekus.includes(EKU_ANY)) continue;
    if (!ekus.includes(usage)) return path[i];
  }
  return undefined;
}

/** What ekuRefusedBy reads of a certificate. */
export interface PathCertLike {
  readonly ekus: string[] | undefined;
}

/** Checks of one complete path (leaf … root) other than signatures; undefined when it holds. */
export function pathProblem(path: PathCert[], times: Date[]): string | undefined {
  for (const cert of path) {
    for (const ext of cert.pk.extensions ?? []) {
      if (ext.critical && !HANDLED_CRITICAL.has(ext.extnID))
        return `certificate ${cert.label} has an unhandled critical extension ${ext.extnID}`;
    }
    for (const t of times) {
      if (!cert.validAt(t))
        return `${cert === path[0] ? 'signing certificate' : `certificate ${cert.label}`} is not valid or expired at ${t.toISOString()} (valid ${cert.validity()})`;
    }
  }
  for (let i = 1; i < path.length; i++) {
    const ca = path[i]!;
    const role = i === path.length - 1 ? 'root' : 'intermediate';
    if (!ca.isCA) return `${role} ${ca.label} is not a CA certificate (basic constraints) and cannot issue ${path[i - 1]!.label}`;
    if (ca.keyCertSign === false) return `${role} ${ca.label} may not sign certificates (key usage without keyCertSign)`;
    const max = ca.pathLen;
    if (max !== undefined && i - 1 > max)
      return `path length constraint of ${ca.label} (pathlen ${max}) exceeded: ${i - 1} intermediates below it`;
  }
  const eku = ekuRefusedBy(path) as PathCert | undefined;
  if (eku !== undefined) {
    const role = eku === path[0] ? 'signing certificate' : 'CA';
    return `${role} ${eku.label} does not allow code signing (extended key usage ${eku.ekus!.join(', ')})`;
  }
  return nameConstraintProblem(path);
}

/**
 * pkijs's validation of exactly this path at `at`; undefined when it passes. Signatures are
 * checked by node's OpenSSL (WebCrypto, which pkijs would use, has no Ed25519 certificates).
 */
async function pkijsProblem(path: PathCert[], at: Date): Promise<string | undefined> {
  const issuerOf = new Map<pkijs.Certificate, PathCert>();
  const byPk = new Map<pkijs.Certificate, PathCert>();
  for (let i = 0; i + 1 < path.length; i++) issuerOf.set(path[i]!.pk, path[i + 1]!);
  for (const c of path) byPk.set(c.pk, c);
  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: [path[path.length - 1]!.pk],
    // the leaf last: the engine takes the last certificate for the end entity
    certs: [...path.slice(1, -1).map((c) => c.pk), path[0]!.pk],
    checkDate: at,
    // the path is chosen: each certificate's issuer is the next one, if its signature verifies
    findIssuer: async (cert) => {
      const child = byPk.get(cert);
      const issuer = issuerOf.get(cert);
      if (child === undefined || issuer === undefined) return [];
      try {
        return child.node.verify(issuer.node.publicKey) ? [issuer.pk] : [];
      } catch {
        return [];
      }
    },
  });
  let result: { result: boolean; resultMessage?: string };
  try {
    result = await engine.verify();
  } catch (err) {
    return `path validation failed (${(err as Error).message ?? String(err)})`;
  }
  return result.result ? undefined : `path validation failed: ${result.resultMessage ?? 'unknown reason'}`;
}

export interface PathRequest {
  /** The signing certificate (DER). */
  leaf: Buffer;
  /** Intermediates the signature brings along (at most PATH_LIMITS.untrustedCertificates). */
  untrusted: Buffer[];
  /** The trusted certificate authorities: each chain's last certificate is its root, the others trusted intermediates. */
  authorities: CertAuthority[];
  /** Every time the path must be valid at (at least one). */
  times: Date[];
  checkpoint?: () => void;
}

export interface ValidPath {
  /** DER, leaf first, root last. */
  certificates: Buffer[];
  authority: CertAuthority;
}

/** A path from the leaf to a trusted root valid at every time; throws PathRefusal with why not. */
export async function validatePath(req: PathRequest): Promise<ValidPath> {
  const checkpoint = req.checkpoint ?? (() => {});
  const times = [...new Map(req.times.map((t) => [t.getTime(), t])).values()];
  if (times.length === 0) throw new PathRefusal('no time to check the certificate path at');
  if (req.untrusted.length > PATH_LIMITS.untrustedCertificates) {
    throw new PathRefusal(`certificate chain holds ${req.untrusted.length} certificates, more than ${PATH_LIMITS.untrustedCertificates}`);
  }
  const leaf = new PathCert(req.leaf);
  const usable = req.authorities.filter(
    (ca) => ca.certChain.length > 0 && times.every((t) => ca.validFor.start <= t && t <= ca.validFor.end),
  );
  if (usable.length === 0) {
    throw new PathRefusal(`no trusted certificate authority is valid at ${times.map((t) => t.toISOString()).join(', ')}`);
  }
  const anchors = new Map<string, { cert: PathCert; authority: CertAuthority }>();
  const pool = new Map<string, PathCert>();
  for (const ca of usable) {
    const chain = ca.certChain.map(trustedCert);
    const root = chain[chain.length - 1]!;
    if (!anchors.has(root.fp)) anchors.set(root.fp, { cert: root, authority: ca });
    for (const c of chain.slice(0, -1)) pool.set(c.fp, c);
  }
  for (const der of req.untrusted) {
    const c = new PathCert(der);
    if (!anchors.has(c.fp) && !pool.has(c.fp)) pool.set(c.fp, c);
  }

  let signatureChecks = 0;
  let expansions = 0;
  let candidates = 0;
  let firstProblem: string | undefined;
  const issued = new Map<string, boolean>();
  const issues = (child: PathCert, parent: PathCert): boolean => {
    const key = `${child.fp}:${parent.fp}`;
    let ok = issued.get(key);
    if (ok !== undefined) return ok;
    ok = false;
    let named = false;
    try {
      named = child.node.checkIssued(parent.node);
    } catch {
      named = false;
    }
    if (named) {
      checkpoint();
      if (++signatureChecks > PATH_LIMITS.signatureChecks) {
        throw new PathRefusal(`certificate path search gave up after ${PATH_LIMITS.signatureChecks} signature checks`);
      }
      try {
        ok = child.node.verify(parent.node.publicKey);
      } catch {
        ok = false;
      }
    }
    issued.set(key, ok);
    return ok;
  };
  const inChain = (c: PathCert, chain: PathCert[]) => chain.some((x) => x.fp === c.fp || x.identity === c.identity);

  const extend = async (chain: PathCert[]): Promise<ValidPath | undefined> => {
    checkpoint();
    if (++expansions > PATH_LIMITS.expansions)
      throw new PathRefusal(`certificate path search gave up after ${PATH_LIMITS.expansions} steps`);
    const child = chain[chain.length - 1]!;
    for (const { cert, authority } of anchors.values()) {
      if (inChain(cert, chain) || !issues(child, cert)) continue;
      const path = [...chain, cert];
      if (++candidates > PATH_LIMITS.candidatePaths)
        throw new PathRefusal(`no valid certificate path among the first ${PATH_LIMITS.candidatePaths} tried: ${firstProblem}`);
      let problem = pathProblem(path, times);
      if (problem === undefined) {
        checkpoint();
        problem = await pkijsProblem(path, times[0]!);
      }
      if (problem === undefined) return { certificates: path.map((c) => c.der), authority };
      firstProblem ??= problem;
    }
    // room for this intermediate and a root after it
    if (chain.length + 2 > PATH_LIMITS.pathLength) {
      firstProblem ??= `no trusted root within ${PATH_LIMITS.pathLength} certificates`;
      return undefined;
    }
    for (const cand of pool.values()) {
      if (inChain(cand, chain) || !issues(child, cand)) continue;
      // Go's isValid when appending an intermediate: a CA, valid at the time
      if (!cand.isCA) {
        firstProblem ??= `intermediate ${cand.label} is not a CA certificate (basic constraints) and cannot issue ${child.label}`;
        continue;
      }
      const late = times.find((t) => !cand.validAt(t));
      if (late !== undefined) {
        firstProblem ??= `certificate ${cand.label} is not valid or expired at ${late.toISOString()} (valid ${cand.validity()})`;
        continue;
      }
      const found = await extend([...chain, cand]);
      if (found !== undefined) return found;
    }
    return undefined;
  };

  const found = await extend([leaf]);
  if (found !== undefined) return found;
  throw new PathRefusal(firstProblem ?? `no path from ${leaf.label} issued by "${describeName(leaf.node.issuer)}" to a trusted root`);
}
