// make install-kind / uninstall-kind: kustomizations that pin sigguard's image by digest.
//
//   node build/kind-deploy.mjs ARCHIVE OUTDIR
//
// reads the image index digest from ARCHIVE (build/out/sigguard-image.tar, `make image`: its
// index.json names the index twice, by tag and as docker.io/library/sigguard@sha256:..., so
// `kind load image-archive` gives the nodes both names) and writes
//   OUTDIR/install/kustomization.yaml     deploy/kind/ with the image docker.io/library/sigguard@sha256:...
//   OUTDIR/uninstall/kustomization.yaml   deploy/uninstall/ with the same image
// for `kubectl apply -k`. A tag can be moved to other content; a digest cannot: the DaemonSet runs
// the image that was built and loaded, nothing else (README, "Pinning the image by digest").
// Prints the pinned reference.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [archive, outDir] = process.argv.slice(2);
if (!archive || !outDir) {
  console.error('usage: node build/kind-deploy.mjs ARCHIVE OUTDIR');
  process.exit(2);
}

/** The image index's digest, from the archive's index.json (the OCI layout's top). */
function indexDigest(indexJson) {
  const top = JSON.parse(indexJson);
  const digests = new Set((top.manifests ?? []).map((m) => m.digest));
  const [digest] = digests;
  if (digests.size !== 1 || !/^sha256:[0-9a-f]{64}$/.test(digest ?? ''))
    throw new Error(`${archive}: expected one image index in index.json, found ${[...digests].join(', ') || 'none'}`);
  return digest;
}

let text;
try {
  text = execFileSync('tar', ['-xOf', archive, './index.json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch (err) {
  console.error(`kind-deploy: cannot read index.json from ${archive}: ${String(err.stderr ?? err.message).trim()}`);
  process.exit(1);
}
const digest = indexDigest(text);
const image = { name: 'sigguard', newName: 'docker.io/library/sigguard', digest };
for (const [name, overlay] of [
  ['install', 'deploy/kind'],
  ['uninstall', 'deploy/uninstall'],
]) {
  const dir = resolve(outDir, name);
  mkdirSync(dir, { recursive: true });
  const base = relative(dir, join(root, overlay));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      `# made by build/kind-deploy.mjs from ${archive}: ${overlay}/ with sigguard's image pinned by digest`,
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${base}`,
      'images:',
      `  - name: ${image.name}`,
      `    newName: ${image.newName}`,
      `    digest: ${image.digest}`,
      '',
    ].join('\n'),
  );
}
console.log(`${image.newName}@${digest}`);
