/**
 * Transparency-log entries beyond what @sigstore/verify checks (inclusion
 * proofs and promises, signature and digest in the body): each entry's body
 * names the same key or certificate as the bundle, is of a kind that fits the
 * content, and never the old `rekord` kind.
 */
import { X509Certificate as NodeX509, type KeyObject, createPublicKey } from 'node:crypto';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { z } from '../zod.js';
import { rawBytes } from './bundle-json.js';
import { VerifyDetail } from './detail.js';
import { spki } from './spki.js';
import { SIGNATURE_LIMITS } from './limits.js';
import { refuse } from './refusal.js';

/** A tlog body's verifier: base64 of a PEM (Rekor v1 kinds) or a typed DER (Rekor v2). */
type BodyVerifier = { cert: Buffer } | { key: Buffer };

function fromPem(b64text: unknown): BodyVerifier {
  if (typeof b64text !== 'string') return refuse(VerifyDetail.TLOG_BODY, 'tlog entry names no key or certificate');
  const pem = Buffer.from(b64text, 'base64').toString('utf8');
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return { cert: new NodeX509(pem).raw };
    return { key: spki(createPublicKey({ key: pem, format: 'pem' })) };
  } catch {
    return refuse(VerifyDetail.TLOG_BODY, 'tlog entry key or certificate is unreadable');
  }
}

function fromV2Verifier(v: unknown): BodyVerifier {
  const parsed = z.looseObject({ publicKey: rawBytes.optional(), x509Certificate: rawBytes.optional() }).safeParse(v);
  if (parsed.success && parsed.data.x509Certificate) return { cert: Buffer.from(parsed.data.x509Certificate.rawBytes, 'base64') };
  if (parsed.success && parsed.data.publicKey) {
    try {
      return { key: spki(createPublicKey({ key: Buffer.from(parsed.data.publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' })) };
    } catch {
      return refuse(VerifyDetail.TLOG_BODY, 'tlog entry key is unreadable');
    }
  }
  return refuse(VerifyDetail.TLOG_BODY, 'tlog entry names no key or certificate');
}

/** The value at `keys` in a parsed JSON body, undefined where a step is not an object (as `?.` reads it). */
function field(v: unknown, ...keys: string[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * Checks kind against content and pulls the verifiers out of a tlog body;
 * signature and digest are compared by @sigstore/verify's verifyTLogBody.
 */
function bodyVerifiers(entry: TransparencyLogEntry, content: Bundle['content']['$case']): BodyVerifier[] {
  const { kind, version } = entry.kindVersion!;
  const kv = `${kind}/${version}`;
  if (kind === 'rekord')
    refuse(
      VerifyDetail.TLOG_BODY,
      `tlog entry is of the old "rekord" kind (${kv}), which is not supported: re-sign to get a hashedrekord or dsse entry`,
    );
  const fits =
    content === 'messageSignature'
      ? ['hashedrekord/0.0.1', 'hashedrekord/0.0.2']
      : ['dsse/0.0.1', 'dsse/0.0.2', 'intoto/0.0.2', 'hashedrekord/0.0.2'];
  if (!fits.includes(kv)) refuse(VerifyDetail.TLOG_BODY, `tlog entry kind ${kv} does not fit a ${content} bundle`);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8'));
  } catch {
    return refuse(VerifyDetail.TLOG_BODY, 'tlog entry body is not JSON');
  }
  const bodyKind = field(body, 'kind');
  const bodyVersion = field(body, 'apiVersion');
  if (bodyKind !== kind || bodyVersion !== version)
    refuse(VerifyDetail.TLOG_BODY, `tlog entry body is ${bodyKind}/${bodyVersion}, not ${kv}`);
  const sigs = (list: unknown): unknown[] => {
    if (!Array.isArray(list) || list.length === 0) return refuse(VerifyDetail.TLOG_BODY, 'tlog entry has no signatures');
    if (list.length > SIGNATURE_LIMITS.tlogBodySignatures)
      refuse(VerifyDetail.LIMITS, `tlog entry has ${list.length} signatures, more than ${SIGNATURE_LIMITS.tlogBodySignatures}`);
    return list;
  };
  switch (kv) {
    case 'hashedrekord/0.0.1':
      return [fromPem(field(body, 'spec', 'signature', 'publicKey', 'content'))];
    case 'hashedrekord/0.0.2':
      return [fromV2Verifier(field(body, 'spec', 'hashedRekordV002', 'signature', 'verifier'))];
    case 'dsse/0.0.1':
      return sigs(field(body, 'spec', 'signatures')).map((s) => fromPem(field(s, 'verifier')));
    case 'dsse/0.0.2':
      return sigs(field(body, 'spec', 'dsseV002', 'signatures')).map((s) => fromV2Verifier(field(s, 'verifier')));
    case 'intoto/0.0.2':
      return sigs(field(body, 'spec', 'content', 'envelope', 'signatures')).map((s) => fromPem(field(s, 'publicKey')));
    default:
      return refuse(VerifyDetail.TLOG_BODY, `unsupported tlog entry kind ${kv}`);
  }
}

/** Every tlog entry of the bundle names the signer: its certificate (DER) or key. */
export function checkTlogBodies(bundle: Bundle, signer: { cert: Buffer } | { key: KeyObject }): void {
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    for (const v of bodyVerifiers(entry, bundle.content.$case)) {
      const same = 'cert' in signer ? 'cert' in v && v.cert.equals(signer.cert) : 'key' in v && v.key.equals(spki(signer.key));
      if (!same) refuse(VerifyDetail.TLOG_BODY, `tlog entry is for another ${'cert' in signer ? 'certificate' : 'key'} than the bundle's`);
    }
  }
}
