/**
 * The sigguard policy file, as a schema. Names and semantics follow
 * containers-policy.json(5) wherever that format has the concept; parsing is
 * strict like policy.json's: an unknown or misspelt field is an error.
 */
import * as z from '../zod-docs.js';

export const signatureFormats = ['legacy', 'bundle'] as const;
export type SignatureFormat = (typeof signatureFormats)[number];

/** A denyDigests entry: written as registries and runtimes write digests (lower-case hex), so that it matches. */
export const DENIED_DIGEST = /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export const KEY_SOURCES = ['keyPath', 'keyPaths', 'keyData', 'keyDatas', 'fulcio', 'pki', 'keyless'] as const;
/** cosign's signature predicate (a cosign 3 bundle signature): never an attestation. */
export const COSIGN_SIGNATURE_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** A predicate type: an absolute URI, written exactly as the statement carries it. */
const PREDICATE_TYPE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
/** The most an attestation's size cap may be (the verification's byte budget is 48 MiB; the default is attested.ts's). */
export const ATTESTATION_MAX_BYTES = 32 * 1024 * 1024;
/** The longest condition accepted (characters). */
export const CONDITION_MAX_CHARS = 4096;
export const REKOR_KEY_SOURCES = ['rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'] as const;

/**
 * Fulcio certificate extensions a keyless requirement may pin (exact values), named as
 * cosign's --certificate-github-workflow-* flags and Fulcio's OID registry name them.
 */
export const FULCIO_EXTENSIONS = {
  githubWorkflowTrigger: { oid: '1.3.6.1.4.1.57264.1.2', der: false },
  githubWorkflowSha: { oid: '1.3.6.1.4.1.57264.1.3', der: false },
  githubWorkflowName: { oid: '1.3.6.1.4.1.57264.1.4', der: false },
  githubWorkflowRepository: { oid: '1.3.6.1.4.1.57264.1.5', der: false },
  githubWorkflowRef: { oid: '1.3.6.1.4.1.57264.1.6', der: false },
  buildSignerURI: { oid: '1.3.6.1.4.1.57264.1.9', der: true },
  buildSignerDigest: { oid: '1.3.6.1.4.1.57264.1.10', der: true },
  runnerEnvironment: { oid: '1.3.6.1.4.1.57264.1.11', der: true },
  sourceRepositoryURI: { oid: '1.3.6.1.4.1.57264.1.12', der: true },
  sourceRepositoryDigest: { oid: '1.3.6.1.4.1.57264.1.13', der: true },
  sourceRepositoryRef: { oid: '1.3.6.1.4.1.57264.1.14', der: true },
  sourceRepositoryIdentifier: { oid: '1.3.6.1.4.1.57264.1.15', der: true },
  sourceRepositoryOwnerURI: { oid: '1.3.6.1.4.1.57264.1.16', der: true },
  sourceRepositoryOwnerIdentifier: { oid: '1.3.6.1.4.1.57264.1.17', der: true },
  buildConfigURI: { oid: '1.3.6.1.4.1.57264.1.18', der: true },
  buildConfigDigest: { oid: '1.3.6.1.4.1.57264.1.19', der: true },
  buildTrigger: { oid: '1.3.6.1.4.1.57264.1.20', der: true },
  runInvocationURI: { oid: '1.3.6.1.4.1.57264.1.21', der: true },
  sourceRepositoryVisibilityAtSigning: { oid: '1.3.6.1.4.1.57264.1.22', der: true },
} as const;
export type FulcioExtensionName = keyof typeof FULCIO_EXTENSIONS;

/**
 * The schemas, built on first use: zod builds each schema object eagerly, which a hook
 * that finds its policy already validated (the document cache) never needs to pay for.
 */
function build() {
  const nonEmpty = z.string().check(z.minLength(1));

  const signedIdentitySchema = z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('matchExact') }),
    z.strictObject({ type: z.literal('matchRepoDigestOrExact') }),
    z.strictObject({ type: z.literal('matchRepository') }),
    z.strictObject({ type: z.literal('exactReference'), dockerReference: nonEmpty }),
    z.strictObject({ type: z.literal('exactRepository'), dockerRepository: nonEmpty }),
    z.strictObject({ type: z.literal('remapIdentity'), prefix: nonEmpty, signedPrefix: nonEmpty }),
  ]);

  /** containers-policy.json(5)'s `fulcio`: a Fulcio CA, an exact OIDC issuer and email. */
  const fulcioSchema = z
    .strictObject({
      caPath: z.optional(nonEmpty),
      caData: z.optional(nonEmpty),
      oidcIssuer: nonEmpty,
      subjectEmail: nonEmpty,
    })
    .check(
      z.superRefine((f, ctx) => {
        if ((f.caPath === undefined) === (f.caData === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'fulcio needs exactly one of caPath, caData' });
        }
      }),
    );

  /** containers-policy.json(5)'s `pki`: your own CA, no Fulcio, no Rekor. */
  const pkiSchema = z
    .strictObject({
      caRootsPath: z.optional(nonEmpty),
      caRootsData: z.optional(nonEmpty),
      caIntermediatesPath: z.optional(nonEmpty),
      caIntermediatesData: z.optional(nonEmpty),
      subjectEmail: z.optional(nonEmpty),
      subjectHostname: z.optional(nonEmpty),
    })
    .check(
      z.superRefine((p, ctx) => {
        if ((p.caRootsPath === undefined) === (p.caRootsData === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'pki needs exactly one of caRootsPath, caRootsData' });
        }
        if (p.caIntermediatesPath !== undefined && p.caIntermediatesData !== undefined) {
          ctx.addIssue({ code: 'custom', message: 'pki takes at most one of caIntermediatesPath, caIntermediatesData' });
        }
        if (p.subjectEmail === undefined && p.subjectHostname === undefined) {
          ctx.addIssue({ code: 'custom', message: 'pki needs at least one of subjectEmail, subjectHostname' });
        }
      }),
    );

  const keylessIdentitySchema = z
    .strictObject({
      issuer: z.optional(nonEmpty),
      issuerRegExp: z.optional(nonEmpty),
      subject: z.optional(nonEmpty),
      subjectRegExp: z.optional(nonEmpty),
    })
    .check(
      z.superRefine((id, ctx) => {
        if ((id.issuer === undefined) === (id.issuerRegExp === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'an identity needs exactly one of issuer, issuerRegExp' });
        }
        if ((id.subject === undefined) === (id.subjectRegExp === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'an identity needs exactly one of subject, subjectRegExp' });
        }
      }),
    );

  const extensionsSchema = z.strictObject(
    Object.fromEntries(Object.keys(FULCIO_EXTENSIONS).map((k) => [k, z.optional(nonEmpty)])) as Record<
      FulcioExtensionName,
      z.ZodMiniOptional<z.ZodMiniString<string>>
    >,
  );

  /** sigguard's own block (after policy-controller's keyless.identities): a Sigstore trusted root and identities. */
  const keylessSchema = z.strictObject({
    /** A TrustedRoot JSON file, or `public-good` (built in). */
    trustedRoot: z._default(nonEmpty, 'public-good'),
    identities: z.array(keylessIdentitySchema).check(z.minLength(1)),
    extensions: z.optional(extensionsSchema),
    requireRekor: z._default(z.boolean(), true),
    requireSCT: z._default(z.boolean(), true),
  });

  /** Where trust comes from: the fields sigstoreSigned and sigstoreAttested share. */
  const trustShape = {
    keyPath: z.optional(nonEmpty),
    keyPaths: z.optional(z.array(nonEmpty).check(z.minLength(1))),
    keyData: z.optional(nonEmpty),
    keyDatas: z.optional(z.array(nonEmpty).check(z.minLength(1))),
    fulcio: z.optional(fulcioSchema),
    pki: z.optional(pkiSchema),
    keyless: z.optional(keylessSchema),
    rekorPublicKeyPath: z.optional(nonEmpty),
    rekorPublicKeyPaths: z.optional(z.array(nonEmpty).check(z.minLength(1))),
    rekorPublicKeyData: z.optional(nonEmpty),
    rekorPublicKeyDatas: z.optional(z.array(nonEmpty).check(z.minLength(1))),
    /** Key requirements: the signature must carry a verified Rekor entry (sigguard's field). */
    requireRekor: z.optional(z.boolean()),
  };
  type TrustFields = { [K in keyof typeof trustShape]?: z.infer<(typeof trustShape)[K]> };

  const checkTrustFields = (type: string, req: TrustFields, ctx: z.core.$RefinementCtx<unknown>): void => {
    const sources = KEY_SOURCES.filter((k) => req[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          sources.length === 0
            ? `a ${type} requirement needs exactly one of ${KEY_SOURCES.join(', ')}`
            : `only one of ${KEY_SOURCES.join(', ')} may be set (found ${sources.join(', ')})`,
      });
      return;
    }
    const rekor = REKOR_KEY_SOURCES.filter((k) => req[k] !== undefined);
    const issue = (message: string, path?: string) => ctx.addIssue({ code: 'custom', message, ...(path ? { path: [path] } : {}) });
    if (rekor.length > 1) issue(`only one of ${REKOR_KEY_SOURCES.join(', ')} may be set (found ${rekor.join(', ')})`);
    const source = sources[0]!;
    if (source === 'fulcio' && rekor.length === 0)
      issue(`fulcio needs one of ${REKOR_KEY_SOURCES.join(', ')} (a Fulcio certificate is trusted only with a Rekor entry)`);
    if (source === 'pki' && rekor.length > 0) issue(`${rekor[0]} is not supported with pki (a private PKI has no Rekor)`, rekor[0]);
    if (source === 'keyless' && rekor.length > 0) {
      issue(`${rekor[0]} is not used with keyless: its transparency logs come from keyless.trustedRoot`, rekor[0]);
    }
    if (req.requireRekor !== undefined) {
      if (source === 'keyless') issue('requireRekor belongs inside the keyless block (keyless.requireRekor)', 'requireRekor');
      else if (source === 'fulcio' || source === 'pki')
        issue(`requireRekor is for key requirements (${source} ${source === 'fulcio' ? 'always needs' : 'has no'} Rekor)`, 'requireRekor');
      else if (req.requireRekor === false && rekor.length > 0)
        issue(`requireRekor: false contradicts ${rekor[0]} (a Rekor key means the entry is required)`, 'requireRekor');
    }
  };

  const sigstoreSignedSchema = z
    .strictObject({
      type: z.literal('sigstoreSigned'),
      ...trustShape,
      signedIdentity: z.optional(signedIdentitySchema),
      signatureFormats: z.optional(z.array(z.enum(signatureFormats)).check(z.minLength(1))),
    })
    .check(z.superRefine((req, ctx) => checkTrustFields('sigstoreSigned', req, ctx)));

  /** sigguard's own: an in-toto attestation of one predicate type by a trusted signer, optionally with a CEL condition. */
  const sigstoreAttestedSchema = z
    .strictObject({
      type: z.literal('sigstoreAttested'),
      predicateType: z.string().check(z.regex(PREDICATE_TYPE, 'not a predicate type URI (scheme:…, no spaces)')),
      ...trustShape,
      condition: z.optional(
        z.string().check(z.trim(), z.minLength(1), z.maxLength(CONDITION_MAX_CHARS, `longer than ${CONDITION_MAX_CHARS} characters`)),
      ),
      /** The largest attestation read (bytes; SBOMs and scans are large), within the verification's byte budget. */
      maxBytes: z.optional(z.number().check(z.int(), z.gte(1024), z.lte(ATTESTATION_MAX_BYTES))),
      signatureFormats: z.optional(z.array(z.enum(signatureFormats)).check(z.minLength(1))),
    })
    .check(
      z.superRefine((req, ctx) => {
        checkTrustFields('sigstoreAttested', req, ctx);
        if (req.predicateType === COSIGN_SIGNATURE_PREDICATE)
          ctx.addIssue({
            code: 'custom',
            path: ['predicateType'],
            message: `${COSIGN_SIGNATURE_PREDICATE} is cosign's signature, not an attestation: require it with sigstoreSigned`,
          });
      }),
    );

  const requirementSchema = z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('insecureAcceptAnything') }),
    z.strictObject({ type: z.literal('reject') }),
    sigstoreSignedSchema,
    sigstoreAttestedSchema,
  ]);

  const policySchema = z.strictObject({
    version: z.literal(1),
    mode: z._default(z.enum(['enforce', 'warn']), 'enforce'),
    default: z._default(z.enum(['reject', 'accept']), 'reject'),
    exemptNamespaces: z._default(z.array(nonEmpty), []),
    tagResolution: z._default(z.enum(['never', 'registry']), 'never'),
    nonKubernetes: z._default(z.enum(['verify', 'allow', 'deny']), 'verify'),
    scopes: z._default(z.record(z.string(), z.array(requirementSchema).check(z.minLength(1))), {}),
    /** Revoked content: refused whatever the name, the scope or a cached verdict says (sigguard's field). */
    denyDigests: z._default(
      z.array(z.string().check(z.regex(DENIED_DIGEST, 'not a digest: sha256: and 64 lower-case hex digits (or sha512: and 128)'))),
      [],
    ),
  });

  return { signedIdentitySchema, keylessIdentitySchema, keylessSchema, requirementSchema, policySchema };
}

let built: ReturnType<typeof build> | undefined;
export function policySchemas(): ReturnType<typeof build> {
  built ??= build();
  return built;
}
type Schemas = ReturnType<typeof build>;

/** Parses a policy document (for callers that only need the top-level schema). */
export const policySchema = {
  safeParse: (doc: unknown) => policySchemas().policySchema.safeParse(doc),
};

export type SignedIdentity = z.infer<Schemas['signedIdentitySchema']>;
export type KeylessIdentityInput = z.infer<Schemas['keylessIdentitySchema']>;
export type KeylessInput = z.infer<Schemas['keylessSchema']>;
export type RequirementInput = z.infer<Schemas['requirementSchema']>;
export type PolicyInput = z.infer<Schemas['policySchema']>;
