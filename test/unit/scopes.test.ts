import { describe, expect, it } from 'vitest';
import { candidateScopes, matchScope, scopeProblem } from '../../src/policy/scopes.js';
import { parseReference } from '../../src/reference/reference.js';

const D = `sha256:${'b'.repeat(64)}`;

describe('scope precedence (containers-policy.json(5))', () => {
  it('lists candidates from the most specific to the least', () => {
    expect(candidateScopes(parseReference('docker.io/library/busybox:latest'))).toEqual([
      'docker.io/library/busybox:latest',
      'docker.io/library/busybox',
      'docker.io/library',
      'docker.io',
      '*.io',
    ]);
    expect(candidateScopes(parseReference('registry.example.com:5000/ns/app@' + D))).toEqual([
      `registry.example.com:5000/ns/app@${D}`,
      'registry.example.com:5000/ns/app',
      'registry.example.com:5000/ns',
      'registry.example.com:5000',
      '*.example.com',
      '*.com',
    ]);
  });

  // The man page's example: the most specific of these wins.
  const scopes = new Map<string, string>([
    ['docker.io', 'hub'],
    ['docker.io/library', 'library'],
    ['docker.io/library/busybox', 'busybox'],
    ['docker.io/library/busybox:1.36', 'busybox-1.36'],
    ['*.example.com', 'example-wildcard'],
    ['*.registry.example.com', 'registry-wildcard'],
    ['registry.example.com/ns', 'ns'],
    ['localhost:5001', 'kind-local'],
    [`localhost:5001/pinned@${D}`, 'pinned'],
  ]);
  it.each([
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['busybox:latest', 'docker.io/library/busybox'],
    ['alpine', 'docker.io/library'],
    ['someone/app', 'docker.io'],
    ['registry.example.com/ns/app', 'registry.example.com/ns'],
    ['registry.example.com/other/app', '*.example.com'],
    ['a.registry.example.com/x', '*.registry.example.com'],
    ['example.com/x', undefined],
    ['localhost:5001/app:v1', 'localhost:5001'],
    [`localhost:5001/pinned@${D}`, `localhost:5001/pinned@${D}`],
    ['localhost:5001/pinned:v1', 'localhost:5001'],
    ['localhost:5002/app', undefined],
    ['quay.io/x/y', undefined],
  ])('%s → %s', (image, want) => {
    expect(matchScope(scopes, parseReference(image))?.scope).toBe(want);
  });
});

describe('scope keys are validated like policy.json', () => {
  it.each([
    'docker.io',
    'localhost:5001',
    'docker.io/library/busybox',
    'docker.io/library',
    'docker.io/openshift',
    '*.example.com',
    `quay.io/a/b@${D}`,
    'quay.io/a/b:v1',
  ])('accepts %s', (s) => {
    expect(scopeProblem(s)).toBeUndefined();
  });
  it.each([
    ['*.example.com:5000', /wildcard/],
    ['*.example.com/ns', /wildcard/],
    ['docker.io/busybox:1.36', /normalised form/],
    ['index.docker.io/library/busybox', /normalised form/],
    ['Docker.io/x', /normalised form|lowercase/],
    ['host name', /host/],
  ])('refuses %s', (s, why) => {
    expect(scopeProblem(s)).toMatch(why);
  });
});

describe('host scopes are written as images are normalised', () => {
  it.each([
    ['quay.io:443', /write "quay.io"/],
    ['localhost:05001', /not a valid host/],
    ['LOCALHOST:5001', /write "localhost:5001"/],
  ])('%s is refused', (scope, why) => {
    expect(scopeProblem(scope)).toMatch(why);
  });
});
