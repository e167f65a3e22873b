/**
 * Which certificate holders a requirement accepts: containers-policy.json(5)'s
 * `fulcio` (exact OIDC issuer, an email SAN) and `pki` (an email SAN and/or a
 * DNS name), and sigguard's `keyless.identities` (issuer and subject, exact or
 * as a regular expression, any of the listed pairs) with pinned Fulcio
 * extensions. Pure: the facts come from src/verify/certificate.ts.
 *
 * Regular expressions match the whole value, as if written ^(?:…)$. cosign and
 * policy-controller match them anywhere in the value (Go's MatchString): a
 * pattern that is not anchored means more there than here; the policy loader
 * warns about those.
 */
import type { FulcioExtensionName } from './schema.js';

export interface SubjectAltName {
  type: 'email' | 'dns' | 'uri' | 'ip' | 'othername';
  value: string;
}

/** What a signing certificate says about its holder. */
export interface CertificateFacts {
  sans: SubjectAltName[];
  /** The OIDC issuer Fulcio recorded, if any. */
  issuer: string | undefined;
  /** Fulcio extensions present, by sigguard's field name. */
  extensions: Partial<Record<FulcioExtensionName, string>>;
  /** No extended key usage, or one that includes code signing. */
  codeSigning: boolean;
}

/** A string condition: exact, or a whole-value regular expression. */
export type StringMatch = { exact: string } | { regexp: RegExp; source: string };

export interface KeylessIdentity {
  issuer: StringMatch;
  subject: StringMatch;
}

export type CertificateRule =
  | { kind: 'fulcio'; oidcIssuer: string; subjectEmail: string }
  | { kind: 'pki'; subjectEmail: string | undefined; subjectHostname: string | undefined }
  | { kind: 'keyless'; identities: KeylessIdentity[]; extensions: Partial<Record<FulcioExtensionName, string>> };

/** Compiles a policy regular expression to match whole values; throws an Error on bad syntax. */
export function wholeValueRegExp(source: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch (err) {
    throw new Error(`not a valid regular expression (${(err as Error).message})`);
  }
}

/**
 * True when `source` means the same matched whole (sigguard) and anywhere
 * (cosign): it starts with ^, ends with an unescaped $, and has no top-level |.
 */
export function anchoredLikeCosign(source: string): boolean {
  if (!source.startsWith('^') || !source.endsWith('$')) return false;
  let depth = 0;
  let inClass = false;
  let escapedDollar = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      if (i === source.length - 2) escapedDollar = true;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return false;
  }
  return !escapedDollar;
}

function matches(m: StringMatch, value: string): boolean {
  return 'exact' in m ? m.exact === value : m.regexp.test(value);
}

function describeMatch(m: StringMatch): string {
  return 'exact' in m ? m.exact : `/${m.source}/`;
}

/** Go's VerifyHostname for DNS names: case-insensitive, a leading `*.` covers exactly one label. */
function hostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const h = host.toLowerCase().replace(/\.$/, '');
  if (p === h) return true;
  if (!p.startsWith('*.')) return false;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot) === p.slice(1);
}

const emails = (f: CertificateFacts) => f.sans.filter((s) => s.type === 'email').map((s) => s.value);

/** Undefined when the certificate's holder is accepted; else what the rule requires (for the reason). */
export function certificateMismatch(rule: CertificateRule, facts: CertificateFacts): string | undefined {
  switch (rule.kind) {
    case 'fulcio': {
      if (facts.issuer === rule.oidcIssuer && emails(facts).includes(rule.subjectEmail)) return undefined;
      return `email ${rule.subjectEmail} (issuer ${rule.oidcIssuer})`;
    }
    case 'pki': {
      const emailOk = rule.subjectEmail === undefined || emails(facts).includes(rule.subjectEmail);
      const dns = facts.sans.filter((s) => s.type === 'dns').map((s) => s.value);
      const hostOk = rule.subjectHostname === undefined || dns.some((d) => hostnameMatches(d, rule.subjectHostname!));
      if (emailOk && hostOk) return undefined;
      return [
        rule.subjectEmail !== undefined ? `email ${rule.subjectEmail}` : '',
        rule.subjectHostname !== undefined ? `hostname ${rule.subjectHostname}` : '',
      ]
        .filter(Boolean)
        .join(' and ');
    }
    case 'keyless': {
      const issuer = facts.issuer;
      const identityOk = rule.identities.some(
        (id) => issuer !== undefined && matches(id.issuer, issuer) && facts.sans.some((s) => matches(id.subject, s.value)),
      );
      const wanted = rule.identities.map((id) => `${describeMatch(id.subject)} (issuer ${describeMatch(id.issuer)})`).join(' or ');
      if (!identityOk) return wanted;
      for (const [name, value] of Object.entries(rule.extensions)) {
        const got = facts.extensions[name as FulcioExtensionName];
        if (got !== value) return `${wanted} with ${name} ${value} (the certificate has ${got === undefined ? 'none' : got})`;
      }
      return undefined;
    }
  }
}

/** The certificate's holder as a reason names it: `mitr@redhat.com (issuer https://github.com/login/oauth)`. */
export function describeHolder(facts: CertificateFacts): string {
  const names = facts.sans.map((s) => s.value);
  const who = names.length === 0 ? '(no subject alternative name)' : names.join(', ');
  return `${who} (${facts.issuer === undefined ? 'no OIDC issuer' : `issuer ${facts.issuer}`})`;
}
