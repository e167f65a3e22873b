/** Every category of the adversarial suite, in the order they run. */
import type { Category } from '../harness.js';
import { controls } from './controls.js';
import { platform } from './platform.js';
import { tampering } from './tampering.js';
import { transplant } from './transplant.js';
import { certificates } from './certificates.js';

export const categories: Category[] = [controls, platform, transplant, tampering, certificates];
