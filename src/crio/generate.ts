/**
 * One policy, two enforcers: from a sigguard policy (as written), the files
 * that make CRI-O enforce the same rules through containers/image at pull —
 * policy.json, registries.d, per-namespace policies, a crio.conf.d drop-in —
 * and the hooks.d entry that keeps sigguard's hook as the second layer.
 *
 * Pure: policy input in, a map of file names to contents out (the CLI does the
 * I/O). What containers/image cannot enforce is never dropped silently: it is
 * refused, naming the scope and the reason, or with `hookFallback` left out of
 * policy.json, handed to the hook and listed in NOTES.txt.
 */
import { basename, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ReasonCode, SigguardError } from '../errors.js';
import { HOOKS_D_TEMPLATE, hookEntry, hookSchema } from '../installer/hook-entry.js';
import { defaultSignatureFormats } from '../policy/formats.js';
import { formatPath } from '../document/path.js';
import type { KeylessInput, PolicyInput, RequirementInput } from '../policy/schema.js';
import { NODE, OUT } from './layout.js';
import {
  type FulcioJson,
  type IdentityJson,
  type PkiJson,
  type PolicyJson,
  type RequirementJson,
  type SigstoreSignedJson,
  checkPolicyJson,
  identityProblem,
  orderedRequirement,
} from './policy-json.js';
import { checkRegistriesD, registriesDYaml } from './registries-d.js';
import { FEATURES, type Feature, NEWEST_KNOWN, type Version, atLeast, compareVersions, formatVersion } from './versions.js';

export interface CrioOptions {
  /** The sigguard policy file: named in messages; its base name is written in file headers. */
  source: string;
  /** The absolute folder that relative key paths are resolved against (the policy file's folder, or --key-dir). */
  keyBase: string;
  /** The containers/image version CRI-O is built with; default NEWEST_KNOWN. */
  target?: Version;
  /** Leave what containers/image cannot express to the hook instead of refusing. */
  hookFallback?: boolean;
}

/** A rule CRI-O does not enforce and the hook does, with the reason. */
export interface HandOver {
  where: string;
  why: string;
}

export interface CrioFiles {
  /** Path inside the output folder → content; sorted by path. */
  files: Map<string, string>;
  /** One line each, to stderr. */
  warnings: string[];
  handedToHook: HandOver[];
  /** The scopes containers/image verifies signatures for (the registries.d keys). */
  sigstoreScopes: string[];
  target: Version;
}

/** Kubernetes namespace names are RFC 1123 labels; anything else must not become a file name. */
const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** The alias containers/image does not fold into docker.io (it folds only index.docker.io). */
export const HUB_API_HOST = 'registry-1.docker.io';

/** The registry-1.docker.io spelling of a docker.io scope, or undefined. */
export function hubAlias(scope: string): string | undefined {
  if (scope === 'docker.io') return HUB_API_HOST;
  if (scope.startsWith('docker.io/')) return `${HUB_API_HOST}${scope.slice('docker.io'.length)}`;
  return undefined;
}

/**
 * A requirement in policy.json terms, or why containers/image cannot express it.
 * `partial`: with --hook-fallback, what policy.json leaves out of it (the hook checks it all).
 */
type Translation = { json: RequirementJson; features: Feature[]; partial?: string } | { unexpressible: string };

/** `path` as it will be on the node: a relative path resolved against the policy's folder (or --key-dir). */
function keyPath(p: string, base: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** containers/image decodes keyData with Go's strict base64; sigguard's reading is lenient. Same bytes, strict text. */
const strictBase64 = (data: string): string => Buffer.from(data, 'base64').toString('base64');

type SigstoreInput = Extract<RequirementInput, { type: 'sigstoreSigned' }>;
type Part = { json: Partial<SigstoreSignedJson>; features: Feature[] } | { unexpressible: string };

/** Why the target cannot write `what`, or undefined when it can. */
function tooOld(feature: Feature, what: string, target: Version): string | undefined {
  const since = FEATURES[feature].since;
  return atLeast(target, since)
    ? undefined
    : `${what} needs containers/image ${formatVersion(since)} or later, and the target is containers/image ${formatVersion(target)}`;
}

/**
 * A list field (keyPaths, keyDatas, rekorPublicKeyPaths, rekorPublicKeyDatas) for the target: the list from
 * 5.32.2 on; before that its single element under the singular name, or unexpressible.
 */
function listField(field: string, singular: string, list: string[], opts: Required<CrioOptions>, minimum: Feature): Part {
  const minimumProblem = tooOld(minimum, field, opts.target);
  if (minimumProblem !== undefined) return { unexpressible: minimumProblem };
  if (atLeast(opts.target, FEATURES.keyPaths.since)) return { json: { [field]: list }, features: ['keyPaths'] };
  if (list.length === 1) return { json: { [singular]: list[0]! }, features: minimum === 'sigstoreSigned' ? [] : [minimum] };
  return {
    unexpressible: `${field} with ${list.length} keys (any of them) needs containers/image ${formatVersion(FEATURES.keyPaths.since)} or later (5.33), and the target is containers/image ${formatVersion(opts.target)}; policy.json has no "any of" for separate requirements`,
  };
}

/** An email address (a URI such as a workflow identity has a scheme and slashes). */
const EMAIL = /^[^@\s/:]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** What containers/image cannot express of a keyless block, field by field (the trusted root always). */
function keylessProblem(k: KeylessInput): string {
  const others: string[] = [];
  if (k.identities.length !== 1)
    others.push(`keyless.identities (${k.identities.length} identities, any of them: policy.json's fulcio names one issuer and one email)`);
  k.identities.forEach((id, i) => {
    const at = `keyless.identities[${i}]`;
    if (id.issuerRegExp !== undefined) others.push(`${at}.issuerRegExp (a regular expression: policy.json's fulcio.oidcIssuer is exact)`);
    if (id.subjectRegExp !== undefined)
      others.push(`${at}.subjectRegExp (a regular expression: policy.json's fulcio.subjectEmail is exact)`);
    else if (id.subject !== undefined && !EMAIL.test(id.subject)) {
      others.push(`${at}.subject ${JSON.stringify(id.subject)} (not an email address: policy.json's fulcio matches only an email subject)`);
    }
  });
  const extensions = Object.keys(k.extensions ?? {}).filter((e) => k.extensions?.[e as keyof typeof k.extensions] !== undefined);
  if (extensions.length > 0)
    others.push(`${extensions.map((e) => `keyless.extensions.${e}`).join(', ')} (containers/image checks no Fulcio certificate extension)`);
  if (!k.requireRekor)
    others.push(
      "keyless.requireRekor: false (policy.json's fulcio always requires a Rekor entry: CRI-O would refuse signatures the hook accepts)",
    );
  const root = `containers/image cannot read a Sigstore trusted root (keyless.trustedRoot ${JSON.stringify(k.trustedRoot)})`;
  if (others.length > 0) return `keyless: ${root}, nor express ${others.join(', ')}`;
  return `keyless: ${root}; what it can check of this rule is fulcio {caPath, oidcIssuer, subjectEmail} with rekorPublicKeyPath, naming the trusted root's Fulcio CA and Rekor key as files (it checks no SCT)`;
}

/** keyPath…keyDatas, fulcio, pki in policy.json terms; keyless never (no trusted root there). */
function trustSource(req: SigstoreInput, opts: Required<CrioOptions>): Part {
  if (req.keyPath !== undefined) return { json: { keyPath: keyPath(req.keyPath, opts.keyBase) }, features: [] };
  if (req.keyData !== undefined) return { json: { keyData: strictBase64(req.keyData) }, features: [] };
  if (req.keyPaths !== undefined)
    return listField(
      'keyPaths',
      'keyPath',
      req.keyPaths.map((p) => keyPath(p, opts.keyBase)),
      opts,
      'sigstoreSigned',
    );
  if (req.keyDatas !== undefined) return listField('keyDatas', 'keyData', req.keyDatas.map(strictBase64), opts, 'sigstoreSigned');
  if (req.fulcio !== undefined) {
    const problem = tooOld('fulcio', 'fulcio', opts.target);
    if (problem !== undefined) return { unexpressible: problem };
    const f = req.fulcio;
    const ca: Partial<FulcioJson> =
      f.caPath !== undefined ? { caPath: keyPath(f.caPath, opts.keyBase) } : { caData: strictBase64(f.caData!) };
    return { json: { fulcio: { ...ca, oidcIssuer: f.oidcIssuer, subjectEmail: f.subjectEmail } }, features: ['fulcio'] };
  }
  if (req.pki !== undefined) {
    const problem = tooOld('pki', 'pki', opts.target);
    if (problem !== undefined) return { unexpressible: problem };
    const p = req.pki;
    const pki: PkiJson = {};
    if (p.caRootsPath !== undefined) pki.caRootsPath = keyPath(p.caRootsPath, opts.keyBase);
    if (p.caRootsData !== undefined) pki.caRootsData = strictBase64(p.caRootsData);
    if (p.caIntermediatesPath !== undefined) pki.caIntermediatesPath = keyPath(p.caIntermediatesPath, opts.keyBase);
    if (p.caIntermediatesData !== undefined) pki.caIntermediatesData = strictBase64(p.caIntermediatesData);
    if (p.subjectEmail !== undefined) pki.subjectEmail = p.subjectEmail;
    if (p.subjectHostname !== undefined) pki.subjectHostname = p.subjectHostname;
    return { json: { pki }, features: ['pki'] };
  }
  return { unexpressible: keylessProblem(req.keyless!) };
}

/** rekorPublicKey* in policy.json terms (with fulcio or a key), or why not. */
function rekorSource(req: SigstoreInput, opts: Required<CrioOptions>): Part {
  if (req.rekorPublicKeyPath !== undefined || req.rekorPublicKeyData !== undefined) {
    const field = req.rekorPublicKeyPath !== undefined ? 'rekorPublicKeyPath' : 'rekorPublicKeyData';
    const problem = tooOld('fulcio', field, opts.target);
    if (problem !== undefined) return { unexpressible: problem };
    const value =
      req.rekorPublicKeyPath !== undefined ? keyPath(req.rekorPublicKeyPath, opts.keyBase) : strictBase64(req.rekorPublicKeyData!);
    return { json: { [field]: value }, features: ['fulcio'] };
  }
  if (req.rekorPublicKeyPaths !== undefined) {
    return listField(
      'rekorPublicKeyPaths',
      'rekorPublicKeyPath',
      req.rekorPublicKeyPaths.map((p) => keyPath(p, opts.keyBase)),
      opts,
      'fulcio',
    );
  }
  if (req.rekorPublicKeyDatas !== undefined)
    return listField('rekorPublicKeyDatas', 'rekorPublicKeyData', req.rekorPublicKeyDatas.map(strictBase64), opts, 'fulcio');
  if (req.requireRekor === true) {
    return {
      unexpressible:
        "requireRekor: true without a rekorPublicKey* field trusts the public-good Rekor built into sigguard, and policy.json has no built-in Rekor key: add rekorPublicKeyPath (that log's key, e.g. rekor.pub of the public-good trusted root) for CRI-O to check the entry too",
    };
  }
  return { json: {}, features: [] };
}

function translate(req: RequirementInput, where: string, opts: Required<CrioOptions>, warnings: string[]): Translation {
  if (req.type === 'sigstoreAttested')
    return {
      unexpressible: `sigstoreAttested (${req.predicateType}): policy.json has no attestation requirement (containers/image verifies signatures only)`,
    };
  if (req.type !== 'sigstoreSigned') return { json: { type: req.type }, features: [] };
  const formats = req.signatureFormats ?? defaultSignatureFormats(req.signedIdentity);
  if (!formats.includes('legacy')) {
    return {
      unexpressible: 'signatureFormats: [bundle] accepts only cosign 3 bundles, and containers/image reads only legacy .sig signatures',
    };
  }
  const trust = trustSource(req, opts);
  if ('unexpressible' in trust) return trust;
  const isKey = req.fulcio === undefined && req.pki === undefined && req.keyless === undefined;
  let rekor = rekorSource(req, opts);
  let partial: string | undefined;
  if ('unexpressible' in rekor) {
    // A key requirement without its Rekor condition is still worth having CRI-O check (--hook-fallback only);
    // fulcio without Rekor is not something containers/image accepts at all.
    if (!isKey || !opts.hookFallback) return rekor;
    partial = rekor.unexpressible;
    rekor = { json: {}, features: [] };
  }
  const identity: IdentityJson = req.signedIdentity ?? { type: 'matchRepoDigestOrExact' };
  const problem = identityProblem(identity);
  if (problem !== undefined) {
    if (identity.type === 'exactReference' || identity.type === 'exactRepository') {
      // sigguard cannot parse it either (or it names no tag/digest): no signature ever satisfies the rule.
      warnings.push(
        `${where}: signedIdentity ${identity.type} can never be satisfied (${problem}); written as reject, which is what sigguard does with it`,
      );
      return { json: { type: 'reject' }, features: [] };
    }
    return { unexpressible: `signedIdentity: ${problem}, and containers/image would refuse the whole policy.json` };
  }
  if (formats.includes('bundle')) {
    warnings.push(
      `${where}: CRI-O verifies only legacy .sig signatures: an image signed only with a cosign 3 bundle passes the hook but CRI-O refuses to pull it (signatureFormats: [legacy] says so explicitly)`,
    );
  }
  const json = orderedRequirement({ type: 'sigstoreSigned', ...trust.json, ...rekor.json, signedIdentity: identity });
  const features = [...new Set([...trust.features, ...rekor.features])];
  return partial === undefined ? { json, features } : { json, features, partial };
}

const jsonText = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

interface Problem {
  where: string;
  why: string;
  /** Can --hook-fallback take it? */
  fallback: boolean;
}

/** Generates every file; throws POLICY_INVALID naming each rule CRI-O cannot enforce (unless handed to the hook). */
export function generateCrioFiles(input: PolicyInput, options: CrioOptions): CrioFiles {
  const opts: Required<CrioOptions> = { target: NEWEST_KNOWN, hookFallback: false, ...options };
  const targetName = `containers/image ${formatVersion(opts.target)}`;
  const warnings: string[] = [];
  const handed: HandOver[] = [];
  const problems: Problem[] = [];
  const notes: string[] = [];
  /** policy.json features newer than sigstoreSigned itself, and the rules that use them. */
  const used = new Map<Feature, string[]>();

  const namespaces = [...new Set(input.exemptNamespaces)].sort();
  input.exemptNamespaces.forEach((ns, i) => {
    if (!NAMESPACE.test(ns))
      problems.push({ where: formatPath(['exemptNamespaces', i]), why: `"${ns}" is not a Kubernetes namespace name`, fallback: false });
  });

  const warnMode = input.mode === 'warn';
  if (warnMode) {
    const why =
      'mode: warn only logs what it would deny, and containers/image has no warn mode: CRI-O would refuse the pulls that sigguard lets through';
    if (opts.hookFallback) handed.push({ where: 'mode', why: `${why}; policy.json accepts every image and the hook logs its verdicts` });
    else problems.push({ where: 'mode', why, fallback: true });
  }

  if (input.denyDigests.length > 0) {
    const why = `denyDigests (${input.denyDigests.length}): policy.json has no revocation list, and its digest scopes apply only to images named by that digest: a tag or an index resolving to a denied digest would pass CRI-O`;
    if (opts.hookFallback) handed.push({ where: 'denyDigests', why: `${why}; the hook refuses those digests at every container start` });
    else problems.push({ where: 'denyDigests', why, fallback: true });
  }

  const docker: Record<string, RequirementJson[]> = {};
  if (!(warnMode && opts.hookFallback)) {
    for (const scope of Object.keys(input.scopes).sort()) {
      const written: RequirementJson[] = [];
      const left: HandOver[] = [];
      input.scopes[scope]!.forEach((req, i) => {
        const where = formatPath(['scopes', scope, i]);
        const t = translate(req, where, opts, warnings);
        if ('json' in t) {
          written.push(t.json);
          for (const f of t.features) used.set(f, [...(used.get(f) ?? []), where]);
          if (t.partial !== undefined) {
            handed.push({
              where,
              why: `${t.partial}; written without its Rekor condition: CRI-O checks the key, the hook the key and the Rekor entry`,
            });
          }
        } else if (opts.hookFallback) left.push({ where, why: t.unexpressible });
        else problems.push({ where, why: t.unexpressible, fallback: true });
      });
      if (left.length > 0) {
        const rest =
          written.length === 0
            ? `scope "${scope}" is written as insecureAcceptAnything and the hook alone enforces it`
            : `left out of policy.json (CRI-O enforces the scope's other requirements); the hook enforces it`;
        for (const l of left) handed.push({ where: l.where, why: `${l.why}; ${rest}` });
      }
      docker[scope] = written.length > 0 ? written : [{ type: 'insecureAcceptAnything' }];
    }
    // containers/image reads registry-1.docker.io (Docker Hub's API host) as a registry of its own; sigguard reads
    // it as docker.io. The same rules under the alias keep CRI-O from letting that spelling through.
    for (const scope of Object.keys(docker)) {
      const alias = hubAlias(scope);
      if (alias === undefined) continue;
      if (input.scopes[alias] !== undefined) {
        warnings.push(
          `scopes."${alias}": sigguard reads registry-1.docker.io as docker.io, so this scope never matches in sigguard, and CRI-O applies it instead of "${scope}"'s rules there`,
        );
      } else {
        docker[alias] = docker[scope]!;
      }
    }
  }

  if (problems.length > 0) {
    const fallback = problems.some((p) => p.fallback) && !opts.hookFallback ? ' (--hook-fallback leaves these to the hook)' : '';
    throw new SigguardError(
      ReasonCode.POLICY_INVALID,
      `${options.source}: CRI-O (${targetName}) cannot enforce ${problems.map((p) => `${p.where}: ${p.why}`).join('; ')}${fallback}`,
    );
  }

  const sortedDocker = Object.fromEntries(
    Object.keys(docker)
      .sort()
      .map((k) => [k, docker[k]!]),
  );
  const policy: PolicyJson = {
    default: [warnMode || input.default === 'accept' ? { type: 'insecureAcceptAnything' } : { type: 'reject' }],
    transports: { docker: sortedDocker },
  };
  const sigstoreScopes = Object.keys(docker).filter((s) => docker[s]!.some((r) => r.type === 'sigstoreSigned'));
  const from = basename(options.source);

  const files = new Map<string, string>();
  const add = (name: string, text: string) => files.set(name, text);
  add(OUT.policyJson, jsonText(policy));
  for (const ns of namespaces) add(`${OUT.namespacePolicies}/${ns}.json`, jsonText({ default: [{ type: 'insecureAcceptAnything' }] }));
  add(
    OUT.registriesD,
    registriesDYaml(sigstoreScopes, [
      `Generated by sigguard crio-policy from ${from} for ${targetName}; do not edit, regenerate.`,
      `Install as ${NODE.registriesD}. containers-registries.d(5): a docker key may appear in only one *.yaml file of that folder.`,
      'Without use-sigstore-attachments containers/image reads no cosign signature, and sigstoreSigned rejects every image.',
    ]),
  );
  add(
    OUT.crioConf,
    [
      `# Generated by sigguard crio-policy from ${from}; do not edit, regenerate.`,
      '# CRI-O reads /etc/crio/crio.conf.d/*.conf in lexical order after crio.conf: a later file wins.',
      '# signature_policy_dir needs CRI-O 1.28 or later.',
      '[crio.image]',
      `signature_policy = ${JSON.stringify(NODE.policyJson)}`,
      `signature_policy_dir = ${JSON.stringify(NODE.namespacePolicies)}`,
      '',
    ].join('\n'),
  );
  add(OUT.hooksD, jsonText({ ...HOOKS_D_TEMPLATE, hook: hookEntry() }));

  notes.push(`sigguard crio-policy: what CRI-O does not enforce for ${from} (${targetName})`, '');
  if (used.size > 0) {
    const features = [...used.keys()].sort((a, b) => compareVersions(FEATURES[a].since, FEATURES[b].since));
    const needs = FEATURES[features[features.length - 1]!].since;
    notes.push(`policy.json uses (it needs containers/image ${formatVersion(needs)} or later; an older one refuses the whole file):`);
    for (const f of features)
      notes.push(`  - ${FEATURES[f].what} (containers/image ${formatVersion(FEATURES[f].since)}): ${used.get(f)!.join(', ')}`);
    notes.push('');
  }
  notes.push('CRI-O verifies through containers/image when it pulls an image; the sigguard hook verifies at every');
  notes.push('container start. Everything below is enforced by the hook alone.', '');
  if (handed.length > 0) {
    notes.push('Handed to the hook (--hook-fallback):');
    for (const h of handed) notes.push(`  - ${h.where}: ${h.why}`);
    notes.push('');
  }
  if (warnings.length > 0) {
    notes.push('Warnings:');
    for (const w of warnings) notes.push(`  - ${w}`);
    notes.push('');
  }
  notes.push('Always the hook alone:');
  notes.push('  - images already on the node: CRI-O checks signatures only when it pulls (imagePullPolicy: IfNotPresent');
  notes.push('    skips the pull), and an image pulled for an exempt namespace is then usable by every namespace;');
  notes.push('  - cosign 3 bundle signatures (containers/image reads only legacy .sig signatures);');
  notes.push('  - keyless rules (a Sigstore trusted root, identity patterns, certificate extensions, SCTs): containers/image');
  notes.push('    reads fulcio (one CA file, an exact issuer and email, a Rekor key) and pki, never a trusted root;');
  notes.push('  - tagResolution and nonKubernetes (hook settings: CRI-O resolves tags itself at pull);');
  notes.push(
    namespaces.length > 0
      ? `  - exemptNamespaces (${namespaces.join(', ')}): CRI-O 1.28+ reads ${NODE.namespacePolicies}/<namespace>.json; older CRI-O applies policy.json to every namespace;`
      : '  - exemptNamespaces: none;',
  );
  notes.push('  - names containers/image compares case-sensitively (an upper-case host escapes a lower-case scope there and');
  notes.push('    gets the default; sigguard lower-cases host names).');
  notes.push('');
  notes.push('registries.d is looked up for the location containers/image pulls from: where registries.conf(5) redirects');
  notes.push('a registry to a mirror or another location, that location needs use-sigstore-attachments: true as well.');
  add(OUT.notes, `${notes.join('\n')}\n`);
  add(OUT.readme, outputReadme(from, targetName, sigstoreScopes.length, namespaces.length));

  const sorted = new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  checkOutput(sorted, opts.target, sigstoreScopes);
  return { files: sorted, warnings, handedToHook: handed, sigstoreScopes, target: opts.target };
}

/** Re-parses every generated file as its reader will; a failure is a bug (INTERNAL_ERROR). */
export function checkOutput(files: ReadonlyMap<string, string>, target: Version, sigstoreScopes: readonly string[]): void {
  const fail = (name: string, err: unknown) => {
    throw new SigguardError(ReasonCode.INTERNAL_ERROR, `generated ${name} does not re-parse: ${(err as Error).message}`);
  };
  for (const [name, text] of files) {
    try {
      if (name === OUT.policyJson || (name.startsWith(`${OUT.namespacePolicies}/`) && name.endsWith('.json'))) {
        checkPolicyJson(text, target);
      } else if (name === OUT.registriesD) {
        const keys = checkRegistriesD(text);
        if (keys.join('\n') !== [...sigstoreScopes].sort().join('\n')) throw new Error('keys differ from the sigstoreSigned scopes');
      } else if (name === OUT.crioConf) {
        const conf = parseToml(text) as { crio?: { image?: Record<string, unknown> } };
        const image = conf.crio?.image ?? {};
        if (
          image.signature_policy !== NODE.policyJson ||
          image.signature_policy_dir !== NODE.namespacePolicies ||
          Object.keys(conf).length !== 1
        ) {
          throw new Error('unexpected [crio.image] settings');
        }
      } else if (name === OUT.hooksD) {
        const doc = JSON.parse(text) as { version?: string; hook?: unknown; stages?: unknown };
        hookSchema.parse(doc.hook);
        if (doc.version !== '1.0.0' || JSON.stringify(doc.stages) !== JSON.stringify(HOOKS_D_TEMPLATE.stages))
          throw new Error('not the hooks.d template');
      }
    } catch (err) {
      fail(name, err);
    }
  }
}

function outputReadme(from: string, targetName: string, sigstoreScopes: number, namespaces: number): string {
  return `# CRI-O files generated by \`sigguard crio-policy\`

From \`${from}\`, for CRI-O built with ${targetName}. Do not edit: change the sigguard policy and
regenerate. \`crio-policy/scripts/configure-crio.sh\` installs them and restarts CRI-O.

| file | install as | what |
| --- | --- | --- |
| \`${OUT.policyJson}\` | \`${NODE.policyJson}\` | containers-policy.json(5): the policy's default and scopes |
| \`${OUT.namespacePolicies}/<namespace>.json\` (${namespaces}) | \`${NODE.namespacePolicies}/\` | one per exempt namespace: accept anything (CRI-O 1.28+) |
| \`${OUT.registriesD}\` | \`${NODE.registriesD}\` | use-sigstore-attachments for the ${sigstoreScopes} scope(s) that verify signatures |
| \`${OUT.crioConf}\` | \`${NODE.crioConf}\` | sets \`signature_policy\` and \`signature_policy_dir\` under \`[crio.image]\` |
| \`${OUT.hooksD}\` | \`${NODE.hooksD}\` | the sigguard hook, the second layer (oci-hooks(5)) |
| \`${OUT.notes}\` | — | what CRI-O does not enforce, and the hook does |

registries.d: containers/image merges every \`*.yaml\` file of \`/etc/containers/registries.d\`, and a key
under \`docker\` may appear in only one of them: if another file there already names one of these scopes,
containers/image refuses the whole folder and CRI-O pulls nothing. Merge that file's entry into one
place instead (\`sigguard crio-policy --target-dir /etc/containers/registries.d\` detects it).
`;
}
