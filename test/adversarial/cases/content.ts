/**
 * The registry lies about content: bytes that do not hash to the digest asked
 * for, a lying Docker-Content-Digest, documents that are both a manifest and an
 * index (CVE-2021-41190), a mediaType that disagrees with the Content-Type,
 * control characters in what it says.
 */
import { legacyLayer, putImage, putLegacy, signatureLayersFor, simpleSigning } from '../artefacts.js';
import type { Category } from '../harness.js';
import { MT, misbehave } from '../lying-registry.js';
import { BAD_SIGNATURE, allow, check, deny, refOf, signLegacy } from './util.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters (all but newline) in sigguard's output on purpose
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export const content: Category = {
  category: 'lying content',
  cases: [
    {
      name: 'manifest by digest: other bytes',
      attack: 'GET manifests/<D> answers a signed manifest whose digest is not D',
      expect: deny('CONTENT_MISMATCH'),
      run(ctx) {
        const repo = ctx.repo('lie-digest');
        const signed = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, signed);
        const wanted = `sha256:${'1'.repeat(64)}`;
        ctx.reg.putRaw(repo, wanted, signed.bytes, MT.OCI_MANIFEST);
        return check(`${ctx.host}/${repo}@${wanted}`);
      },
    },
    {
      name: 'tag: Docker-Content-Digest claims the signed digest',
      attack: 'tag v1 serves an unsigned manifest with Docker-Content-Digest of a signed one',
      expect: deny('CONTENT_MISMATCH', 'NO_SIGNATURE'),
      run(ctx) {
        const repo = ctx.repo('lie-dcd');
        const signed = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, signed);
        const unsigned = putImage(ctx.reg, repo);
        ctx.reg.putRaw(repo, 'v1', unsigned.bytes, MT.OCI_MANIFEST, { 'docker-content-digest': signed.digest });
        return check(`${ctx.host}/${repo}:v1`);
      },
    },
    {
      name: 'signature payload blob: other bytes',
      attack: 'the .sig layer (a payload with annotations: fetched) blob answers a payload for another digest (signature made over it)',
      expect: deny('CONTENT_MISMATCH', ...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('lie-blob');
        const m = putImage(ctx.reg, repo);
        const other = putImage(ctx.reg, repo);
        // annotations in `optional`: not the payload sigguard knows without asking (discovery/known-payload.ts)
        const layer = legacyLayer(ctx.trusted, simpleSigning(`${ctx.host}/${repo}`, m.digest, { optional: { creator: 'ci' } }));
        const sig = putLegacy(ctx.reg, repo, m.digest, [layer]);
        const desc = signatureLayersFor(sig)[0]!;
        ctx.shared.lyingBlob = desc.digest;
        const lie = simpleSigning(`${ctx.host}/${repo}`, other.digest);
        ctx.reg.on(`/blobs/${desc.digest}`, misbehave.answer(200, lie, { 'content-type': 'application/octet-stream' }));
        return check(refOf(ctx, repo, m));
      },
      verify: (_o, ctx) =>
        ctx.reg.seen(`/blobs/${String(ctx.shared.lyingBlob)}`).length > 0 ? [] : ['the annotated payload was never fetched'],
    },
    {
      name: "signature payload blob: other bytes, where the layer names cosign's own payload",
      attack:
        "the .sig layer names cosign's payload for this image (its digest and size); the blob endpoint answers a payload for another digest",
      // the named digest fixes the bytes: sigguard builds them and never asks the lying endpoint; the
      // trusted key's signature over them is real, so the image is signed as the policy says
      expect: allow(),
      run(ctx) {
        const repo = ctx.repo('lie-known-blob');
        const m = putImage(ctx.reg, repo);
        const other = putImage(ctx.reg, repo);
        const sig = signLegacy(ctx, repo, m);
        const desc = signatureLayersFor(sig)[0]!;
        ctx.shared.lyingBlob = desc.digest;
        ctx.reg.on(`/blobs/${desc.digest}`, misbehave.answer(200, simpleSigning(`${ctx.host}/${repo}`, other.digest)));
        return check(refOf(ctx, repo, m));
      },
      verify: (_o, ctx) => (ctx.reg.seen(`/blobs/${String(ctx.shared.lyingBlob)}`).length === 0 ? [] : ['the known payload was fetched']),
    },
    {
      name: "cosign's own payload for this image, signed by an untrusted key",
      attack: "the .sig layer is cosign's payload for the image (built without a fetch), its signature by the attacker's key",
      expect: deny(...BAD_SIGNATURE),
      run(ctx) {
        const repo = ctx.repo('lie-known-untrusted');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.attacker);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'ambiguous document: a signed manifest that is also an index (CVE-2021-41190)',
      attack: 'config+layers (signed) and manifests [unsigned amd64], no mediaType',
      expect: deny('REGISTRY_BAD_RESPONSE'),
      run(ctx) {
        const repo = ctx.repo('lie-ambiguous');
        const e = putImage(ctx.reg, repo);
        const base = JSON.parse(putImage(ctx.reg, repo).bytes.toString());
        delete base.mediaType;
        const doc = { ...base, manifests: [{ ...e.desc, platform: { os: 'linux', architecture: 'amd64' } }] };
        const m = ctx.reg.putManifest(repo, doc, { contentType: MT.OCI_MANIFEST });
        signLegacy(ctx, repo, m);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'ambiguous document served as an index',
      attack: 'the same both-ways document with Content-Type index',
      expect: deny('REGISTRY_BAD_RESPONSE'),
      run(ctx) {
        const repo = ctx.repo('lie-ambiguous-idx');
        const e = putImage(ctx.reg, repo);
        const base = JSON.parse(putImage(ctx.reg, repo).bytes.toString());
        delete base.mediaType;
        const m = ctx.reg.putManifest(
          repo,
          { ...base, manifests: [{ ...e.desc, platform: { os: 'linux', architecture: 'amd64' } }] },
          { contentType: MT.OCI_INDEX },
        );
        signLegacy(ctx, repo, m);
        signLegacy(ctx, repo, e);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'mediaType says manifest, Content-Type says index',
      attack: 'a signed image manifest served as application/vnd.oci.image.index.v1+json',
      expect: deny('REGISTRY_BAD_RESPONSE'),
      run(ctx) {
        const repo = ctx.repo('lie-ct');
        const m = putImage(ctx.reg, repo);
        ctx.reg.putManifest(repo, m.bytes, { contentType: MT.OCI_INDEX });
        signLegacy(ctx, repo, m);
        return check(refOf(ctx, repo, m));
      },
    },
    {
      name: 'mediaType says index, Content-Type says manifest',
      attack: 'an index (unsigned entry for amd64) served as an image manifest',
      expect: deny('REGISTRY_BAD_RESPONSE'),
      run(ctx) {
        const repo = ctx.repo('lie-ct2');
        const e = putImage(ctx.reg, repo);
        const idx = ctx.reg.putManifest(
          repo,
          { schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: [{ ...e.desc, platform: { os: 'linux', architecture: 'amd64' } }] },
          { contentType: MT.OCI_MANIFEST },
        );
        signLegacy(ctx, repo, idx);
        return check(refOf(ctx, repo, idx), {});
      },
    },
    {
      name: "control characters in the registry's error message",
      attack: '500 with an ANSI escape, CR and a bidi override in the message (terminal and log injection)',
      expect: deny('REGISTRY_ERROR'),
      run(ctx) {
        const repo = ctx.repo('lie-ctrl');
        ctx.reg.on(
          `/v2/${repo}/`,
          misbehave.answer(
            500,
            JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'down\u001b[31mRED\r\nallowed fake\u202eevil\u0007' }] }),
            { 'content-type': 'application/json' },
          ),
        );
        return check(`${ctx.host}/${repo}@sha256:${'2'.repeat(64)}`);
      },
      verify: (out) => {
        const texts = [out.stdout.replace(/\n$/, ''), out.stderr.replace(/\n$/, ''), out.reason];
        return texts.some((t) => CONTROL.test(t)) ? ['control characters reached the output'] : [];
      },
    },
    {
      name: "control characters in a signature's docker-reference",
      attack: 'a trusted signature whose docker-reference carries an ANSI escape and newline',
      expect: deny('IDENTITY_MISMATCH', 'MALFORMED_SIGNATURE'),
      run(ctx) {
        const repo = ctx.repo('lie-ctrl-ref');
        const m = putImage(ctx.reg, repo);
        signLegacy(ctx, repo, m, ctx.trusted, `${ctx.host}/${repo}\u001b[2K\nallowed everything`);
        return check(refOf(ctx, repo, m));
      },
      verify: (out) =>
        CONTROL.test(out.reason) || CONTROL.test(out.stderr.replace(/\n$/, '')) ? ['control characters reached the reason'] : [],
    },
  ],
};
