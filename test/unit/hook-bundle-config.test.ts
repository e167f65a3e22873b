/** The bundle's config.json is read bounded: no FIFO, device or huge file can hang the hook or exhaust its memory. */
import { execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CONFIG_BYTES, readAnnotations } from '../../src/hook/state.js';
import { tempDir } from '../support/temp.js';

const bundle = (): string => tempDir('sg-bundle-');
const stateOf = (dir: string) => ({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 1, bundle: dir });

describe('readAnnotations from <bundle>/config.json', () => {
  it('reads the annotations of a regular file', () => {
    const dir = bundle();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ annotations: { a: 'b' } }));
    expect(readAnnotations(stateOf(dir))).toEqual({ a: 'b' });
  });

  it('refuses a FIFO nobody writes, at once (INVALID_STATE)', () => {
    const dir = bundle();
    execFileSync('mkfifo', [join(dir, 'config.json')]);
    expect(() => readAnnotations(stateOf(dir))).toThrow(/not a regular file/);
  });

  it('refuses a link to /dev/zero without reading it', () => {
    const dir = bundle();
    symlinkSync('/dev/zero', join(dir, 'config.json'));
    expect(() => readAnnotations(stateOf(dir))).toThrow(/not a regular file/);
  });

  it('refuses a file over the cap', () => {
    const dir = bundle();
    writeFileSync(join(dir, 'config.json'), Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
    expect(() => readAnnotations(stateOf(dir))).toThrow(/larger than/);
  });
});
