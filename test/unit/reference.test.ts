import { describe, expect, it } from 'vitest';
import { formatReference, parseReference } from '../../src/reference/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('ports are one number: no spelling that escapes a scope', () => {
  it.each(['localhost:05001/app', 'localhost:0/app', 'localhost:65536/app', 'localhost:99999/app', '[::1]:05000/app'])(
    '%s is refused',
    (input) => {
      expect(() => parseReference(input)).toThrow(/INVALID|malformed registry host/);
    },
  );
});

describe('parseReference normalises like the container tools', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox'],
    ['someone/app', 'docker.io/someone/app'],
    ['docker.io/busybox', 'docker.io/library/busybox'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox'],
    ['index.docker.io/someone/app:v1', 'docker.io/someone/app:v1'],
    ['localhost:5001/app', 'localhost:5001/app'],
    ['localhost/app:v1', 'localhost/app:v1'],
    ['127.0.0.1:5000/demo/app:v1', '127.0.0.1:5000/demo/app:v1'],
    ['Registry.Example.com/a/b', 'registry.example.com/a/b'],
    [`ghcr.io/org/app@${D}`, `ghcr.io/org/app@${D}`],
    [`ghcr.io/org/app:v2@${D}`, `ghcr.io/org/app:v2@${D}`],
    ['[::1]:5000/app', '[::1]:5000/app'],
    ['a/b__c/d-e.f_g', 'docker.io/a/b__c/d-e.f_g'],
    // the default https port names the same registry, so it must pick the same scope
    ['quay.io:443/acme/app', 'quay.io/acme/app'],
    ['[::1]:443/app', '[::1]/app'],
  ])('%s → %s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it('splits registry, repository, tag and digest', () => {
    expect(parseReference(`localhost:5001/team/app:v1@${D}`)).toEqual({
      registry: 'localhost:5001',
      repository: 'team/app',
      tag: 'v1',
      digest: D,
    });
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['docker.io/Library/busybox', /lowercase/],
    ['app:', /malformed tag/],
    ['app:-x', /malformed tag/],
    ['app@sha256:abc', /malformed digest/],
    [`app@sha256:${'A'.repeat(64)}`, /malformed digest/],
    ['a//b', /malformed repository/],
    ['host:port/app', /malformed/],
    ['app name', /white space/],
    ['-app', /malformed repository/],
    [`r/${'a'.repeat(300)}`, /longer than 255/],
  ])('refuses %j with a reason', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });
});
