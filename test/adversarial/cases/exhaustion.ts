/**
 * Resource exhaustion: sizes, counts, slow and endless answers, redirect
 * loops. Each must end in a decision within the deadline, with peak RSS under
 * 256 MiB; and artefacts an attacker adds next to a signed image must not
 * make it unverifiable by their number or size (the good signature first, or
 * within the first 128 listed).
 */
import { dsseBundle, legacyLayer, putBundleReferrer, putImage, putIndex, putLegacy, simpleSigning, statement } from '../artefacts.js';
import { Limits } from '../../../src/registry/client.js';
import type { Case, Category, Ctx } from '../harness.js';
import { MT, type Responder, misbehave } from '../lying-registry.js';
import { BAD_SIGNATURE, allow, check, deny, refOf, signBundle } from './util.js';

const LIMITS = ['RESPONSE_TOO_LARGE', 'BUDGET_EXCEEDED', 'DEADLINE_EXCEEDED'];

/** `n` referrers: junk bundles by the attacker key, the trusted one at `goodAt` (or none). */
function referrers(name: string, n: number, goodAt: number | undefined, opts: { padded?: boolean; deadline?: number } = {}): Case {
  return {
    name,
    attack: `${n} referrers${goodAt === undefined ? ', none good' : `, the good one at position ${goodAt + 1}`}${opts.padded ? ', junk bundles of tiny JSON arrays just under the bundle cap' : ''}`,
    expect: goodAt === undefined ? deny(...BAD_SIGNATURE, ...LIMITS) : allow(),
    run(ctx) {
      const repo = ctx.repo('ex-ref');
      const m = putImage(ctx.reg, repo);
      const junk = dsseBundle(ctx.attacker, statement(m.digest));
      for (let i = 0; i < n; i++) {
        if (i === goodAt) signBundle(ctx, repo, m);
        else putBundleReferrer(ctx.reg, repo, m.desc, opts.padded ? paddedBundle(ctx, m.digest, i) : junk, { unique: String(i) });
      }
      return check(refOf(ctx, repo, m), { deadline: opts.deadline ?? 8 });
    },
  };
}

/** `n` legacy layers: junk by the attacker, the trusted one at `goodAt`. */
function sigLayers(name: string, n: number, goodAt: number | undefined, junkPayloadBytes = 0): Case {
  return {
    name,
    attack: `.sig image with ${n} layers${goodAt === undefined ? ', none good' : `, the good one at position ${goodAt + 1}`}${junkPayloadBytes ? `, junk payloads of ~${junkPayloadBytes} bytes of tiny JSON arrays` : ''}`,
    expect: goodAt === undefined ? deny(...BAD_SIGNATURE, ...LIMITS) : allow(),
    run(ctx) {
      const repo = ctx.repo('ex-sig');
      const m = putImage(ctx.reg, repo);
      const good = legacyLayer(ctx.trusted, simpleSigning(`${ctx.host}/${repo}`, m.digest));
      const pad = junkPayloadBytes ? JSON.parse(tinyArrays(junkPayloadBytes)) : undefined;
      const junk = (i: number) =>
        legacyLayer(ctx.attacker, simpleSigning(`${ctx.host}/${repo}`, m.digest, { optional: { n: i, ...(pad ? { pad } : {}) } }));
      putLegacy(
        ctx.reg,
        repo,
        m.digest,
        Array.from({ length: n }, (_, i) => (i === goodAt ? good : junk(i))),
      );
      return check(refOf(ctx, repo, m), { deadline: 8 });
    },
  };
}

/** The image manifest's route answers with `responder`. */
function manifestFault(
  name: string,
  attack: string,
  responder: (ctx: Ctx, repo: string) => Responder,
  codes: string[],
  deadline = 2,
  byTag = false,
): Case {
  return {
    name,
    attack,
    expect: deny(...codes),
    run(ctx) {
      const repo = ctx.repo('ex-fault');
      ctx.reg.on(`/v2/${repo}/manifests/`, responder(ctx, repo));
      return check(byTag ? `${ctx.host}/${repo}:v1` : `${ctx.host}/${repo}@sha256:${'3'.repeat(64)}`, { deadline });
    },
  };
}

/** A signed image whose `.sig` manifest route misbehaves (the registry stalls on the signature). */
function sigFault(name: string, attack: string, responder: Responder, codes: string[], deadline = 2): Case {
  return {
    name,
    attack,
    expect: deny(...codes),
    run(ctx) {
      const repo = ctx.repo('ex-sigfault');
      const m = putImage(ctx.reg, repo);
      ctx.reg.on(`/v2/${repo}/manifests/${m.digest.replace(':', '-')}.sig`, responder);
      return check(refOf(ctx, repo, m), { deadline });
    },
  };
}

const MiB = 1024 * 1024;

/** JSON text of `[[],[],…]` about `bytes` long: the cheapest bytes for the most parser allocations. */
const tinyArrays = (bytes: number): string => `[${Array.from({ length: Math.max(1, Math.floor(bytes / 3)) }, () => '[]').join(',')}]`;

/** A junk bundle (attacker key) padded with tiny arrays to just under the bundle cap; `n` makes each distinct. */
function paddedBundle(ctx: Ctx, digest: string, n: number): Buffer {
  const base = JSON.parse(dsseBundle(ctx.attacker, statement(digest)).toString());
  const room = Limits.bundleBytes - JSON.stringify(base).length - 64;
  return Buffer.from(JSON.stringify({ ...base, n }).replace(/}$/, `,"pad":${tinyArrays(room)}}`));
}

/** `n` referrer manifests padded with tiny arrays to just under their cap, after the good bundle or without one. */
function bigReferrers(name: string, n: number, withGood: boolean): Case {
  return {
    name,
    attack: `${n} referrer manifests of tiny JSON arrays just under the referrer manifest cap${withGood ? ', after the good bundle' : ''}`,
    expect: withGood ? allow() : deny(...BAD_SIGNATURE, ...LIMITS, 'REGISTRY_BAD_RESPONSE'),
    run(ctx) {
      const repo = ctx.repo('ex-bigref');
      const m = putImage(ctx.reg, repo);
      if (withGood) signBundle(ctx, repo, m);
      const pad = JSON.parse(tinyArrays(Limits.referrerManifestBytes - 1024));
      const empty = ctx.reg.putBlob('{}');
      const bundle = ctx.reg.putBlob(dsseBundle(ctx.attacker, statement(m.digest)));
      for (let i = 0; i < n; i++) {
        const doc = {
          schemaVersion: 2,
          mediaType: MT.OCI_MANIFEST,
          artifactType: MT.BUNDLE_V03,
          config: { mediaType: MT.OCI_EMPTY, digest: empty.digest, size: empty.size },
          layers: [{ mediaType: MT.BUNDLE_V03, digest: bundle.digest, size: bundle.size }],
          subject: { mediaType: m.desc.mediaType, digest: m.digest, size: m.desc.size },
          annotations: { n: String(i) },
          pad,
        };
        const s = ctx.reg.putManifest(repo, doc);
        ctx.reg.addReferrer(repo, m.digest, { ...s.desc, artifactType: MT.BUNDLE_V03 });
      }
      return check(refOf(ctx, repo, m), { deadline: 8 });
    },
  };
}

export const exhaustion: Category = {
  category: 'resource exhaustion',
  cases: [
    referrers('200 referrers, the good one first', 200, 0),
    referrers('200 referrers, the good one 100th', 200, 99),
    referrers('3000 junk referrers, none good', 3000, undefined),
    referrers('good one first, then 127 padded junk bundles', 128, 0, { padded: true }),
    referrers('128 padded junk bundles, none good', 128, undefined, { padded: true }),
    referrers('a good one 128th after 127 padded junk bundles', 128, 127, { padded: true }),
    bigReferrers('good bundle first, then 127 padded referrer manifests', 127, true),
    bigReferrers('128 padded referrer manifests, none good', 128, false),
    sigLayers('.sig with 200 layers, the good one first', 200, 0),
    sigLayers('.sig with 100 layers, the good one last', 100, 99),
    sigLayers('.sig with 128 junk payloads of tiny arrays just under the payload cap', 128, undefined, Limits.signatureBlobBytes - 1024),
    sigLayers('.sig with 200 layers of tiny-array payloads, the good one first', 200, 0, Limits.signatureBlobBytes - 1024),
    sigLayers('.sig with 200 layers, the good one 128th after 127 tiny-array payloads', 200, 127, Limits.signatureBlobBytes - 1024),
    {
      name: 'junk referrer whose bundle is endless, next to the good one',
      attack: 'a referrer layer declared small whose blob never ends',
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('ex-endless-ref');
        const m = putImage(ctx.reg, repo);
        signBundle(ctx, repo, m);
        const junk = putBundleReferrer(ctx.reg, repo, m.desc, dsseBundle(ctx.attacker, statement(m.digest, { name: 'junk' })));
        const layer = (JSON.parse(junk.bytes.toString()) as { layers: Array<{ digest: string }> }).layers[0]!;
        ctx.reg.on(`/blobs/${layer.digest}`, misbehave.endless('application/octet-stream'));
        return check(refOf(ctx, repo, m), { deadline: 5 });
      },
    },
    {
      name: 'worst case: index and platform manifest, each with 128 padded junk bundles and 128 padded junk payloads',
      attack: 'every listing an attacker can fill, filled to its caps (2 subjects x 2 formats x 128)',
      expect: deny(...BAD_SIGNATURE, ...LIMITS),
      run(ctx) {
        const repo = ctx.repo('ex-worst');
        const amd = putImage(ctx.reg, repo);
        const idx = putIndex(ctx.reg, repo, [{ m: amd, platform: { os: 'linux', architecture: 'amd64' } }]);
        const pad = JSON.parse(tinyArrays(Limits.signatureBlobBytes - 1024));
        for (const subject of [idx, amd]) {
          for (let i = 0; i < 128; i++)
            putBundleReferrer(ctx.reg, repo, subject.desc, paddedBundle(ctx, subject.digest, i), { unique: String(i) });
          putLegacy(
            ctx.reg,
            repo,
            subject.digest,
            Array.from({ length: 128 }, (_, i) =>
              legacyLayer(ctx.attacker, simpleSigning(`${ctx.host}/${repo}`, subject.digest, { optional: { n: i, pad } })),
            ),
          );
        }
        return check(refOf(ctx, repo, idx), { deadline: 8 });
      },
    },
    manifestFault(
      'manifest of 5 MiB (Content-Length)',
      'a 5 MiB manifest',
      () => misbehave.answer(200, Buffer.alloc(5 * MiB, 0x20), { 'content-type': MT.OCI_MANIFEST }),
      ['RESPONSE_TOO_LARGE'],
    ),
    manifestFault('endless chunked manifest', 'a body that never ends, as fast as read', () => misbehave.endless(), [
      'RESPONSE_TOO_LARGE',
      'BUDGET_EXCEEDED',
    ]),
    manifestFault('slow drip: one byte every 200 ms', 'headers at once, then a byte every 200 ms for ever', () => misbehave.slowDrip(200), [
      'DEADLINE_EXCEEDED',
    ]),
    manifestFault('no answer at all', 'accepts the connection, never answers', () => misbehave.silent(), ['DEADLINE_EXCEEDED']),
    manifestFault('truncated body', 'Content-Length 4000, 100 bytes sent, connection closed', () => misbehave.truncated(4000, 100), [
      'REGISTRY_UNREACHABLE',
      'REGISTRY_BAD_RESPONSE',
      'CONTENT_MISMATCH',
      'REGISTRY_ERROR',
    ]),
    manifestFault(
      'redirect loop',
      'the manifest redirects to itself',
      (ctx, repo) => misbehave.redirect(`http://${ctx.host}/v2/${repo}/manifests/sha256:${'3'.repeat(64)}`),
      ['REGISTRY_ERROR', 'BUDGET_EXCEEDED'],
    ),
    manifestFault(
      'redirect ping-pong between two names of the host',
      'localhost <-> 127.0.0.1, for ever',
      (ctx, repo) => async (req, res) => {
        const other = (req.headers.host ?? '').startsWith('localhost') ? ctx.host : `localhost:${ctx.reg.port}`;
        res.writeHead(307, { location: `http://${other}/v2/${repo}/manifests/sha256:${'3'.repeat(64)}` });
        res.end();
      },
      ['REGISTRY_ERROR', 'BUDGET_EXCEEDED'],
    ),
    manifestFault(
      'deeply nested JSON (by tag: parsed)',
      '200,000 nested arrays (a parser stack overflow)',
      () => misbehave.answer(200, `${'['.repeat(200000)}${']'.repeat(200000)}`, { 'content-type': MT.OCI_MANIFEST }),
      ['REGISTRY_BAD_RESPONSE', 'RESPONSE_TOO_LARGE'],
      2,
      true,
    ),
    manifestFault(
      'deeply nested JSON objects (by tag)',
      '100,000 nested {"a": ...} in an OCI manifest',
      () => misbehave.answer(200, `${'{"a":'.repeat(100000)}1${'}'.repeat(100000)}`, { 'content-type': MT.OCI_MANIFEST }),
      ['REGISTRY_BAD_RESPONSE', 'RESPONSE_TOO_LARGE'],
      2,
      true,
    ),
    sigFault('the .sig manifest drips slowly', 'the image answers, its signature stalls', misbehave.slowDrip(300), ['DEADLINE_EXCEEDED']),
    {
      name: 'index with 20,000 entries',
      attack: 'a 3 MiB index of junk entries, none for this platform',
      expect: deny('REGISTRY_BAD_RESPONSE', 'NO_SIGNATURE', ...LIMITS),
      run(ctx) {
        const repo = ctx.repo('ex-bigindex');
        const e = putImage(ctx.reg, repo, { architecture: 's390x' });
        const idx = putIndex(
          ctx.reg,
          repo,
          Array.from({ length: 20000 }, () => ({ m: e, platform: { os: 'linux', architecture: 's390x' } })),
        );
        return check(refOf(ctx, repo, idx), { deadline: 5 });
      },
    },
  ],
};
