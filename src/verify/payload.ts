/**
 * What a signature says it is about, as schemas: cosign's simple-signing
 * payload (legacy) and the in-toto statement inside a cosign v3 bundle.
 */
import { z } from '../zod.js';

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];

export const simpleSigningSchema = z.object({
  critical: z.object({
    identity: z.object({ 'docker-reference': z.string() }),
    image: z.object({ 'docker-manifest-digest': z.string() }),
    type: z.string(),
  }),
  optional: z.record(z.string(), z.unknown()).nullish(),
});
export type SimpleSigning = z.infer<typeof simpleSigningSchema>;

export const inTotoStatementSchema = z.object({
  _type: z.string(),
  subject: z
    .array(z.object({ name: z.string().optional(), digest: z.record(z.string(), z.string()) }))
    .min(1)
    .max(1024),
  predicateType: z.string(),
  predicate: z.unknown().optional(),
});
export type InTotoStatement = z.infer<typeof inTotoStatementSchema>;

/** What a verified signature binds: always a digest, for legacy signatures also a docker reference. */
export interface SignedClaim {
  digest: string;
  dockerReference: string | undefined;
}
