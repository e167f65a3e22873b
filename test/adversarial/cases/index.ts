/** Every category of the adversarial suite, in the order they run. */
import type { Category } from '../harness.js';
import { attestations } from './attestations.js';
import { certificates } from './certificates.js';
import { content } from './content.js';
import { controls } from './controls.js';
import { denyDigests } from './deny-digests.js';
import { credentials } from './credentials.js';
import { exhaustion } from './exhaustion.js';
import { hookInputs } from './hook.js';
import { platform } from './platform.js';
import { references } from './references.js';
import { tampering } from './tampering.js';
import { tlog } from './tlog.js';
import { transplant } from './transplant.js';

export const categories: Category[] = [
  controls,
  platform,
  transplant,
  tampering,
  certificates,
  tlog,
  content,
  exhaustion,
  credentials,
  references,
  denyDigests,
  hookInputs,
  attestations,
];
