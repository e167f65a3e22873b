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
// Beside it, on the unix socket named by its first argument, a CRI stand-in (node:http2) answers
// ContainerStatus for the containers `train-legacy` (its pod names the image by digest) and
// `train-bundle` (by a tag) as containerd 2.1 does (verbose: the info JSON with the pod's image,
// the image id; a WINDOW_UPDATE and a PING first; Huffman-coded headers, trailers),
// so that the training starts ask the node as a hook on a containerd node does: the main code
// cache then holds the CRI client, HTTP/2, HPACK and protobuf code, which a warm start on a node
// runs every time (compiled lazily without it: ~3 ms of each warm start, issue 15).
// Run as a child of the build (the build's spawnSync of the trainer blocks its own event loop):
// prints one JSON line {host, pub, legacy, bundle, cri, bundleTag} on stdout, serves until its stdin closes.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';

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
  return { manifest, d: digest(manifest), config: digest(config) };
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
  return {
    legacy: `${host}/train/legacy@${legacy.d}`,
    bundle: `${host}/train/bundle@${bundled.d}`,
    configs: { legacy: legacy.config, bundle: bundled.config },
  };
}

// protobuf, as far as ContainerStatusResponse needs it
const varint = (n) => {
  const out = [];
  let v = BigInt(n);
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return Buffer.from(out);
};
const len = (no, body) => Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
const str = (no, s) => len(no, Buffer.from(s));
const msg = (no, ...parts) => len(no, Buffer.concat(parts));
const int = (no, n) => Buffer.concat([varint(no << 3), varint(n)]);
const map = (no, o) => Buffer.concat(Object.entries(o).map(([k, v]) => msg(no, str(1, k), str(2, v))));

/**
 * runtime.v1.ContainerStatusResponse for container `id` running `image` (a digest reference; config
 * digest `config`), verbose, as containerd 2.1 answers; `tag`: the pod named the image by that tag,
 * and containerd then reports the tag in status.image and the pod's name only in the info JSON.
 */
function containerStatus(id, image, config, tag) {
  const labels = { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.name': 'train', 'io.kubernetes.pod.namespace': 'default' };
  const annotations = { 'io.kubernetes.container.hash': '0', 'io.kubernetes.container.restartCount': '0' };
  const info = {
    sandboxID: 'f'.repeat(64),
    pid: 0,
    removing: false,
    snapshotKey: id,
    snapshotter: 'overlayfs',
    runtimeType: 'io.containerd.runc.v2',
    runtimeOptions: { binary_name: '/usr/sbin/runc' },
    config: {
      metadata: { name: 'app' },
      image: { image: config, user_specified_image: tag ?? image },
      command: ['/bin/true'],
      envs: [{ key: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.1' }],
      labels,
      annotations,
      log_path: 'app/0.log',
      linux: { security_context: { namespace_options: { pid: 1 } } },
    },
    runtimeSpec: { ociVersion: '1.2.1', process: { user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/bin'], cwd: '/' } },
  };
  const status = Buffer.concat([
    str(1, id),
    msg(2, str(1, 'app')),
    int(4, Date.now() * 1_000_000),
    tag ? msg(8, str(1, tag)) : msg(8, str(1, config), str(18, image)),
    str(9, image),
    map(12, labels),
    map(13, annotations),
    str(15, `/var/log/pods/default_train/app/0.log`),
  ]);
  return Buffer.concat([msg(1, status), map(2, { info: JSON.stringify(info) })]);
}

/** The CRI stand-in at `path`: ContainerStatus of the training containers; anything else NOT_FOUND. */
function serveCri(path, images) {
  rmSync(path, { force: true });
  const cri = createH2Server((req, res) => {
    // as containerd's gRPC server does on a new connection: the connection window given back
    // (WINDOW_UPDATE) and a PING (grpc-go's bandwidth probe), so the hook's handling of both is trained
    req.stream.session.setLocalWindowSize(65_535 + 73);
    req.stream.session.ping(() => {});
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).subarray(5);
      // ContainerStatusRequest: container_id = 1 (a short string: one length byte)
      const id = body[0] === 0x0a ? body.subarray(2, 2 + body[1]).toString() : '';
      const found = req.url === '/runtime.v1.RuntimeService/ContainerStatus' ? images[id] : undefined;
      if (!found) {
        res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': `container "${id}" not found` });
        res.end();
        return;
      }
      const message = containerStatus(id, found.image, found.config, found.tag);
      const framed = Buffer.alloc(5 + message.length);
      framed.writeUInt32BE(message.length, 1);
      message.copy(framed, 5);
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
      res.end(framed);
    });
  });
  return new Promise((resolve) => cri.listen(path, () => resolve(cri)));
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
const criPath = process.argv[2];
let cri;
server.listen(0, '127.0.0.1', async () => {
  const host = `127.0.0.1:${server.address().port}`;
  const served = serve(host);
  if (criPath) {
    const { configs, legacy, bundle } = served;
    cri = await serveCri(criPath, {
      'train-legacy': { image: legacy, config: configs.legacy },
      // named by a tag in its pod (the node pins it to the digest it runs)
      'train-bundle': { image: bundle, config: configs.bundle, tag: `${host}/train/bundle:v1` }, // as bundleTag below
    });
  }
  process.stdout.write(
    `${JSON.stringify({ host, pub, ...served, ...(criPath ? { cri: criPath, bundleTag: `${host}/train/bundle:v1` } : {}) })}\n`,
  );
});
process.stdin.on('end', () => {
  cri?.close();
  server.close(() => process.exit(0));
});
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
