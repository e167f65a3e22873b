/**
 * Verifying a signature over a digest alone (the artifact itself is not at
 * hand): node:crypto always hashes the message itself, so ECDSA is checked
 * here with BigInt arithmetic (public values only: no secret, no timing
 * concern) and RSA PKCS#1 v1.5 through publicDecrypt. Ed25519 (and RSA-PSS)
 * signatures cannot be checked against a digest: false.
 */
import { type KeyObject, constants, publicDecrypt } from 'node:crypto';

interface Curve {
  p: bigint;
  a: bigint;
  b: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
  bits: number;
}

const CURVES: Record<string, Curve> = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    bits: 256,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    a: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffcn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    bits: 384,
  },
  'P-521': {
    p: (1n << 521n) - 1n,
    a: (1n << 521n) - 4n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
    bits: 521,
  },
};

const mod = (x: bigint, m: bigint): bigint => {
  const r = x % m;
  return r < 0n ? r + m : r;
};

function inverse(x: bigint, m: bigint): bigint {
  let [a, b, u, v] = [mod(x, m), m, 1n, 0n];
  while (a !== 0n) {
    const q = b / a;
    [a, b] = [b - q * a, a];
    [u, v] = [v - q * u, u];
  }
  if (b !== 1n) throw new Error('not invertible');
  return mod(v, m);
}

/** Jacobian coordinates; z = 0 is the point at infinity. */
type Point = [bigint, bigint, bigint];
const INFINITY: Point = [0n, 1n, 0n];

function double(c: Curve, [x, y, z]: Point): Point {
  if (z === 0n || y === 0n) return INFINITY;
  const { p } = c;
  const yy = mod(y * y, p);
  const s = mod(4n * x * yy, p);
  const zz = mod(z * z, p);
  const m = mod(3n * x * x + c.a * zz * zz, p);
  const x3 = mod(m * m - 2n * s, p);
  const y3 = mod(m * (s - x3) - 8n * yy * yy, p);
  const z3 = mod(2n * y * z, p);
  return [x3, y3, z3];
}

function add(c: Curve, P: Point, Q: Point): Point {
  if (P[2] === 0n) return Q;
  if (Q[2] === 0n) return P;
  const { p } = c;
  const [x1, y1, z1] = P;
  const [x2, y2, z2] = Q;
  const z1z1 = mod(z1 * z1, p);
  const z2z2 = mod(z2 * z2, p);
  const u1 = mod(x1 * z2z2, p);
  const u2 = mod(x2 * z1z1, p);
  const s1 = mod(y1 * z2 * z2z2, p);
  const s2 = mod(y2 * z1 * z1z1, p);
  if (u1 === u2) return s1 === s2 ? double(c, P) : INFINITY;
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const hh = mod(h * h, p);
  const hhh = mod(h * hh, p);
  const v = mod(u1 * hh, p);
  const x3 = mod(r * r - hhh - 2n * v, p);
  const y3 = mod(r * (v - x3) - s1 * hhh, p);
  const z3 = mod(h * z1 * z2, p);
  return [x3, y3, z3];
}

/** u1·G + u2·Q (Shamir's trick), in affine x, or undefined at infinity. */
function combinedX(c: Curve, u1: bigint, G: Point, u2: bigint, Q: Point): bigint | undefined {
  const GQ = add(c, G, Q);
  let R = INFINITY;
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    R = double(c, R);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) R = add(c, R, GQ);
    else if (b1) R = add(c, R, G);
    else if (b2) R = add(c, R, Q);
  }
  if (R[2] === 0n) return undefined;
  const zi = inverse(R[2], c.p);
  return mod(R[0] * zi * zi, c.p);
}

const toBig = (buf: Buffer): bigint => (buf.length === 0 ? 0n : BigInt(`0x${buf.toString('hex')}`));

/** The two INTEGERs of a DER ECDSA-Sig-Value, strictly; undefined when malformed. */
function parseDerSignature(sig: Buffer): [bigint, bigint] | undefined {
  let pos = 0;
  const readLen = (): number | undefined => {
    const first = sig[pos++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const count = first & 0x7f;
    if (count === 0 || count > 2) return undefined;
    let len = 0;
    for (let i = 0; i < count; i++) {
      const b = sig[pos++];
      if (b === undefined) return undefined;
      len = (len << 8) | b;
    }
    return len < 0x80 ? undefined : len;
  };
  if (sig[pos++] !== 0x30) return undefined;
  const seqLen = readLen();
  if (seqLen === undefined || pos + seqLen !== sig.length) return undefined;
  const ints: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    if (sig[pos++] !== 0x02) return undefined;
    const len = readLen();
    if (len === undefined || len === 0 || pos + len > sig.length) return undefined;
    const bytes = sig.subarray(pos, pos + len);
    if (bytes[0]! & 0x80) return undefined; // negative
    if (len > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return undefined; // not minimal
    ints.push(toBig(bytes));
    pos += len;
  }
  if (pos !== sig.length) return undefined;
  return [ints[0]!, ints[1]!];
}

function verifyEcdsaPrehashed(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const jwk = key.export({ format: 'jwk' });
  const c = jwk.crv === undefined ? undefined : CURVES[jwk.crv];
  if (c === undefined || jwk.x === undefined || jwk.y === undefined) return false;
  const qx = toBig(Buffer.from(jwk.x, 'base64url'));
  const qy = toBig(Buffer.from(jwk.y, 'base64url'));
  if (qx >= c.p || qy >= c.p || mod(qy * qy - (qx * qx * qx + c.a * qx + c.b), c.p) !== 0n) return false;
  const rs = parseDerSignature(signature);
  if (rs === undefined) return false;
  const [r, s] = rs;
  if (r < 1n || r >= c.n || s < 1n || s >= c.n) return false;
  let e = toBig(digest);
  const digestBits = digest.length * 8;
  if (digestBits > c.bits) e >>= BigInt(digestBits - c.bits);
  const w = inverse(s, c.n);
  const x = combinedX(c, mod(e * w, c.n), [c.gx, c.gy, 1n], mod(r * w, c.n), [qx, qy, 1n]);
  return x !== undefined && mod(x, c.n) === r;
}

/** DER DigestInfo prefixes (RFC 8017 §9.2). */
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function verifyRsaPkcs1Prehashed(key: KeyObject, digest: Buffer, signature: Buffer, hash: string): boolean {
  const prefix = DIGEST_INFO[hash];
  if (prefix === undefined) return false;
  try {
    const decoded = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return decoded.equals(Buffer.concat([Buffer.from(prefix, 'hex'), digest]));
  } catch {
    return false;
  }
}

/** Does `signature` by `key` sign the message whose `hash` digest is `digest`? */
export function verifyPrehashed(key: KeyObject, digest: Buffer, signature: Buffer, hash: 'sha256' | 'sha384' | 'sha512'): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return verifyEcdsaPrehashed(key, digest, signature);
      case 'rsa':
        return verifyRsaPkcs1Prehashed(key, digest, signature, hash);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Why verifyPrehashed cannot work for this key, if it cannot. */
export function prehashUnsupported(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') {
    const crv = key.export({ format: 'jwk' }).crv;
    return crv !== undefined && CURVES[crv] !== undefined ? undefined : `curve ${crv ?? 'unknown'} is not supported over a digest`;
  }
  if (type === 'rsa') return undefined;
  return `a ${type} signature cannot be verified over a digest alone (give the artifact file)`;
}
