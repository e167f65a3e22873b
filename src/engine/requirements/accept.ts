/** insecureAcceptAnything (containers/image's prInsecureAcceptAnything): any image, unverified. */
import { ReasonCode } from '../../errors.js';
import type { RequirementReport } from '../types.js';
import type { RequirementType } from './types.js';

const report = (): RequirementReport => ({
  type: 'insecureAcceptAnything',
  satisfied: true,
  code: ReasonCode.POLICY_ACCEPT,
  reason: 'the policy accepts these images unverified',
});

export const insecureAcceptAnything: RequirementType<{ type: 'insecureAcceptAnything' }> = {
  describe: report,
  evaluate: async () => ({ report: report(), judged: [] }),
};
