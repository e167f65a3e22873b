/**
 * The requirement types, one module each (accept.ts, reject.ts, sigstore-signed.ts) behind one
 * interface (types.ts); sigstore-attested.ts judges attestations. Describing a requirement loads no verification code: the hook decides
 * accept and reject scopes without it. sigstore-signed.ts, which needs the verifier, is loaded
 * when a sigstoreSigned requirement is evaluated.
 */
import { ReasonCode } from '../../errors.js';
import type { Requirement, SigstoreAttestedRequirement, SigstoreSignedRequirement } from '../../policy/types.js';
import type { RequirementReport } from '../types.js';
import { insecureAcceptAnything } from './accept.js';
import { reject } from './reject.js';
import { attestedReportHeader, sigstoreReportHeader } from './report.js';
import type { Evaluation, RequirementContext, RequirementType } from './types.js';

export type { Evaluation, RequirementContext, RequirementType } from './types.js';

const sigstoreSigned: RequirementType<SigstoreSignedRequirement> = {
  describe: (req) => ({ ...sigstoreReportHeader(req), satisfied: false, code: ReasonCode.NO_SIGNATURE, reason: 'not evaluated' }),
  evaluate: async (req, ctx) => (await import('./sigstore-signed.js')).evaluate(req, ctx),
};

const sigstoreAttested: RequirementType<SigstoreAttestedRequirement> = {
  describe: (req) => ({ ...attestedReportHeader(req), satisfied: false, code: ReasonCode.NO_ATTESTATION, reason: 'not evaluated' }),
  evaluate: async (req, ctx) => (await import('./sigstore-attested.js')).evaluate(req, ctx),
};

/** The requirement's report before any signature is read (the scope decision's). */
export function describeRequirement(req: Requirement): RequirementReport {
  switch (req.type) {
    case 'insecureAcceptAnything':
      return insecureAcceptAnything.describe(req);
    case 'reject':
      return reject.describe(req);
    case 'sigstoreSigned':
      return sigstoreSigned.describe(req);
    case 'sigstoreAttested':
      return sigstoreAttested.describe(req);
  }
}

export function evaluateRequirement(req: Requirement, ctx: RequirementContext): Promise<Evaluation> {
  switch (req.type) {
    case 'insecureAcceptAnything':
      return insecureAcceptAnything.evaluate(req, ctx);
    case 'reject':
      return reject.evaluate(req, ctx);
    case 'sigstoreSigned':
      return sigstoreSigned.evaluate(req, ctx);
    case 'sigstoreAttested':
      return sigstoreAttested.evaluate(req, ctx);
  }
}
