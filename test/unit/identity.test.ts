import { describe, expect, it } from 'vitest';
import { identityMatches } from '../../src/policy/identity.js';
import type { SignedIdentity } from '../../src/policy/schema.js';
import { parseReference } from '../../src/reference/reference.js';

const D = `sha256:${'c'.repeat(64)}`;
const ref = (s: string) => parseReference(s);

describe('signedIdentity (containers-policy.json(5) semantics)', () => {
  const cases: Array<[SignedIdentity | undefined, string, string, boolean]> = [
    // default: matchRepoDigestOrExact
    [undefined, 'example.com/app:v1', 'example.com/app:v1', true],
    [undefined, 'example.com/app:v1', 'example.com/app:v2', false],
    [undefined, 'example.com/app:v1', 'example.com/app', false],
    [undefined, `example.com/app@${D}`, 'example.com/app:any', true],
    [undefined, `example.com/app@${D}`, 'example.com/app', false],
    [undefined, `example.com/app@${D}`, 'example.com/other:any', false],
    [{ type: 'matchExact' }, 'example.com/app:v1', 'example.com/app:v1', true],
    [{ type: 'matchExact' }, `example.com/app@${D}`, 'example.com/app:v1', false],
    [{ type: 'matchRepository' }, 'example.com/app:v1', 'example.com/app', true],
    [{ type: 'matchRepository' }, 'example.com/app:v1', 'example.com/app:v9', true],
    [{ type: 'matchRepository' }, 'example.com/app:v1', 'example.com/other', false],
    [{ type: 'matchRepository' }, 'busybox', 'index.docker.io/library/busybox', true],
    [{ type: 'matchRepository' }, 'example.com/app', 'not a reference', false],
    [{ type: 'exactReference', dockerReference: 'example.com/app:signed' }, 'mirror.com/app:v1', 'example.com/app:signed', true],
    [{ type: 'exactReference', dockerReference: 'example.com/app:signed' }, 'mirror.com/app:v1', 'example.com/app:v1', false],
    [{ type: 'exactRepository', dockerRepository: 'example.com/app' }, 'mirror.com/app:v1', 'example.com/app', true],
    [{ type: 'exactRepository', dockerRepository: 'example.com/app' }, 'mirror.com/app:v1', 'mirror.com/app', false],
    [
      { type: 'remapIdentity', prefix: 'mirror.com/ns', signedPrefix: 'example.com/ns' },
      `mirror.com/ns/app@${D}`,
      'example.com/ns/app:v1',
      true,
    ],
    [
      { type: 'remapIdentity', prefix: 'mirror.com/ns', signedPrefix: 'example.com/ns' },
      'mirror.com/ns/app:v1',
      'example.com/ns/app:v1',
      true,
    ],
    [
      { type: 'remapIdentity', prefix: 'mirror.com/ns', signedPrefix: 'example.com/ns' },
      'mirror.com/nsx/app:v1',
      'example.com/nsx/app:v1',
      false,
    ],
    [
      { type: 'remapIdentity', prefix: 'mirror.com/ns', signedPrefix: 'example.com/ns' },
      'other.com/ns/app:v1',
      'other.com/ns/app:v1',
      true,
    ],
  ];
  it.each(cases)('%j: image %s, signature %s → %s', (rule, image, signed, want) => {
    expect(identityMatches(rule, ref(image), signed)).toBe(want);
  });
});
