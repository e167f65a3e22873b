/**
 * sigguard's own CRI .proto (src/cri/proto/) against CRI's: every message, field (name, number,
 * type, label, message type), enum value and method it declares must be in Kubernetes 1.36's
 * k8s.io/cri-api api.proto exactly so — the file Debian's golang-k8s-cri-api-dev ships, which
 * build/tools.sh fetches to .tools/cri-api/api.proto. Then: the generated code (src/cri/gen/) is
 * what build/gen-cri.mjs makes of the .proto now, and the executable carries none of the calls
 * only a kubelet makes.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { ROOT, TOOLS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const CRI_API_PROTO = join(TOOLS, 'cri-api/api.proto');
const PROTO_DIR = join(ROOT, 'src/cri/proto');
const KUBELET_ONLY = [
  'RunPodSandbox',
  'StopPodSandbox',
  'RemovePodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'PullImage',
  'ListImages',
  'RemoveImage',
];

interface Field {
  name: string;
  number: number;
  type: string;
  label: string;
  typeName?: string;
}
interface Descriptor {
  name: string;
  field?: Field[];
  value?: Array<{ name: string; number: number }>;
  nestedType?: Descriptor[];
}
interface Method {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestType: { type: Descriptor };
  responseType: { type: Descriptor };
}

function load(file: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(file, { keepCase: true });
}

const isService = (d: unknown): d is Record<string, Method> => !('format' in (d as object));

/** Every difference between what `ours` declares and `theirs`; [] when ours is a faithful subset. */
function compare(ours: protoLoader.PackageDefinition, theirs: protoLoader.PackageDefinition): { checked: number; problems: string[] } {
  const problems: string[] = [];
  let checked = 0;
  const fields = (path: string, o: Descriptor, t: Descriptor) => {
    for (const f of o.field ?? []) {
      checked++;
      const tf = (t.field ?? []).find((x) => x.name === f.name);
      if (!tf) {
        problems.push(`${path}.${f.name}: not in api.proto`);
        continue;
      }
      for (const k of ['number', 'type', 'label', 'typeName'] as const) {
        if ((f[k] ?? '') !== (tf[k] ?? '')) problems.push(`${path}.${f.name}: ${k} ${String(f[k])}, api.proto has ${String(tf[k])}`);
      }
    }
    for (const n of o.nestedType ?? []) {
      const tn = (t.nestedType ?? []).find((x) => x.name === n.name);
      if (!tn) problems.push(`${path}.${n.name}: not in api.proto`);
      else fields(`${path}.${n.name}`, n, tn);
    }
  };
  for (const [name, def] of Object.entries(ours)) {
    const other = theirs[name];
    if (other === undefined) {
      problems.push(`${name}: not in api.proto`);
      continue;
    }
    if (isService(def)) {
      for (const [method, m] of Object.entries(def)) {
        checked++;
        const tm = (other as Record<string, Method>)[method];
        if (!tm) problems.push(`${name}.${method}: not in api.proto`);
        else {
          if (m.path !== tm.path) problems.push(`${name}.${method}: path ${m.path}, api.proto has ${tm.path}`);
          if (m.requestType.type.name !== tm.requestType.type.name || m.responseType.type.name !== tm.responseType.type.name)
            problems.push(`${name}.${method}: types differ`);
          if (m.requestStream !== tm.requestStream || m.responseStream !== tm.responseStream)
            problems.push(`${name}.${method}: streaming differs`);
        }
      }
      continue;
    }
    const o = (def as { type: unknown }).type as Descriptor;
    const t = (other as { type: unknown }).type as Descriptor;
    if (def.format !== other.format) problems.push(`${name}: ${def.format}, api.proto has ${other.format}`);
    else if (o.value) {
      for (const v of o.value) {
        checked++;
        const tv = (t.value ?? []).find((x) => x.name === v.name);
        if (!tv || tv.number !== v.number) problems.push(`${name}.${v.name} = ${v.number}: api.proto has ${tv?.number ?? 'none'}`);
      }
    } else fields(name, o, t);
  }
  return { checked, problems };
}

const protoFiles = readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto'));

describe('src/cri/proto against CRI api.proto (Kubernetes 1.36, Debian golang-k8s-cri-api-dev)', () => {
  it('api.proto is there (build/tools.sh)', () => {
    expect(existsSync(CRI_API_PROTO), `${CRI_API_PROTO} missing: run \`make tools\` (build/tools.sh fetches golang-k8s-cri-api-dev)`).toBe(
      true,
    );
    expect(readFileSync(CRI_API_PROTO, 'utf8')).toMatch(/^package runtime\.v1;$/m);
  });

  it.each(protoFiles)('%s: every message, field, enum value and method as api.proto has it', (file) => {
    const { checked, problems } = compare(load(join(PROTO_DIR, file)), load(CRI_API_PROTO));
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(35);
    console.log(`cri-proto: ${file}: ${checked} fields, enum values and methods match api.proto`);
  });

  it.each([
    ['a field number', 'string image_id = 17;', 'string image_id = 16;', /ContainerStatus\.image_id: number 16, api\.proto has 17/],
    ['a type', 'uint64 size = 4;', 'int64 size = 4;', /Image\.size: type TYPE_INT64, api\.proto has TYPE_UINT64/],
    ['a name', 'string image_ref = 9;', 'string image_digest = 9;', /ContainerStatus\.image_digest: not in api\.proto/],
    ['an enum value', 'CONTAINER_EXITED = 2;', 'CONTAINER_EXITED = 4;', /CONTAINER_EXITED = 4: api\.proto has 2/],
    ['a repeated field made single', 'repeated string repo_digests = 3;', 'string repo_digests = 3;', /repo_digests: label LABEL_OPTIONAL/],
    ['a method', 'rpc ImageStatus(ImageStatusRequest)', 'rpc ImageStat(ImageStatusRequest)', /ImageService\.ImageStat: not in api\.proto/],
  ])('a .proto that differs in %s fails the comparison', (_what, from, to, why) => {
    const dir = tempDir('sigguard-proto-');
    const text = readFileSync(join(PROTO_DIR, 'sigguard-cri.proto'), 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(dir, 'x.proto'), text.replace(from, to));
    copyFileSync(CRI_API_PROTO, join(dir, 'api.proto'));
    const { problems } = compare(load(join(dir, 'x.proto')), load(join(dir, 'api.proto')));
    expect(problems.join('\n')).toMatch(why);
  });
});

describe('generated code', () => {
  it('src/cri/gen/ is current (`make proto`)', () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'build/gen-cri.mjs'), '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toContain(`${protoFiles.length} file(s) current`);
  });

  it('the executable carries the hook’s two calls and none that only a kubelet makes, and no protobuf or gRPC library', () => {
    // the main bundle and the later ones (build/split.mjs): the executable's code
    const bundles = ['sigguard.cjs', 'sigguard-fast.cjs', 'sigguard-docs.cjs', 'sigguard-cold.cjs'].map((b) => join(ROOT, 'build/out', b));
    for (const b of bundles) expect(existsSync(b), `${b} missing: run make build`).toBe(true);
    const text = bundles.map((b) => readFileSync(b, 'utf8')).join('\n');
    const paths = [...new Set(text.match(/\/runtime\.v1\.\w+\/\w+/g))].sort();
    expect(paths).toEqual(['/runtime.v1.ImageService/ImageStatus', '/runtime.v1.RuntimeService/ContainerStatus']);
    expect(KUBELET_ONLY.filter((m) => text.includes(m))).toEqual([]);
    // by the module paths esbuild writes above each bundled file (a library's mere mention of
    // protobufjs, as the CEL library's interop helpers make, is no protobuf library)
    expect(text).toMatch(/^\/\/ node_modules\/@sigstore\/verify\//m);
    expect(text.match(/^\/\/ node_modules\/(@bufbuild|@grpc|protobufjs)\/.*$/gm) ?? []).toEqual([]);
  });
});
