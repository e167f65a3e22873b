/**
 * containers-policy.json(5) as containers/image parses it: the requirement
 * objects the generator writes, and a strict re-parse of them for a target
 * version. containers/image refuses a whole policy.json over one unknown key
 * or one invalid identity, and CRI-O then pulls nothing, so every file the
 * generator writes goes through checkPolicyJson first.
 */
import { isAbsolute } from 'node:path';
import { type ImageReference, parseReference } from '../reference/reference.js';
import { scopeProblem } from '../policy/scopes.js';
import { FEATURES, type Version, atLeast, formatVersion } from './versions.js';

export type IdentityJson =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

/** containers-policy.json(5)'s `fulcio` (containers/image 5.24+). */
export interface FulcioJson {
  caPath?: string;
  caData?: string;
  oidcIssuer: string;
  subjectEmail: string;
}

/** containers-policy.json(5)'s `pki` (containers/image 5.35+). */
export interface PkiJson {
  caRootsPath?: string;
  caRootsData?: string;
  caIntermediatesPath?: string;
  caIntermediatesData?: string;
  subjectEmail?: string;
  subjectHostname?: string;
}

export interface SigstoreSignedJson {
  type: 'sigstoreSigned';
  keyPath?: string;
  keyPaths?: string[];
  keyData?: string;
  keyDatas?: string[];
  fulcio?: FulcioJson;
  pki?: PkiJson;
  rekorPublicKeyPath?: string;
  rekorPublicKeyPaths?: string[];
  rekorPublicKeyData?: string;
  rekorPublicKeyDatas?: string[];
  signedIdentity: IdentityJson;
}

export type RequirementJson = { type: 'insecureAcceptAnything' } | { type: 'reject' } | SigstoreSignedJson;

/** The trust sources of sigstoreSigned, exactly one of which must be present, in the order they are written. */
export const TRUST_SOURCES = ['keyPath', 'keyPaths', 'keyData', 'keyDatas', 'fulcio', 'pki'] as const;
/** The Rekor key sources, at most one of which may be present; required with fulcio, refused with pki. */
export const REKOR_SOURCES = ['rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'] as const;
const FULCIO_FIELDS = ['caPath', 'caData', 'oidcIssuer', 'subjectEmail'] as const;
const PKI_FIELDS = ['caRootsPath', 'caRootsData', 'caIntermediatesPath', 'caIntermediatesData', 'subjectEmail', 'subjectHostname'] as const;

export interface PolicyJson {
  default: RequirementJson[];
  transports?: { docker: Record<string, RequirementJson[]> };
}

// containers/image's docker/reference grammar (regexp.go), for remapIdentity prefixes.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*`;
const REMAP_DOMAIN = new RegExp(`^${DOMAIN}$`);
const REMAP_DOMAIN_PREFIX = new RegExp(`^${DOMAIN}/`);
const REMAP_NAME = new RegExp(`^${NAME}$`);
const REFERENCE = new RegExp(
  `^${NAME}(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** containers/image's validateIdentityRemappingPrefix: a host[:port], or a repository name that starts with one. */
export function remapPrefixProblem(prefix: string): string | undefined {
  if (REMAP_DOMAIN.test(prefix) || (REMAP_NAME.test(prefix) && REMAP_DOMAIN_PREFIX.test(prefix))) return undefined;
  return `prefix "${prefix}" is not a host[:port] or a repository name starting with one`;
}

/** A reference both containers/image's grammar and sigguard's parser accept, or why not. */
function referenceProblem(text: string, field: string): ImageReference | string {
  if (!REFERENCE.test(text)) return `${field} "${text}" is not a valid image reference`;
  try {
    return parseReference(text);
  } catch (err) {
    return `${field}: ${(err as Error).message}`;
  }
}

/** Why containers/image would refuse an identity rule (it then refuses the whole policy.json), or undefined. */
export function identityProblem(identity: IdentityJson): string | undefined {
  switch (identity.type) {
    case 'exactReference': {
      const ref = referenceProblem(identity.dockerReference, 'dockerReference');
      if (typeof ref === 'string') return ref;
      if (ref.tag === undefined && ref.digest === undefined)
        return `dockerReference "${identity.dockerReference}" contains neither a tag nor a digest`;
      return undefined;
    }
    case 'exactRepository': {
      const ref = referenceProblem(identity.dockerRepository, 'dockerRepository');
      return typeof ref === 'string' ? ref : undefined;
    }
    case 'remapIdentity':
      return remapPrefixProblem(identity.prefix) ?? remapPrefixProblem(identity.signedPrefix)?.replace(/^prefix/, 'signedPrefix');
    default:
      return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function exactKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new Error(`${where}: Unknown key "${k}"`);
  }
}

function checkIdentity(v: unknown, where: string): void {
  if (!isObject(v) || typeof v.type !== 'string') throw new Error(`${where}: not an identity object`);
  const fields: Record<string, string[]> = {
    matchExact: [],
    matchRepoDigestOrExact: [],
    matchRepository: [],
    exactReference: ['dockerReference'],
    exactRepository: ['dockerRepository'],
    remapIdentity: ['prefix', 'signedPrefix'],
  };
  const wanted = fields[v.type];
  if (wanted === undefined) throw new Error(`${where}: unknown identity type "${v.type}"`);
  exactKeys(v, ['type', ...wanted], where);
  for (const f of wanted) if (typeof v[f] !== 'string' || v[f] === '') throw new Error(`${where}: missing ${f}`);
  const problem = identityProblem(v as IdentityJson);
  if (problem !== undefined) throw new Error(`${where}: ${problem}`);
}

function checkKeyPath(p: unknown, where: string): void {
  if (typeof p !== 'string' || !isAbsolute(p)) throw new Error(`${where}: not an absolute path`);
}

function checkKeyData(d: unknown, where: string): void {
  if (typeof d !== 'string' || d === '' || !STRICT_BASE64.test(d)) throw new Error(`${where}: not standard padded base64`);
}

const present = (obj: Record<string, unknown>, keys: readonly string[]): string[] => keys.filter((k) => obj[k] !== undefined);

function checkList(v: unknown, check: (item: unknown, where: string) => void, where: string): void {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: must be a non-empty array`);
  v.forEach((item, i) => {
    check(item, `${where}[${i}]`);
  });
}

function checkString(v: unknown, where: string): void {
  if (typeof v !== 'string' || v === '') throw new Error(`${where}: must be a non-empty string`);
}

function checkFulcio(v: unknown, where: string): void {
  if (!isObject(v)) throw new Error(`${where}: not an object`);
  exactKeys(v, FULCIO_FIELDS, where);
  if (present(v, ['caPath', 'caData']).length !== 1) throw new Error(`${where}: exactly one of caPath, caData must be present`);
  if (v.caPath !== undefined) checkKeyPath(v.caPath, `${where}.caPath`);
  if (v.caData !== undefined) checkKeyData(v.caData, `${where}.caData`);
  checkString(v.oidcIssuer, `${where}.oidcIssuer`);
  checkString(v.subjectEmail, `${where}.subjectEmail`);
}

function checkPki(v: unknown, where: string): void {
  if (!isObject(v)) throw new Error(`${where}: not an object`);
  exactKeys(v, PKI_FIELDS, where);
  if (present(v, ['caRootsPath', 'caRootsData']).length !== 1)
    throw new Error(`${where}: exactly one of caRootsPath, caRootsData must be present`);
  if (present(v, ['caIntermediatesPath', 'caIntermediatesData']).length > 1)
    throw new Error(`${where}: at most one of caIntermediatesPath, caIntermediatesData may be present`);
  for (const f of ['caRootsPath', 'caIntermediatesPath'] as const) if (v[f] !== undefined) checkKeyPath(v[f], `${where}.${f}`);
  for (const f of ['caRootsData', 'caIntermediatesData'] as const) if (v[f] !== undefined) checkKeyData(v[f], `${where}.${f}`);
  if (present(v, ['subjectEmail', 'subjectHostname']).length === 0)
    throw new Error(`${where}: at least one of subjectEmail, subjectHostname must be present`);
  for (const f of ['subjectEmail', 'subjectHostname'] as const) if (v[f] !== undefined) checkString(v[f], `${where}.${f}`);
}

/** The sigstoreSigned keys containers/image `target` knows. */
function sigstoreKeys(target: Version): string[] {
  const keys = ['type', 'keyPath', 'keyData', 'signedIdentity'];
  if (atLeast(target, FEATURES.fulcio.since)) keys.push('fulcio', 'rekorPublicKeyPath', 'rekorPublicKeyData');
  if (atLeast(target, FEATURES.keyPaths.since)) keys.push('keyPaths', 'keyDatas', 'rekorPublicKeyPaths', 'rekorPublicKeyDatas');
  if (atLeast(target, FEATURES.pki.since)) keys.push('pki');
  return keys;
}

function checkRequirement(v: unknown, target: Version, where: string): void {
  if (!isObject(v)) throw new Error(`${where}: not an object`);
  switch (v.type) {
    case 'insecureAcceptAnything':
    case 'reject':
      exactKeys(v, ['type'], where);
      return;
    case 'sigstoreSigned': {
      const known = sigstoreKeys(target);
      exactKeys(v, known, where);
      const sources = present(v, TRUST_SOURCES);
      if (sources.length !== 1)
        throw new Error(`${where}: exactly one of ${TRUST_SOURCES.filter((k) => known.includes(k)).join(', ')} must be present`);
      if (v.keyPath !== undefined) checkKeyPath(v.keyPath, `${where}.keyPath`);
      if (v.keyData !== undefined) checkKeyData(v.keyData, `${where}.keyData`);
      if (v.keyPaths !== undefined) checkList(v.keyPaths, checkKeyPath, `${where}.keyPaths`);
      if (v.keyDatas !== undefined) checkList(v.keyDatas, checkKeyData, `${where}.keyDatas`);
      if (v.fulcio !== undefined) checkFulcio(v.fulcio, `${where}.fulcio`);
      if (v.pki !== undefined) checkPki(v.pki, `${where}.pki`);
      const rekor = present(v, REKOR_SOURCES);
      if (rekor.length > 1) throw new Error(`${where}: at most one of ${REKOR_SOURCES.join(', ')} may be present`);
      if (v.fulcio !== undefined && rekor.length === 0) throw new Error(`${where}: fulcio needs one of ${REKOR_SOURCES.join(', ')}`);
      if (v.pki !== undefined && rekor.length > 0) throw new Error(`${where}: ${rekor[0]} is not supported for pki`);
      if (v.rekorPublicKeyPath !== undefined) checkKeyPath(v.rekorPublicKeyPath, `${where}.rekorPublicKeyPath`);
      if (v.rekorPublicKeyData !== undefined) checkKeyData(v.rekorPublicKeyData, `${where}.rekorPublicKeyData`);
      if (v.rekorPublicKeyPaths !== undefined) checkList(v.rekorPublicKeyPaths, checkKeyPath, `${where}.rekorPublicKeyPaths`);
      if (v.rekorPublicKeyDatas !== undefined) checkList(v.rekorPublicKeyDatas, checkKeyData, `${where}.rekorPublicKeyDatas`);
      // sigguard always writes signedIdentity, though containers/image defaults it to matchRepoDigestOrExact.
      checkIdentity(v.signedIdentity, `${where}.signedIdentity`);
      return;
    }
    default:
      throw new Error(`${where}: unknown requirement type ${JSON.stringify(v.type)}`);
  }
}

function checkRequirements(v: unknown, target: Version, where: string): void {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: List of verification policy requirements must not be empty`);
  v.forEach((r, i) => {
    checkRequirement(r, target, `${where}[${i}]`);
  });
}

/**
 * Re-parses a policy.json the way containers/image `target` would (the subset
 * sigguard writes: the docker transport, insecureAcceptAnything, reject,
 * sigstoreSigned with keys, fulcio or pki, and Rekor keys). Throws an Error
 * naming the first problem.
 */
export function checkPolicyJson(text: string, target: Version): PolicyJson {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new Error('not a JSON object');
  exactKeys(doc, ['default', 'transports'], 'policy');
  if (doc.default === undefined) throw new Error('Default policy is missing');
  checkRequirements(doc.default, target, 'default');
  if (doc.transports !== undefined) {
    if (!isObject(doc.transports)) throw new Error('transports: not an object');
    exactKeys(doc.transports, ['docker'], 'transports');
    const docker = doc.transports.docker;
    if (docker !== undefined) {
      if (!isObject(docker)) throw new Error('transports.docker: not an object');
      for (const [scope, reqs] of Object.entries(docker)) {
        // registry-1.docker.io/… scopes are the generator's aliases of docker.io/… ones (see generate.ts).
        const problem = scopeProblem(
          scope.startsWith('registry-1.docker.io/') ? `docker.io${scope.slice('registry-1.docker.io'.length)}` : scope,
        );
        if (problem !== undefined) throw new Error(`transports.docker: scope "${scope}": ${problem}`);
        checkRequirements(reqs, target, `transports.docker["${scope}"]`);
      }
    }
  }
  return doc as unknown as PolicyJson;
}

function ordered<T extends object>(obj: T, keys: readonly string[]): T {
  const src = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out as T;
}

/** The requirement, written with a stable key order: type, the trust source, the Rekor keys, signedIdentity. */
export function orderedRequirement(r: RequirementJson): RequirementJson {
  if (r.type !== 'sigstoreSigned') return { type: r.type };
  const out = ordered(r, ['type', ...TRUST_SOURCES, ...REKOR_SOURCES]) as unknown as Record<string, unknown>;
  if (r.fulcio !== undefined) out.fulcio = ordered(r.fulcio, FULCIO_FIELDS);
  if (r.pki !== undefined) out.pki = ordered(r.pki, PKI_FIELDS);
  const id = r.signedIdentity;
  const identity: Record<string, string> = { type: id.type };
  if (id.type === 'exactReference') identity.dockerReference = id.dockerReference;
  if (id.type === 'exactRepository') identity.dockerRepository = id.dockerRepository;
  if (id.type === 'remapIdentity') {
    identity.prefix = id.prefix;
    identity.signedPrefix = id.signedPrefix;
  }
  out.signedIdentity = identity;
  return out as unknown as RequirementJson;
}

export const describeTarget = (v: Version): string => `containers/image ${formatVersion(v)}`;
