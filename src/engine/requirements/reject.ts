/** reject (containers/image's prReject): no image, whatever its signatures. */
import { ReasonCode } from '../../errors.js';
import type { RequirementReport } from '../types.js';
import type { RequirementType } from './types.js';

const report = (): RequirementReport => ({
  type: 'reject',
  satisfied: false,
  code: ReasonCode.POLICY_REJECT,
  reason: 'the policy rejects these images',
});

export const reject: RequirementType<{ type: 'reject' }> = {
  describe: report,
  evaluate: async () => ({ report: report(), judged: [] }),
};
