/**
 * The hook's lean read of a ContainerStatusResponse (src/cri/container-image.ts) against the
 * generated decoder (decodeMessage): the same image fields and info JSON for containerd-shaped
 * answers, for generated ones with repeated fields, merged messages, duplicate map keys and
 * unknown fields of every wire type, and for damaged ones wherever both decode; a malformed
 * level it walks or a read field of the wrong wire type is a ProtobufError.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/cri/codec.js';
import { type ContainerImageFacts, decodeContainerImage } from '../../src/cri/container-image.js';
import { ContainerStatusResponse } from '../../src/cri/gen/sigguard-cri.js';
import { ProtoWriter, ProtobufError } from '../../src/cri/protobuf.js';

/** What the generated decoder says of the same fields. */
function viaCodec(buf: Buffer): ContainerImageFacts {
  const r = decodeMessage(ContainerStatusResponse, buf);
  const s = r.status;
  return {
    status:
      s === undefined
        ? undefined
        : {
            imageId: s.imageId,
            imageRef: s.imageRef,
            image: s.image === undefined ? undefined : { image: s.image.image, userSpecifiedImage: s.image.userSpecifiedImage },
          },
    info: Object.hasOwn(r.info, 'info') ? r.info.info : undefined,
  };
}

const attempt = (f: () => ContainerImageFacts) => {
  try {
    return { ok: true as const, value: f() };
  } catch (err) {
    return { ok: false as const, err };
  }
};

/** A small deterministic generator (xorshift32), so a failure names its seed. */
function rng(seed: number) {
  let x = seed || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

const CONTAINERD_INFO = JSON.stringify({
  sandboxID: 'f'.repeat(64),
  pid: 4711,
  config: {
    metadata: { name: 'app' },
    image: { image: `sha256:${'c'.repeat(64)}`, user_specified_image: 'registry.example/app:v1' },
    labels: { 'io.kubernetes.pod.name': 'x' },
  },
  runtimeSpec: { ociVersion: '1.2.1', process: { args: ['/bin/true'] } },
});

/** A ContainerStatusResponse shaped as containerd 2.1 answers it (verbose). */
function containerdAnswer(): Buffer {
  return encodeMessage(ContainerStatusResponse, {
    status: {
      id: 'b781a15f',
      metadata: { name: 'app', attempt: 0 },
      state: 1,
      createdAt: 1796019075693602742n,
      startedAt: 1796019075745374482n,
      image: { image: `sha256:${'c'.repeat(64)}`, userSpecifiedImage: 'registry.example/app:v1' },
      imageRef: `registry.example/app@sha256:${'e'.repeat(64)}`,
      labels: { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.namespace': 'default' },
      annotations: { 'io.kubernetes.container.hash': '0' },
      logPath: '/var/log/pods/default_x/app/0.log',
      imageId: '',
    },
    info: { info: CONTAINERD_INFO },
  });
}

/** An unknown field of a random wire type (never one the reader takes). */
function unknownField(w: ProtoWriter, r: ReturnType<typeof rng>): void {
  const field = 1000 + r.int(500);
  const raw = (n: number) => {
    for (let i = 0; i < n; i++) w.varint(r.int(128)); // one byte each
  };
  switch (r.int(4)) {
    case 0:
      w.tag(field, 0).varint(BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)));
      break;
    case 1:
      w.tag(field, 1);
      raw(8);
      break;
    case 2:
      w.tag(field, 5);
      raw(4);
      break;
    default:
      w.bytes(field, Buffer.from(`u${r.int(1e6)}`));
  }
}

/** A random answer: fields in any order, some repeated, unknown fields everywhere. */
function randomAnswer(r: ReturnType<typeof rng>): Buffer {
  const s = (p: string) => `${p}${r.int(3) === 0 ? '' : r.int(1000)}`;
  const w = new ProtoWriter();
  const spec = (x: ProtoWriter) => {
    for (let i = r.int(4); i > 0; i--) {
      const k = r.int(3);
      if (k === 0) x.string(1, s('sha256:'));
      else if (k === 1) x.string(18, s('reg.example/app:'));
      else x.map(2, { a: s('v') });
    }
  };
  const status = (x: ProtoWriter) => {
    for (let i = r.int(8); i > 0; i--) {
      const k = r.int(8);
      if (k === 0) x.string(9, s('reg.example/app@sha256:'));
      else if (k === 1) x.string(17, s('sha256:'));
      else if (k === 2) x.message(8, spec);
      else if (k === 3) x.string(1, s('id'));
      else if (k === 4) x.int(3, r.int(4));
      else if (k === 5) x.map(12, { [s('l')]: s('v') });
      else if (k === 6) x.message(2, (m) => m.string(1, 'app'));
      else unknownField(x, r);
    }
  };
  for (let i = r.int(5); i > 0; i--) {
    const k = r.int(4);
    if (k === 0) w.message(1, status);
    else if (k === 1) w.map(2, { [r.pick(['info', 'other', ''])]: s('{"x":') });
    else if (k === 2) w.map(2, { info: s('{}') });
    else unknownField(w, r);
  }
  return w.finish();
}

describe('decodeContainerImage', () => {
  it("reads containerd's answer as the generated decoder does", () => {
    const buf = containerdAnswer();
    expect(decodeContainerImage(buf)).toEqual(viaCodec(buf));
    expect(decodeContainerImage(buf)).toEqual({
      status: {
        imageId: '',
        imageRef: `registry.example/app@sha256:${'e'.repeat(64)}`,
        image: { image: `sha256:${'c'.repeat(64)}`, userSpecifiedImage: 'registry.example/app:v1' },
      },
      info: CONTAINERD_INFO,
    });
    // an empty answer, a status without image: the proto3 defaults
    expect(decodeContainerImage(Buffer.alloc(0))).toEqual({ status: undefined, info: undefined });
    const bare = encodeMessage(ContainerStatusResponse, { status: { id: 'x' } });
    expect(decodeContainerImage(bare)).toEqual({ status: { imageId: '', imageRef: '', image: undefined }, info: undefined });
  });

  it('the same as the generated decoder on 3,000 random answers (repeated fields, merged messages, duplicate keys, unknown fields)', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const buf = randomAnswer(rng(seed));
      expect(decodeContainerImage(buf), `seed ${seed}`).toEqual(viaCodec(buf));
    }
  });

  it('damaged answers (cut, bytes changed): where both decode they agree, and a refusal is a ProtobufError', () => {
    const bases = [containerdAnswer(), ...Array.from({ length: 20 }, (_, i) => randomAnswer(rng(10_000 + i)))];
    let bothDecoded = 0;
    for (let seed = 1; seed <= 4000; seed++) {
      const r = rng(seed);
      const base = r.pick(bases);
      const buf = Buffer.from(base);
      const damaged = r.int(3) === 0 ? buf.subarray(0, r.int(buf.length + 1)) : buf;
      if (damaged === buf) for (let i = 1 + r.int(3); i > 0 && buf.length > 0; i--) buf[r.int(buf.length)] = r.int(256);
      const lean = attempt(() => decodeContainerImage(damaged));
      const full = attempt(() => viaCodec(damaged));
      if (!lean.ok) expect(lean.err, `seed ${seed}`).toBeInstanceOf(ProtobufError);
      if (lean.ok && full.ok) {
        bothDecoded++;
        expect(lean.value, `seed ${seed}`).toEqual(full.value);
      }
    }
    expect(bothDecoded).toBeGreaterThan(500);
  });

  it('refuses a malformed level it walks, or a field it reads with the wrong wire type', () => {
    const w = () => new ProtoWriter();
    const cases: Array<[string, Buffer, RegExp]> = [
      ['a truncated key', Buffer.from([0x8a]), /truncated varint/],
      ['a length beyond the end', Buffer.from([0x0a, 0x05, 0x00]), /length 5 beyond the end/],
      ['field number 0', Buffer.from([0x02, 0x00]), /field number 0/],
      ['a group (wire type 3)', Buffer.from([0x1b]), /unsupported wire type 3/],
      ['a varint of 11 bytes', Buffer.from([0x50, ...Array(10).fill(0xff), 0x01]), /longer than 10 bytes/],
      ['a skipped varint above 64 bits', Buffer.from([0x50, ...Array(9).fill(0xff), 0x02]), /longer than 64 bits/],
      ['a status that is a varint', w().tag(1, 0).varint(5).finish(), /field 1: expected a length-delimited/],
      [
        'an image_ref that is a varint',
        w()
          .message(1, (s) => s.tag(9, 0).varint(1))
          .finish(),
        /field 9: expected a length-delimited/,
      ],
      [
        'an image_id that is fixed32',
        w()
          .message(1, (s) => s.tag(17, 5))
          .finish(),
        /field 17: expected a length-delimited/,
      ],
      [
        'a user_specified_image that is fixed64',
        w()
          .message(1, (s) => s.message(8, (i) => i.tag(18, 1)))
          .finish(),
        /field 18: expected a length-delimited/,
      ],
      [
        'an info entry whose key is a varint',
        w()
          .message(2, (e) => e.tag(1, 0).varint(1))
          .finish(),
        /field 1: expected a length-delimited/,
      ],
      ['a cut status', Buffer.concat([w().tag(1, 2).varint(3).finish(), Buffer.from([0x4a, 0x05, 0x61])]), /length 5 beyond the end/],
    ];
    for (const [what, buf, why] of cases) {
      expect(() => decodeContainerImage(buf), what).toThrow(ProtobufError);
      expect(() => decodeContainerImage(buf), what).toThrow(why);
      // the generated decoder refuses them too
      expect(() => viaCodec(buf), what).toThrow(ProtobufError);
    }
  });
});
