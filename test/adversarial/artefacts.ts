/**
 * Signatures made by hand in cosign's exact formats, with node:crypto keys,
 * so a case controls every byte: legacy `.sig` images (simple-signing payload,
 * base64 ECDSA-P256-SHA256 in `dev.cosignproject.cosign/signature`) and cosign 3
 * bundles (DSSE over an in-toto statement, attached as an OCI referrer).
 */
import { type KeyObject, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Descriptor, type LyingRegistry, MT, type Stored } from './lying-registry.js';

export const SIG_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const CERT_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const TIMESTAMP_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';
export const COSIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const IN_TOTO = 'application/vnd.in-toto+json';

export class Key {
  private constructor(
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {}

  static ec(): Key {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return new Key(privateKey, publicKey);
  }

  get pubPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  get privPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** Writes the public (and private) key PEM into `dir`; returns the public key's path. */
  write(dir: string, name: string): string {
    const pub = join(dir, `${name}.pub`);
    writeFileSync(pub, this.pubPem);
    writeFileSync(join(dir, `${name}.key`), this.privPem, { mode: 0o600 });
    return pub;
  }

  /** ECDSA P-256 with SHA-256, DER, as cosign signs. */
  sign(data: Buffer | string): Buffer {
    return cryptoSign('sha256', Buffer.isBuffer(data) ? data : Buffer.from(data), this.privateKey);
  }
}

/** cosign's simple-signing payload, in the key order cosign writes. */
export function simpleSigning(dockerReference: string, digest: string, opts: { type?: string; optional?: unknown } = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': digest },
        type: opts.type ?? 'cosign container image signature',
      },
      optional: opts.optional ?? null,
    }),
  );
}

export interface LegacyLayer {
  payload: Buffer;
  /** base64 signature text; undefined: no signature annotation. */
  signature?: string;
  annotations?: Record<string, string>;
  mediaType?: string;
  /** Declared size, when it must lie. */
  size?: number;
}

/** One signed legacy layer: `key` signs `payload`. */
export function legacyLayer(key: Key, payload: Buffer, annotations: Record<string, string> = {}): LegacyLayer {
  return { payload, signature: key.sign(payload).toString('base64'), annotations };
}

export function sigTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** Stores a cosign `.sig` image for `subject` (tag sha256-<hex>.sig; `tag`: another, as cosign 2's `.att`) in `repo`. */
export function putLegacy(reg: LyingRegistry, repo: string, subject: string, layers: LegacyLayer[], tag = sigTag(subject)): Stored {
  const config = reg.putBlob(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } }));
  const descs = layers.map((l) => {
    const b = reg.putBlob(l.payload);
    const annotations: Record<string, string> = {
      ...(l.signature !== undefined ? { [SIG_ANNOTATION]: l.signature } : {}),
      ...(l.annotations ?? {}),
    };
    return { mediaType: l.mediaType ?? MT.SIMPLE_SIGNING, digest: b.digest, size: l.size ?? b.size, annotations };
  });
  return reg.putManifest(
    repo,
    {
      schemaVersion: 2,
      mediaType: MT.OCI_MANIFEST,
      config: { mediaType: MT.OCI_CONFIG, digest: config.digest, size: config.size },
      layers: descs,
    },
    { tags: [tag] },
  );
}

/** The in-toto statement cosign 3 signs for an image. */
export function statement(
  digest: string,
  opts: { predicateType?: string; subjects?: Array<Record<string, string>>; type?: string; name?: string } = {},
): Buffer {
  const [algo, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: opts.type ?? 'https://in-toto.io/Statement/v1',
      subject: (opts.subjects ?? [{ [algo]: hex }]).map((d) => ({ name: opts.name ?? 'image', digest: d })),
      predicateType: opts.predicateType ?? COSIGN_PREDICATE,
      predicate: {},
    }),
  );
}

/** DSSE pre-authentication encoding. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const t = Buffer.from(payloadType);
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}

export interface BundleOptions {
  payloadType?: string;
  /** Sign these bytes instead of the PAE (a signature over something else). */
  signOver?: Buffer;
  verificationMaterial?: unknown;
  tlogEntries?: unknown[];
  mediaType?: string;
}

/** A Sigstore bundle v0.3 whose DSSE envelope carries `payload`, signed by `key`. */
export function dsseBundle(key: Key, payload: Buffer, opts: BundleOptions = {}): Buffer {
  const payloadType = opts.payloadType ?? IN_TOTO;
  const sig = key.sign(opts.signOver ?? pae(payloadType, payload));
  return Buffer.from(
    JSON.stringify({
      mediaType: opts.mediaType ?? MT.BUNDLE_V03,
      verificationMaterial: opts.verificationMaterial ?? {
        publicKey: { hint: '' },
        tlogEntries: opts.tlogEntries ?? [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      dsseEnvelope: { payload: payload.toString('base64'), payloadType, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
    }),
  );
}

/** Attaches a bundle to `subject` as a cosign 3 referrer (listed by the referrers API). */
export function putBundleReferrer(
  reg: LyingRegistry,
  repo: string,
  subject: Descriptor,
  bundle: Buffer,
  opts: {
    artifactType?: string;
    listAs?: string;
    manifestSubject?: Descriptor;
    layerSize?: number;
    unique?: string;
    /** The `dev.sigstore.bundle.predicateType` annotation (default cosign's signature predicate). */
    predicateType?: string;
  } = {},
): Stored {
  const empty = reg.putBlob('{}');
  const b = reg.putBlob(bundle);
  const artifactType = opts.artifactType ?? MT.BUNDLE_V03;
  const m = reg.putManifest(repo, {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    artifactType,
    config: { mediaType: MT.OCI_EMPTY, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: MT.BUNDLE_V03, digest: b.digest, size: opts.layerSize ?? b.size }],
    subject: {
      mediaType: (opts.manifestSubject ?? subject).mediaType,
      digest: (opts.manifestSubject ?? subject).digest,
      size: (opts.manifestSubject ?? subject).size,
    },
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': opts.predicateType ?? COSIGN_PREDICATE,
      ...(opts.unique ? { 'org.example.adversarial': opts.unique } : {}),
    },
  });
  reg.addReferrer(repo, opts.listAs ?? subject.digest, { ...m.desc, artifactType });
  return m;
}

let imageCounter = 0;

/** A single-platform image (config + one fake layer): check never reads layers. */
export function putImage(
  reg: LyingRegistry,
  repo: string,
  opts: { tags?: string[]; os?: string; architecture?: string; variant?: string; mediaType?: string } = {},
): Stored & { config: string } {
  const cfg = reg.putBlob(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      os: opts.os ?? 'linux',
      ...(opts.variant ? { variant: opts.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
      n: ++imageCounter,
    }),
  );
  const layer = reg.putBlob(`layer ${repo} ${imageCounter}`);
  const mediaType = opts.mediaType ?? MT.OCI_MANIFEST;
  const docker = mediaType === MT.DOCKER_MANIFEST;
  const s = reg.putManifest(
    repo,
    {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : MT.OCI_CONFIG, digest: cfg.digest, size: cfg.size },
      layers: [
        { mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : MT.OCI_LAYER, digest: layer.digest, size: layer.size },
      ],
    },
    { tags: opts.tags ?? [] },
  );
  return { ...s, config: cfg.digest };
}

/** An index over stored manifests, each with the given platform (undefined: no platform field). */
export function putIndex(
  reg: LyingRegistry,
  repo: string,
  entries: Array<{ m: Stored; platform?: Record<string, unknown> }>,
  opts: { tags?: string[]; mediaType?: string } = {},
): Stored {
  const mediaType = opts.mediaType ?? MT.OCI_INDEX;
  return reg.putManifest(
    repo,
    { schemaVersion: 2, mediaType, manifests: entries.map((e) => ({ ...e.m.desc, ...(e.platform ? { platform: e.platform } : {}) })) },
    { tags: opts.tags ?? [] },
  );
}

/** The layer descriptors of a stored .sig image. */
export function signatureLayersFor(sig: Stored): Descriptor[] {
  return (JSON.parse(sig.bytes.toString()) as { layers: Descriptor[] }).layers;
}

const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/** The same ECDSA P-256 signature in its high-S form (s' = n - s): Go (cosign) accepts both. */
export function highS(derSig: Buffer): Buffer {
  // DER: 30 len 02 lr r 02 ls s
  const rLen = derSig[3]!;
  const r = BigInt(`0x${derSig.subarray(4, 4 + rLen).toString('hex')}`);
  const sLen = derSig[5 + rLen]!;
  const s = BigInt(`0x${derSig.subarray(6 + rLen, 6 + rLen + sLen).toString('hex')}`);
  const s2 = s > P256_N / 2n ? s : P256_N - s;
  const body = Buffer.concat([derInt(r), derInt(s2)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
