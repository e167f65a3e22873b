// A registry stand-in for the build's training hook starts (build/sea.mjs, issue 15): the cold
// bundle's V8 code cache holds the bytecode of what the training starts ran, so they must run
// what a real cold verification runs (the registry client, signature discovery, the node:crypto
// fast path, the decision), not stop at a closed port. Offline: a loopback HTTP server, made
// here at build time, serving two signed images with a throwaway ECDSA P-256 key made by
// node:crypto (never kept: only its public key leaves this process, for the trainer's policy):
//   <host>/train/legacy@D1  a cosign legacy signature (the `.sig` tag, its simple-signing payload);
//                           the referrers API and tag answer 404, as docker-registry does;
//   <host>/train/bundle@D2  a key-signed cosign 3 bundle (DSSE over an in-toto statement) as a
//                           referrer, listed by the referrers API and by the referrers tag.
// Run as a child of the build (the build's spawnSync of the trainer blocks its own event loop):
// prints one JSON line {host, pub, legacy, bundle} on stdout, serves until its stdin closes.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

const digest = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const json = (v) => Buffer.from(JSON.stringify(v));
const descriptor = (mediaType, bytes, extra = {}) => ({ mediaType, digest: digest(bytes), size: bytes.length, ...extra });

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pub = publicKey.export({ type: 'spki', format: 'pem' });

/** repo -> path under /v2/<repo>/ -> [content type, body] */
const content = new Map();
function put(repo, path, type, body) {
  if (!content.has(repo)) content.set(repo, new Map());
  content.get(repo).set(path, [type, body]);
}
function image(repo) {
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} });
  const layer = Buffer.from(`sigguard training layer ${repo}\n`);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor('application/vnd.oci.image.config.v1+json', config),
    layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
  });
  put(repo, `manifests/${digest(manifest)}`, OCI_MANIFEST, manifest);
  return { manifest, d: digest(manifest) };
}
const tagOf = (d) => d.replace(':', '-');

function serve(host) {
  // legacy: the .sig tag's manifest, its payload blob signed (ECDSA over the payload's SHA-256)
  const legacy = image('train/legacy');
  const payload = json({
    critical: {
      identity: { 'docker-reference': `${host}/train/legacy` },
      image: { 'docker-manifest-digest': legacy.d },
      type: 'cosign container image signature',
    },
    optional: null,
  });
  put('train/legacy', `blobs/${digest(payload)}`, 'application/octet-stream', payload);
  const sigConfig = json({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [digest(payload)] } });
  const sigManifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor('application/vnd.oci.image.config.v1+json', sigConfig),
    layers: [
      descriptor('application/vnd.dev.cosign.simplesigning.v1+json', payload, {
        annotations: { 'dev.cosignproject.cosign/signature': sign('sha256', payload, privateKey).toString('base64') },
      }),
    ],
  });
  put('train/legacy', `manifests/${tagOf(legacy.d)}.sig`, OCI_MANIFEST, sigManifest);

  // bundle: cosign 3's key-signed bundle, a referrer of the image
  const bundled = image('train/bundle');
  const statement = json({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: bundled.d.slice('sha256:'.length) }, annotations: {} }],
    predicateType: 'https://sigstore.dev/cosign/sign/v1',
    predicate: {},
  });
  const type = 'application/vnd.in-toto+json';
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${statement.length} `), statement]);
  const hint = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const bundle = json({
    mediaType: BUNDLE,
    verificationMaterial: { publicKey: { hint } },
    dsseEnvelope: {
      payload: statement.toString('base64'),
      payloadType: type,
      signatures: [{ sig: sign('sha256', pae, privateKey).toString('base64') }],
    },
  });
  put('train/bundle', `blobs/${digest(bundle)}`, 'application/octet-stream', bundle);
  const empty = Buffer.from('{}');
  const referrer = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(EMPTY, empty, { artifactType: BUNDLE }),
    layers: [descriptor(BUNDLE, bundle)],
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
    },
    subject: descriptor(OCI_MANIFEST, bundled.manifest),
    artifactType: BUNDLE,
  });
  put('train/bundle', `manifests/${digest(referrer)}`, OCI_MANIFEST, referrer);
  const index = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptor(OCI_MANIFEST, referrer, { artifactType: BUNDLE })] });
  put('train/bundle', `referrers/${bundled.d}`, OCI_INDEX, index);
  put('train/bundle', `manifests/${tagOf(bundled.d)}`, OCI_INDEX, index);
  return { legacy: `${host}/train/legacy@${legacy.d}`, bundle: `${host}/train/bundle@${bundled.d}` };
}

const server = createServer((req, res) => {
  const m = /^\/v2\/(train\/[a-z]+)\/(.+)$/.exec(req.url ?? '');
  const found = m && (req.method === 'GET' || req.method === 'HEAD') ? content.get(m[1])?.get(m[2]) : undefined;
  if (!found) {
    const body = json({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const [type, body] = found;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'docker-content-digest': digest(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.listen(0, '127.0.0.1', () => {
  const host = `127.0.0.1:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ host, pub, ...serve(host) })}\n`);
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
