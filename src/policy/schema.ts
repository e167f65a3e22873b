/**
 * The sigguard policy file, as a schema. Names and semantics follow
 * containers-policy.json(5) wherever that format has the concept; parsing is
 * strict like policy.json's: an unknown or misspelt field is an error.
 */
import { z } from 'zod';

export const signatureFormats = ['legacy', 'bundle'] as const;
export type SignatureFormat = (typeof signatureFormats)[number];

const nonEmpty = z.string().min(1);

export const signedIdentitySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('matchExact') }),
  z.strictObject({ type: z.literal('matchRepoDigestOrExact') }),
  z.strictObject({ type: z.literal('matchRepository') }),
  z.strictObject({ type: z.literal('exactReference'), dockerReference: nonEmpty }),
  z.strictObject({ type: z.literal('exactRepository'), dockerRepository: nonEmpty }),
  z.strictObject({ type: z.literal('remapIdentity'), prefix: nonEmpty, signedPrefix: nonEmpty }),
]);
export type SignedIdentity = z.infer<typeof signedIdentitySchema>;

const sigstoreSignedSchema = z
  .strictObject({
    type: z.literal('sigstoreSigned'),
    keyPath: nonEmpty.optional(),
    keyPaths: z.array(nonEmpty).min(1).optional(),
    keyData: nonEmpty.optional(),
    keyDatas: z.array(nonEmpty).min(1).optional(),
    signedIdentity: signedIdentitySchema.optional(),
    signatureFormats: z.array(z.enum(signatureFormats)).min(1).optional(),
  })
  .superRefine((req, ctx) => {
    const sources = (['keyPath', 'keyPaths', 'keyData', 'keyDatas'] as const).filter((k) => req[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          sources.length === 0
            ? 'a sigstoreSigned requirement needs exactly one of keyPath, keyPaths, keyData, keyDatas'
            : `only one of keyPath, keyPaths, keyData, keyDatas may be set (found ${sources.join(', ')})`,
      });
    }
  });

export const requirementSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('insecureAcceptAnything') }),
  z.strictObject({ type: z.literal('reject') }),
  sigstoreSignedSchema,
]);
export type RequirementInput = z.infer<typeof requirementSchema>;

export const policySchema = z.strictObject({
  version: z.literal(1),
  mode: z.enum(['enforce', 'warn']).default('enforce'),
  default: z.enum(['reject', 'accept']).default('reject'),
  exemptNamespaces: z.array(nonEmpty).default([]),
  tagResolution: z.enum(['never', 'registry']).default('never'),
  nonKubernetes: z.enum(['verify', 'allow', 'deny']).default('verify'),
  scopes: z.record(z.string(), z.array(requirementSchema).min(1)).default({}),
});
export type PolicyInput = z.infer<typeof policySchema>;
