import { describe, expect, it } from 'vitest';
import { bindToNode, cachedFor } from '../../src/engine/binding.js';
import { selectionFor } from '../../src/hook/binding.js';
import { configDigestOfImageId } from '../../src/hook/node-digest.js';

const C1 = `sha256:${'1'.repeat(64)}`;
const C2 = `sha256:${'2'.repeat(64)}`;
const P = `sha256:${'9'.repeat(64)}`;
const platform = { os: 'linux', architecture: 'amd64' };

describe('what was verified is bound to what runs', () => {
  it('an allow whose config is the node image id stands', () => {
    const o = { decision: 'allow' as const, code: 'ALLOWED', reason: 'verified', configDigest: C1 };
    expect(bindToNode(o, C1)).toBe(o);
  });

  it('an allow for another config is NODE_IMAGE_MISMATCH, naming both', () => {
    const o = bindToNode({ decision: 'allow' as const, code: 'ALLOWED', reason: 'verified', configDigest: C2 }, C1);
    expect(o).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
    expect(o.reason).toContain(C1);
    expect(o.reason).toContain(C2);
  });

  it('an allow that names no config cannot be bound: refused', () => {
    expect(bindToNode({ decision: 'allow' as const, code: 'ALLOWED', reason: 'x' }, C1)).toMatchObject({
      decision: 'deny',
      code: 'NODE_IMAGE_MISMATCH',
    });
  });

  it('a refusal stays the refusal it was; no image id, nothing to bind', () => {
    const deny = { decision: 'deny' as const, code: 'NO_SIGNATURE', reason: 'none', configDigest: C2 };
    expect(bindToNode(deny, C1)).toBe(deny);
    const allow = { decision: 'allow' as const, code: 'ALLOWED', reason: 'x', configDigest: C2 };
    expect(bindToNode(allow, undefined)).toBe(allow);
  });
});

describe('cached verdicts', () => {
  const allow = (more: Record<string, string> = {}) => ({ decision: 'allow', code: 'ALLOWED', ...more });
  const deny = (code: string, more: Record<string, string> = {}) => ({ decision: 'deny', code, ...more });

  it('with an image id: a verdict about that config', () => {
    expect(cachedFor(allow({ configDigest: C1 }), C1)).toBeDefined();
    expect(cachedFor(allow({ configDigest: C2 }), C1)).toBeUndefined();
    expect(cachedFor(allow(), C1)).toBeUndefined();
    expect(cachedFor(deny('NO_SIGNATURE', { configDigest: C1 }), C1)).toBeDefined();
  });

  it('with an image id: a refusal about another entry does not stand (CRI-O: E unsigned, the node runs M)', () => {
    expect(cachedFor(deny('NO_SIGNATURE', { configDigest: C2, platformDigest: P }), C1)).toBeUndefined();
    expect(cachedFor(deny('NODE_IMAGE_MISMATCH'), C1)).toBeUndefined();
    // an index refused while the runtime could not be asked: not once it can
    expect(cachedFor(deny('NODE_LOOKUP_FAILED'), C1)).toBeUndefined();
  });

  it('with an image id: a refusal before any manifest was chosen stands (deny back-off in an outage)', () => {
    expect(cachedFor(deny('REGISTRY_UNREACHABLE'), C1)).toBeDefined();
  });

  it('without: an allow only about a single manifest (an index allow assumed a runtime to ask); refusals stand', () => {
    expect(cachedFor(allow({ configDigest: C1 }), undefined)).toBeDefined();
    expect(cachedFor(allow({ configDigest: C1, platformDigest: P }), undefined)).toBeUndefined();
    expect(cachedFor(allow(), undefined)).toBeUndefined();
    expect(cachedFor(deny('NO_SIGNATURE', { configDigest: C1, platformDigest: P }), undefined)).toBeDefined();
  });
});

describe('which entry of an index', () => {
  it('containerd: its own choice; CRI-O: the entry with the image id; no image id: a single manifest only', () => {
    expect(selectionFor('containerd', C1, platform)).toEqual({ kind: 'containerd', platform });
    expect(selectionFor('cri-o', C1, platform)).toEqual({ kind: 'image-id', imageId: C1 });
    expect(selectionFor('containerd', undefined, platform)).toEqual({ kind: 'single-only' });
    expect(selectionFor('cri-o', undefined, platform)).toEqual({ kind: 'single-only' });
  });

  it('image ids: containerd sha256:<hex>, CRI-O bare hex; anything else is no image id', () => {
    expect(configDigestOfImageId('1'.repeat(64))).toBe(C1);
    expect(configDigestOfImageId(C1)).toBe(C1);
    expect(configDigestOfImageId('')).toBeUndefined();
    expect(configDigestOfImageId('sha256:abc')).toBeUndefined();
    expect(configDigestOfImageId(`sha256:${'A'.repeat(64)}`)).toBeUndefined();
  });
});
