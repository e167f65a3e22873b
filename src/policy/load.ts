/**
 * Reading a policy file: YAML or JSON in, a checked, compiled Policy out, with
 * every key file read and parsed. Errors name the file, the path inside it and
 * what is wrong.
 */
import { dirname, resolve } from 'node:path';
import { parseDocument } from '../document/parse.js';
import { UntrustedFileError, readProblem, readTrustedFile } from '../document/file-trust.js';
import type { ValidatedDocuments } from '../document/validated.js';
import { firstIssue } from '../document/zod-issue.js';
import { digestScopeWarning } from './deny-digests.js';
import { bundleIdentityWarning, defaultSignatureFormats } from './formats.js';
import { formatPath } from '../document/path.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { type TrustedKey, asKeyFacts, keyFactsOf, knownPublicKey, parsePublicKey } from './keys.js';
import type { PolicyInput, RequirementInput } from './schema.js';
import { scopeProblem } from './scopes.js';
import { attestedRequirement, conditionsOf } from './attested.js';
import { type TrustContext, compileTrust } from './trust.js';
import type { Policy, Requirement } from './types.js';

function policyError(file: string, path: string, message: string): SigguardError {
  const where = path === '' ? file : `${file}: ${path}`;
  return new SigguardError(ReasonCode.POLICY_INVALID, `invalid policy ${where}: ${message}`);
}

function readText(file: string, code: ReasonCode, what: string): string {
  try {
    return readTrustedFile(file).toString('utf8');
  } catch (err) {
    if (err instanceof UntrustedFileError) throw new SigguardError(code, `refusing ${what} ${err.message}`);
    const e = err as NodeJS.ErrnoException;
    throw new SigguardError(code, `cannot read ${what} ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

/**
 * A key parsed (node:crypto), or, with a document cache that saw these very bytes before,
 * named from the facts kept there and parsed only if a verification uses it (issue 15).
 */
function keyOf(pem: Buffer, label: string, docs: ValidatedDocuments | undefined): TrustedKey {
  const text = docs ? pem.toString('base64') : '';
  const facts = docs ? asKeyFacts(docs.get('key', text)) : undefined;
  if (facts) return knownPublicKey(pem, label, facts);
  const key = parsePublicKey(pem, label);
  docs?.put('key', text, keyFactsOf(key));
  return key;
}

function loadKeys(
  req: Extract<RequirementInput, { type: 'sigstoreSigned' | 'sigstoreAttested' }>,
  file: string,
  path: string,
  baseDir: string,
  docs: ValidatedDocuments | undefined,
): TrustedKey[] {
  const keys: TrustedKey[] = [];
  const paths = req.keyPaths ?? (req.keyPath !== undefined ? [req.keyPath] : []);
  paths.forEach((p, i) => {
    const fieldPath = req.keyPaths ? `${path}.keyPaths[${i}]` : `${path}.keyPath`;
    let pem: Buffer;
    try {
      pem = readTrustedFile(resolve(baseDir, p));
    } catch (err) {
      throw policyError(file, fieldPath, `cannot read key ${p}: ${readProblem(err)}`);
    }
    try {
      keys.push(keyOf(pem, p, docs));
    } catch (err) {
      throw policyError(file, fieldPath, (err as Error).message);
    }
  });
  const datas = req.keyDatas ?? (req.keyData !== undefined ? [req.keyData] : []);
  datas.forEach((data, i) => {
    const fieldPath = req.keyDatas ? `${path}.keyDatas[${i}]` : `${path}.keyData`;
    try {
      keys.push(keyOf(Buffer.from(data, 'base64'), `keyData[${i}]`, docs));
    } catch (err) {
      throw policyError(file, fieldPath, `${(err as Error).message} (keyData is the base64 of a PEM public key)`);
    }
  });
  return keys;
}

/** The schema check: a document in, the policy's fields with defaults out. */
export function validatePolicyWith(schema: Pick<typeof import('./schema.js'), 'policySchema'>, doc: unknown, file: string): PolicyInput {
  const parsed = schema.policySchema.safeParse(doc);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw policyError(file, path, message);
  }
  // zod's records drop a `__proto__` key, its value unchecked: a scope so named is refused as any name that is not one
  const scopes = (doc as { scopes?: object }).scopes;
  if (Object.hasOwn(scopes ?? {}, '__proto__')) throw policyError(file, formatPath(['scopes', '__proto__']), scopeProblem('__proto__')!);
  return parsed.data;
}

function trustContext(file: string, path: string, baseDir: string, warnings: string[]): TrustContext {
  return {
    baseDir,
    fail: (field, message) => {
      throw policyError(file, `${path}.${field}`, message);
    },
    warn: (field, message) => warnings.push(`${path}.${field}: ${message}`),
  };
}

/** The CEL type check of every sigstoreAttested condition (`problemOf`: condition.ts's conditionProblem). */
export function checkConditions(input: PolicyInput, file: string, problemOf: (source: string) => string | undefined): void {
  for (const c of conditionsOf(input)) {
    const problem = problemOf(c.source);
    if (problem !== undefined) throw policyError(file, c.path, problem);
  }
}

/** What the schema cannot say (scope keys, key and CA files), and the compiled policy. */
export function buildPolicy(input: PolicyInput, file: string, baseDir: string = dirname(file), docs?: ValidatedDocuments): Policy {
  const scopes = new Map<string, Requirement[]>();
  const warnings: string[] = [];
  for (const [scope, reqs] of Object.entries(input.scopes)) {
    const problem = scopeProblem(scope);
    if (problem !== undefined) throw policyError(file, formatPath(['scopes', scope]), problem);
    const digestScope = digestScopeWarning(scope, input.denyDigests);
    if (digestScope !== undefined) warnings.push(`${formatPath(['scopes', scope])}: ${digestScope}`);
    scopes.set(
      scope,
      reqs.map((req, i): Requirement => {
        if (req.type !== 'sigstoreSigned' && req.type !== 'sigstoreAttested') return req;
        const path = formatPath(['scopes', scope, i]);
        const keys = loadKeys(req, file, path, baseDir, docs);
        if (req.type === 'sigstoreAttested') return attestedRequirement(req, keys, trustContext(file, path, baseDir, warnings));
        const bundles = bundleIdentityWarning(req.signedIdentity, req.signatureFormats);
        if (bundles !== undefined) warnings.push(`${path}.signatureFormats: ${bundles}`);
        const trust = compileTrust(req, keys, trustContext(file, path, baseDir, warnings));
        return {
          type: 'sigstoreSigned',
          keys,
          trust,
          signedIdentity: req.signedIdentity,
          signatureFormats: req.signatureFormats ?? defaultSignatureFormats(req.signedIdentity),
        };
      }),
    );
  }
  return {
    source: file,
    mode: input.mode,
    default: input.default,
    exemptNamespaces: input.exemptNamespaces,
    tagResolution: input.tagResolution,
    nonKubernetes: input.nonKubernetes,
    scopes,
    denyDigests: new Set(input.denyDigests),
    warnings,
  };
}

/**
 * Reads, parses and compiles a policy file. With a document cache, a policy whose text was
 * validated before skips the parser and the schema (its keys and CAs are still read).
 */
export async function loadPolicy(file: string, docs?: ValidatedDocuments): Promise<Policy> {
  const text = readText(file, ReasonCode.POLICY_INVALID, 'policy');
  const cached = docs?.get('policy', text) as PolicyInput | undefined;
  if (cached !== undefined) return buildPolicy(cached, file, dirname(file), docs);
  // the schema (and zod) load only when a document needs checking: never on a warm hook start
  const validate = async (): Promise<PolicyInput> => {
    const input = validatePolicyWith(await import('./schema.js'), await parseDocument(text, file, ReasonCode.POLICY_INVALID), file);
    // CEL loads only for a policy with conditions, and only when its text needs checking
    if (conditionsOf(input).length > 0) checkConditions(input, file, (await import('./condition.js')).conditionProblem);
    return input;
  };
  if (docs?.validateOnce) {
    // built by the one that validates before it puts: a policy the hook would refuse (a key that
    // is not one) is not kept; one that waited builds from what was put
    let built: Policy | undefined;
    const input = await docs.validateOnce('policy', text, async () => {
      const checked = await validate();
      built = buildPolicy(checked, file, dirname(file), docs);
      return checked;
    });
    return built ?? buildPolicy(input, file, dirname(file), docs);
  }
  const input = await validate();
  const policy = buildPolicy(input, file, dirname(file), docs);
  docs?.put('policy', text, input);
  return policy;
}
