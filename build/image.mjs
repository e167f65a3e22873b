// Builds build/out/sigguard-image.tar (`make image`): an OCI image archive — a tar of an OCI image
// layout (image-spec v1.1) whose index.json names one image index (tag = package.json's version)
// holding a linux/amd64 and a linux/arm64 image. Each image is one layer:
//   /sigguard                      the single executable for that arch (build/out/sigguard-linux-*),
//                                  the entrypoint; it is also the installer (`sigguard agent`,
//                                  `sigguard install-node` run in-process: no shell is shipped)
//   /lib*/..., /usr/lib/<triple>/  exactly the shared libraries the executable needs (the DT_NEEDED
//                                  closure and the ELF interpreter, read with readelf), taken from
//                                  Debian bookworm's packages for that arch (libc6, libstdc++6,
//                                  libgcc-s1), with their copyright files under /usr/share/doc/
//   /usr/share/doc/sigguard/       the bundle's third-party licence notices
// No Docker: the .debs come from `apt-get download` through a private apt tree per arch under
// build/cache/apt-<arch>/ (the machine's Debian mirror, bookworm + bookworm-security, checked with
// Debian's archive keyring), the layer is made by GNU tar (sorted, owner 0, fixed mtime) and
// gzipped by zlib, and the JSON documents are written here. Reproducible: the same executables
// and packages give the same digests (timestamps come from SOURCE_DATE_EPOCH, else the commit).
//
// Environment: SIGGUARD_IMAGE_SOURCE (org.opencontainers.image.source; default below),
//   SIGGUARD_IMAGE_OUT (default build/out/sigguard-image.tar), SOURCE_DATE_EPOCH.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build/out');
const cache = join(root, 'build/cache');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const OUT_FILE = process.env.SIGGUARD_IMAGE_OUT ?? join(out, 'sigguard-image.tar');
const SOURCE = process.env.SIGGUARD_IMAGE_SOURCE ?? 'https://github.com/sigguard/sigguard';
// gcc-12-base: only for the copyright file that libstdc++6's and libgcc-s1's doc folders link to
const DEBIAN_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1', 'gcc-12-base'];
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const TARGETS = [
  { arch: 'amd64', exe: 'sigguard-linux-amd64', triple: 'x86_64-linux-gnu', machine: 'Advanced Micro Devices X86-64' },
  { arch: 'arm64', exe: 'sigguard-linux-arm64', triple: 'aarch64-linux-gnu', machine: 'AArch64', variant: 'v8' },
];

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

class BuildError extends Error {}
const die = (msg) => {
  throw new BuildError(msg);
};
const log = (msg) => process.stderr.write(`image: ${msg}\n`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

// The machine's Debian mirror (deb822 sources first), as build/tools.sh finds it.
function mirror() {
  const dir = '/etc/apt/sources.list.d';
  const texts = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.sources'))
        .map((f) => readFileSync(join(dir, f), 'utf8'))
    : [];
  for (const text of texts) {
    for (const m of text.matchAll(/^URIs:\s*(\S+)/gm)) if (/\/debian\/?$/.test(m[1])) return m[1].replace(/\/$/, '');
  }
  if (existsSync('/etc/apt/sources.list')) {
    const m = readFileSync('/etc/apt/sources.list', 'utf8').match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m);
    if (m) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

// Downloads (once; cached) the bookworm packages for `arch`; returns { name: { deb, version } }.
function debianPackages(arch) {
  const d = join(cache, `apt-${arch}`);
  for (const sub of ['state/lists/partial', 'cache/archives/partial', 'empty', 'debs']) mkdirSync(join(d, sub), { recursive: true });
  const uri = mirror();
  writeFileSync(
    join(d, 'sources.list'),
    `deb [signed-by=${KEYRING}] ${uri} bookworm main\ndeb [signed-by=${KEYRING}] ${uri}-security bookworm-security main\n`,
  );
  writeFileSync(join(d, 'status'), '');
  const opts = [
    ['Dir::State', join(d, 'state')],
    ['Dir::State::status', join(d, 'status')],
    ['Dir::Cache', join(d, 'cache')],
    ['Dir::Etc::SourceList', join(d, 'sources.list')],
    ['Dir::Etc::SourceParts', join(d, 'empty')],
    ['Dir::Etc::Preferences', join(d, 'empty/none')],
    ['Dir::Etc::PreferencesParts', join(d, 'empty')],
    ['Acquire::Languages', 'none'],
    ['APT::Sandbox::User', 'root'],
    ['APT::Architecture', arch],
    ['APT::Architectures', arch],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  const debsDir = join(d, 'debs');
  const have = () => {
    const got = {};
    for (const f of readdirSync(debsDir)) {
      const m = f.match(/^([^_]+)_([^_]+)_([^_.]+)\.deb$/);
      if (m && DEBIAN_PACKAGES.includes(m[1]) && m[3] === arch) got[m[1]] = { deb: join(debsDir, f), version: decodeURIComponent(m[2]) };
    }
    return got;
  };
  let got = have();
  if (DEBIAN_PACKAGES.every((p) => got[p])) return got;
  log(`${arch}: apt-get download ${DEBIAN_PACKAGES.join(' ')} (once; cached in build/cache/apt-${arch}/)`);
  execFileSync('apt-get', [...opts, '-qq', 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (const f of readdirSync(debsDir)) rmSync(join(debsDir, f)); // one version of each
  execFileSync('apt-get', [...opts, '-qq', 'download', ...DEBIAN_PACKAGES.map((p) => `${p}:${arch}`)], {
    cwd: debsDir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  got = have();
  const missing = DEBIAN_PACKAGES.filter((p) => !got[p]);
  if (missing.length) die(`${arch}: apt-get download left no ${missing.join(', ')}`);
  return got;
}

function readelf(args, file) {
  return execFileSync('readelf', ['--wide', ...args, file], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
}
const needed = (file) => [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
function interpreter(file) {
  const m = readelf(['-l'], file).match(/Requesting program interpreter: ([^\]]+)\]/);
  return m?.[1];
}

// Copies `rel` (an absolute path inside the package tree `from`) into `to`, symlinks as symlinks
// with their targets after them; returns the real file's path inside `from`.
function copyPath(from, to, rel, seen) {
  const src = join(from, rel);
  const st = lstatSync(src, { throwIfNoEntry: false });
  if (!st) die(`${rel} is in none of ${DEBIAN_PACKAGES.join(', ')}`);
  const dst = join(to, rel);
  mkdirSync(dirname(dst), { recursive: true });
  if (st.isSymbolicLink()) {
    const target = readlinkSync(src);
    if (!seen.has(rel)) symlinkSync(target, dst);
    seen.add(rel);
    return copyPath(from, to, posix.resolve(posix.dirname(rel), target), seen);
  }
  if (!st.isFile()) die(`${rel} is not a file`);
  if (!seen.has(rel)) {
    copyFileSync(src, dst);
    chmodSync(dst, st.mode & 0o777);
  }
  seen.add(rel);
  return src;
}

// Which package of `debs` ships the file `rel` (dpkg-deb --contents, cached per deb).
const contentsCache = new Map();
function owner(debs, rel) {
  for (const [name, { deb }] of Object.entries(debs)) {
    if (!contentsCache.has(deb)) {
      const list = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 256 * 2 ** 20 });
      const names = execFileSync('tar', ['-t'], { input: list, maxBuffer: 64 * 2 ** 20, encoding: 'utf8' })
        .split('\n')
        .map((n) => n.replace(/^\.\//, '/'));
      contentsCache.set(deb, new Set(names));
    }
    if (contentsCache.get(deb).has(rel)) return name;
  }
  return undefined;
}

// The root file system of one arch's image in `stage`; returns the packages used.
function stageRootfs(target, stage, work) {
  const exe = join(out, target.exe);
  if (!existsSync(exe)) die(`${exe} missing: run make build first`);
  const machine = readelf(['-h'], exe)
    .match(/Machine:\s+(.+)/)?.[1]
    ?.trim();
  if (machine !== target.machine) die(`${exe} is for ${machine}, not ${target.machine}`);

  const debs = debianPackages(target.arch);
  const pkgRoot = join(work, `debs-${target.arch}`);
  for (const { deb } of Object.values(debs)) execFileSync('dpkg-deb', ['-x', deb, pkgRoot]);

  mkdirSync(stage, { recursive: true });
  copyFileSync(exe, join(stage, 'sigguard'));
  chmodSync(join(stage, 'sigguard'), 0o755);

  // The loader, then the DT_NEEDED closure, looked up where Debian's loader looks (multiarch dirs).
  const seen = new Set();
  const used = new Set();
  const interp = interpreter(exe);
  if (!interp) die(`${exe} names no ELF interpreter`);
  const queue = [{ rel: interp, by: 'sigguard' }, ...needed(exe).map((n) => ({ soname: n, by: 'sigguard' }))];
  const dirs = [`/lib/${target.triple}`, `/usr/lib/${target.triple}`];
  const done = new Set();
  while (queue.length) {
    const item = queue.shift();
    const rel = item.rel ?? dirs.map((d) => `${d}/${item.soname}`).find((p) => lstatSync(join(pkgRoot, p), { throwIfNoEntry: false }));
    if (!rel) die(`${target.arch}: ${item.soname} (needed by ${item.by}) is in none of ${DEBIAN_PACKAGES.join(', ')}`);
    if (done.has(rel)) continue;
    done.add(rel);
    const who = owner(debs, rel);
    if (who) used.add(who);
    const real = copyPath(pkgRoot, stage, rel, seen);
    for (const n of needed(real)) queue.push({ soname: n, by: rel });
  }
  for (const name of used) {
    const copyright = `/usr/share/doc/${name}/copyright`;
    if (existsSync(join(pkgRoot, copyright))) copyPath(pkgRoot, stage, copyright, seen);
  }
  const legal = join(out, 'sigguard.cjs.LEGAL.txt');
  mkdirSync(join(stage, 'usr/share/doc/sigguard'), { recursive: true });
  if (existsSync(legal)) copyFileSync(legal, join(stage, 'usr/share/doc/sigguard/THIRD-PARTY-NOTICES.txt'));
  writeFileSync(join(stage, 'usr/share/doc/sigguard/LICENSE'), `sigguard is licensed under ${pkg.license}.\n`);
  return Object.fromEntries([...used].sort().map((n) => [n, debs[n].version]));
}

// A reproducible tar of `dir` (GNU tar: sorted names, uid/gid 0, one mtime, no atime/ctime).
function tarOf(dir, epoch) {
  return execFileSync(
    'tar',
    [
      '--create',
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '--sort=name',
      `--mtime=@${epoch}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      dir,
      '.',
    ],
    { maxBuffer: 1024 * 2 ** 20 },
  );
}

function main() {
  if (process.platform !== 'linux') die('only Linux images are built');
  const revision = git('rev-parse', 'HEAD') ?? 'unknown';
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? git('log', '-1', '--format=%ct') ?? 0);
  const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const labels = {
    'org.opencontainers.image.title': 'sigguard',
    'org.opencontainers.image.description': pkg.description,
    'org.opencontainers.image.version': pkg.version,
    'org.opencontainers.image.revision': revision,
    'org.opencontainers.image.source': SOURCE,
    'org.opencontainers.image.licenses': pkg.license,
    'org.opencontainers.image.created': created,
  };

  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(out, '.image-'));
  try {
    const layout = join(work, 'layout');
    const blobs = join(layout, 'blobs/sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (buf, mediaType, extra = {}) => {
      const hex = sha256(buf);
      writeFileSync(join(blobs, hex), buf);
      return { mediaType, digest: `sha256:${hex}`, size: buf.length, ...extra };
    };

    const manifests = [];
    for (const t of TARGETS) {
      const stage = join(work, `rootfs-${t.arch}`);
      const packages = stageRootfs(t, stage, work);
      const tar = tarOf(stage, epoch);
      const gz = gzipSync(tar, { level: 6 });
      const layer = blob(gz, MT.layer);
      const platform = { architecture: t.arch, os: 'linux', ...(t.variant ? { variant: t.variant } : {}) };
      const debs = Object.entries(packages)
        .map(([n, v]) => `${n}=${v}`)
        .join(' ');
      const config = {
        created,
        ...platform,
        config: { Entrypoint: ['/sigguard'], Cmd: ['agent'], WorkingDir: '/', Labels: labels },
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
        history: [{ created, created_by: `build/image.mjs: /sigguard (${t.exe}) + shared libraries from Debian bookworm: ${debs}` }],
      };
      const cfg = blob(Buffer.from(JSON.stringify(config)), MT.config);
      const manifest = { schemaVersion: 2, mediaType: MT.manifest, config: cfg, layers: [layer], annotations: labels };
      manifests.push(blob(Buffer.from(JSON.stringify(manifest)), MT.manifest, { platform }));
      log(`${t.arch}: ${(gz.length / 2 ** 20).toFixed(1)} MiB layer (${debs})`);
    }
    const index = { schemaVersion: 2, mediaType: MT.index, manifests, annotations: labels };
    const indexDesc = blob(Buffer.from(JSON.stringify(index)), MT.index, {
      // ref.name: the tag (skopeo oci-archive:FILE:TAG); containerd's name: what `ctr images import`
      // and `kind load image-archive` call it, the deploy/ manifests' image `sigguard`
      annotations: {
        'org.opencontainers.image.ref.name': pkg.version,
        'io.containerd.image.name': `docker.io/library/sigguard:${pkg.version}`,
      },
    });
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // the same index once more under its digest name: `ctr images import` (so `kind load image-archive`)
    // then knows docker.io/library/sigguard@sha256:..., which a manifest pinned by digest names (make
    // install-kind); no ref.name: skopeo's oci-archive:FILE:TAG still finds one image
    const byDigest = { ...indexDesc, annotations: { 'io.containerd.image.name': `docker.io/library/sigguard@${indexDesc.digest}` } };
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [indexDesc, byDigest] }));

    const tmp = `${OUT_FILE}.${process.pid}.tmp`;
    writeFileSync(tmp, tarOf(layout, epoch));
    renameSync(tmp, OUT_FILE);
    log(`${OUT_FILE}: index ${indexDesc.digest} (tag ${pkg.version}; linux/amd64, linux/arm64)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`image: ${err instanceof BuildError ? err.message : (err?.stack ?? err)}\n`);
  process.exitCode = 1;
}
