/**
 * vitest's setup file: the folders test/support/temp.ts made for a test file are removed once the
 * file is done (after its own afterAll hooks, which stop what uses them). vitest ends its worker
 * processes without an exit event, so temp.ts's own clean-up at exit never runs there.
 */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

afterAll(removeTempDirs);
