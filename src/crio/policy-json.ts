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

export type RequirementJson =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | {
      type: 'sigstoreSigned';
      keyPath?: string;
      keyPaths?: string[];
      keyData?: string;
      keyDatas?: string[];
      signedIdentity: IdentityJson;
    };

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
const REFERENCE = new RegExp(`^${NAME}(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`);
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
      if (ref.tag === undefined && ref.digest === undefined) return `dockerReference "${identity.dockerReference}" contains neither a tag nor a digest`;
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

function checkRequirement(v: unknown, target: Version, where: string): void {
  if (!isObject(v)) throw new Error(`${where}: not an object`);
  switch (v.type) {
    case 'insecureAcceptAnything':
    case 'reject':
      exactKeys(v, ['type'], where);
      return;
    case 'sigstoreSigned': {
      const multi = atLeast(target, FEATURES.keyPaths.since);
      exactKeys(v, ['type', 'keyPath', 'keyData', 'signedIdentity', ...(multi ? ['keyPaths', 'keyDatas'] : [])], where);
      const sources = ['keyPath', 'keyPaths', 'keyData', 'keyDatas'].filter((k) => v[k] !== undefined);
      if (sources.length !== 1) throw new Error(`${where}: exactly one of keyPath, keyPaths, keyData, keyDatas must be present`);
      if (v.keyPath !== undefined) checkKeyPath(v.keyPath, `${where}.keyPath`);
      if (v.keyData !== undefined) checkKeyData(v.keyData, `${where}.keyData`);
      for (const [field, check] of [['keyPaths', checkKeyPath], ['keyDatas', checkKeyData]] as const) {
        const list = v[field];
        if (list === undefined) continue;
        if (!Array.isArray(list) || list.length === 0) throw new Error(`${where}.${field}: must be a non-empty array`);
        list.forEach((item, i) => check(item, `${where}.${field}[${i}]`));
      }
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
  v.forEach((r, i) => checkRequirement(r, target, `${where}[${i}]`));
}

/**
 * Re-parses a policy.json the way containers/image `target` would (the subset
 * sigguard writes: the docker transport, insecureAcceptAnything, reject,
 * sigstoreSigned with keys). Throws an Error naming the first problem.
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
        const problem = scopeProblem(scope.startsWith('registry-1.docker.io/') ? `docker.io${scope.slice('registry-1.docker.io'.length)}` : scope);
        if (problem !== undefined) throw new Error(`transports.docker: scope "${scope}": ${problem}`);
        checkRequirements(reqs, target, `transports.docker["${scope}"]`);
      }
    }
  }
  return doc as unknown as PolicyJson;
}

/** The requirement, written with a stable key order: type, the key source, signedIdentity. */
export function orderedRequirement(r: RequirementJson): RequirementJson {
  if (r.type !== 'sigstoreSigned') return { type: r.type };
  const out: Record<string, unknown> = { type: r.type };
  for (const k of ['keyPath', 'keyPaths', 'keyData', 'keyDatas'] as const) if (r[k] !== undefined) out[k] = r[k];
  const id = r.signedIdentity;
  const identity: Record<string, string> = { type: id.type };
  if (id.type === 'exactReference') identity.dockerReference = id.dockerReference;
  if (id.type === 'exactRepository') identity.dockerRepository = id.dockerRepository;
  if (id.type === 'remapIdentity') {
    identity.prefix = id.prefix;
    identity.signedPrefix = id.signedPrefix;
  }
  out.signedIdentity = identity;
  return out as RequirementJson;
}

export const describeTarget = (v: Version): string => `containers/image ${formatVersion(v)}`;
