/** The pieces of bounded work and registry hygiene that need no registry: budget, one-line reasons, partial lists, ambiguity, mirror credentials. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examineInOrder } from '../../src/discovery/examine.js';
import { Budget, BudgetLimits, withinBudget } from '../../src/registry/budget.js';
import { startDeadline } from '../../src/deadline.js';
import { ReasonCode, SigguardError, oneLine } from '../../src/errors.js';
import { resolveEndpoints } from '../../src/registry/hosts.js';
import { checkUnambiguous } from '../../src/registry/oci-schema.js';
import { descriptorsInPrefix } from '../../src/registry/partial-index.js';
import { tempDir } from '../support/temp.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('oneLine', () => {
  it.each([
    ['a\nb\r\nc\td', 'a b c d'],
    ['red \x1b[31mALERT\x1b[0m end', 'red ALERT end'],
    ['title\x1b]0;owned\x07 here', 'title here'],
    ['line\u2028sep\u2029para', 'line sep para'],
    ['abc\u202etxt.exe\u202c', 'abctxt.exe'],
    ['iso\u2066late\u2069d', 'isolated'],
    ['nul\x00 bel\x07 del\x7f c1\x9b', 'nul bel del c1'],
    ['  many   spaces  ', 'many spaces'],
    ['zero\u200bwidth\ufeff', 'zerowidth'],
  ])('%j → %j', (input, want) => {
    expect(oneLine(input)).toBe(want);
  });

  it('reasons carried by SigguardError are one line of plain text', () => {
    expect(new SigguardError(ReasonCode.REGISTRY_ERROR, 'x\x1b[2J\ny').message).toBe('x y');
  });
});

describe('descriptorsInPrefix', () => {
  const d = (i: number) => ({
    mediaType: OCI_MANIFEST,
    digest: `sha256:${String(i).padStart(64, '0')}`,
    size: i,
    annotations: { note: 'a "quoted" } brace' },
  });
  const doc = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d(1), d(2), d(3)] });

  it('a whole document: every descriptor', () => {
    expect(descriptorsInPrefix(doc)).toEqual([d(1), d(2), d(3)]);
  });

  it('cut anywhere: the descriptors complete before the cut, in order', () => {
    for (let cut = 0; cut <= doc.length; cut += 7) {
      const got = descriptorsInPrefix(doc.slice(0, cut));
      expect(got).toEqual([d(1), d(2), d(3)].slice(0, got.length));
      expect(got.length).toBeLessThanOrEqual(3);
    }
    expect(descriptorsInPrefix(doc.slice(0, doc.indexOf(JSON.stringify(d(3)))))).toEqual([d(1), d(2)]);
  });

  it('no manifests key, or garbage: nothing', () => {
    expect(descriptorsInPrefix('{"schemaVersion":2')).toEqual([]);
    expect(descriptorsInPrefix('{"manifests":[{"a":}]}')).toEqual([]);
  });
});

describe('checkUnambiguous (CVE-2021-41190)', () => {
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] };
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  const refused = (json: unknown, ct: string | undefined) => {
    try {
      checkUnambiguous(json, ct, 'doc');
      return undefined;
    } catch (err) {
      return (err as SigguardError).code;
    }
  };

  it('plain manifests and indexes pass, the declared type wins', () => {
    expect(checkUnambiguous(manifest, OCI_MANIFEST, 'doc')).toBe(OCI_MANIFEST);
    expect(checkUnambiguous(index, OCI_INDEX, 'doc')).toBe(OCI_INDEX);
    expect(checkUnambiguous({ ...manifest, mediaType: undefined }, OCI_MANIFEST, 'doc')).toBe(OCI_MANIFEST);
    expect(checkUnambiguous(manifest, 'application/json', 'doc')).toBe(OCI_MANIFEST);
  });

  it.each([
    ['both manifests and layers', { ...manifest, manifests: [] }, OCI_MANIFEST],
    ['both manifests and config', { schemaVersion: 2, config: {}, manifests: [] }, undefined],
    ['declared manifest, served index', manifest, OCI_INDEX],
    ['declared index, served manifest', index, OCI_MANIFEST],
    ['index body under a manifest type', { schemaVersion: 2, manifests: [] }, OCI_MANIFEST],
    ['manifest body declared an index', { schemaVersion: 2, mediaType: OCI_INDEX, layers: [] }, undefined],
    ['mediaType not a string', { ...manifest, mediaType: 7 }, OCI_MANIFEST],
    ['not an object', [manifest], OCI_MANIFEST],
  ])('%s → REGISTRY_BAD_RESPONSE', (_name, json, ct) => {
    expect(refused(json, ct)).toBe(ReasonCode.REGISTRY_BAD_RESPONSE);
  });
});

describe('Budget', () => {
  it('bytes: reservations shrink to what is left; an exact size must fit whole', () => {
    const b = new Budget(new AbortController().signal, { ...BudgetLimits, totalBytes: 100 });
    expect(b.reserve(60, 'a')).toBe(60);
    expect(() => b.reserve(50, 'b', true)).toThrow(/budget of 100 bytes spent before b/);
    expect(b.reserve(50, 'c')).toBe(40);
    b.settle(60, 10);
    b.settle(40, 40);
    expect(b.bytes).toBe(50);
    expect(b.reserve(50, 'd', true)).toBe(50);
    b.settle(50, 50);
    expect(() => b.reserve(1, 'e')).toThrow(expect.objectContaining({ code: ReasonCode.BUDGET_EXCEEDED }));
  });

  it('documents', () => {
    const b = new Budget(new AbortController().signal, { ...BudgetLimits, documents: 2 });
    b.document('a');
    b.document('b');
    expect(() => b.document('c')).toThrow(expect.objectContaining({ code: ReasonCode.BUDGET_EXCEEDED }));
  });

  it('checkpoint: DEADLINE_EXCEEDED once the time has passed, whatever the timers; the one signal is aborted with it', () => {
    const deadline = startDeadline(Date.now() + 40, 'check deadline of 0.04 s exceeded');
    const b = new Budget(deadline.signal);
    b.checkpoint();
    // synchronous work past the deadline: the timer cannot fire, the checkpoint notices the time
    const until = Date.now() + 60;
    while (Date.now() < until) {
      /* busy */
    }
    expect(deadline.signal.aborted).toBe(false);
    expect(() => b.checkpoint()).toThrow(
      expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED, message: 'check deadline of 0.04 s exceeded' }),
    );
    expect(deadline.signal.aborted).toBe(true);
    deadline.clear();
    const c = new AbortController();
    c.abort();
    expect(() => new Budget(c.signal).checkpoint()).toThrow(expect.objectContaining({ code: ReasonCode.DEADLINE_EXCEEDED }));
  });

  it('withinBudget: an allow is never changed; a denial after the budget ran out is BUDGET_EXCEEDED, with the notes', () => {
    const b = new Budget(new AbortController().signal);
    expect(withinBudget(b, { decision: 'deny', code: ReasonCode.UNTRUSTED_SIGNER, reason: 'x\ny' })).toEqual({
      code: ReasonCode.UNTRUSTED_SIGNER,
      reason: 'x y',
    });
    b.note('only the first 128');
    expect(withinBudget(b, { decision: 'deny', code: ReasonCode.UNTRUSTED_SIGNER, reason: 'none' })).toEqual({
      code: ReasonCode.UNTRUSTED_SIGNER,
      reason: 'none (only the first 128)',
      notes: ['only the first 128'],
    });
    b.exhausted = 'spent';
    expect(withinBudget(b, { decision: 'deny', code: ReasonCode.UNTRUSTED_SIGNER, reason: 'none' }).code).toBe(ReasonCode.BUDGET_EXCEEDED);
    expect(withinBudget(b, { decision: 'deny', code: ReasonCode.DEADLINE_EXCEEDED, reason: 'late' }).code).toBe(
      ReasonCode.DEADLINE_EXCEEDED,
    );
    expect(withinBudget(b, { decision: 'allow', code: ReasonCode.ALLOWED, reason: 'ok' })).toMatchObject({
      code: ReasonCode.ALLOWED,
      reason: 'ok',
    });
  });
});

describe('examineInOrder', () => {
  it('the first 128 in order, the rest noted; a budget error stops the listing, what was done is kept', async () => {
    const b = new Budget(new AbortController().signal);
    const items = Array.from({ length: 200 }, (_, i) => i);
    const seen: number[] = [];
    const out = await examineInOrder(items, 'list', b, async (i) => {
      seen.push(i);
      return i;
    });
    expect(out).toEqual(items.slice(0, 128));
    expect(seen).toEqual(items.slice(0, 128));
    expect(b.notes).toEqual(['list lists 200 signature artifacts: only the first 128 were examined']);

    const c = new Budget(new AbortController().signal, { ...BudgetLimits, totalBytes: 10 });
    const got = await examineInOrder(items.slice(0, 20), 'l2', c, async (i) => {
      c.settle(c.reserve(1, `item ${i}`, true), 1);
      return i;
    });
    expect(got).toEqual(items.slice(0, 10));
    expect(c.exhausted).toMatch(/spent before item 1[0-9]/);
    expect(c.notes.join()).toMatch(/l2: 10 of 20 signature artifacts not examined/);
  });

  it("other errors are the caller's", async () => {
    const b = new Budget(new AbortController().signal);
    await expect(
      examineInOrder([1], 'l', b, async () => Promise.reject(new SigguardError(ReasonCode.DEADLINE_EXCEEDED, 'late'))),
    ).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
  });
});

describe("credentials by each endpoint's own host (hosts.toml)", () => {
  it("a mirror is looked up by its own host, the default endpoint by the registry's name", () => {
    const certs = tempDir('sigguard-hosts-');
    mkdirSync(join(certs, 'registry.example'));
    writeFileSync(join(certs, 'registry.example', 'hosts.toml'), '[host."https://mirror.example:5000/v2"]\n  capabilities = ["pull"]\n');
    mkdirSync(join(certs, 'docker.io'));
    writeFileSync(join(certs, 'docker.io', 'hosts.toml'), 'server = "https://registry-1.docker.io"\n[host."http://cache.local"]\n');
    const settings = { certsDir: certs, insecureRegistries: [], caFiles: {} };
    expect(resolveEndpoints('registry.example', settings).map((e) => e.authHost)).toEqual(['mirror.example:5000', 'registry.example']);
    expect(resolveEndpoints('docker.io', settings).map((e) => e.authHost)).toEqual(['cache.local', 'docker.io']);
    expect(resolveEndpoints('other.example', settings).map((e) => e.authHost)).toEqual(['other.example']);
  });
});
