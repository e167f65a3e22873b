/**
 * What a signing certificate says about its holder, read from the DER: every
 * subject alternative name, the OIDC issuer Fulcio records (the v1 extension
 * 1.3.6.1.4.1.57264.1.1 holds the raw string, v2 …1.8 a DER UTF8String; both
 * present must agree) and the other Fulcio extensions by OID. Only the facts:
 * which of them a policy accepts is src/policy/certificate-rules.ts.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import type { CertificateFacts, SubjectAltName } from '../policy/certificate-rules.js';
import { FULCIO_EXTENSIONS } from '../policy/schema.js';

const OID_SAN = '2.5.29.17';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_USERNAME = '1.3.6.1.4.1.57264.1.7';

export class CertificateProblem extends Error {}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return bytes.toString('hex');
}

/** An extension's string value: the raw bytes (v1 Fulcio extensions) or a DER string inside. */
function extensionString(value: Buffer, der: boolean): string {
  if (!der) return value.toString('utf8');
  try {
    const obj = ASN1Obj.parseBuffer(Buffer.from(value));
    return obj.value.toString('utf8');
  } catch {
    throw new CertificateProblem('certificate extension is not a DER string');
  }
}

function subjectAltNames(cert: X509Certificate): SubjectAltName[] {
  const ext = cert.extension(OID_SAN);
  if (ext === undefined) return [];
  const out: SubjectAltName[] = [];
  let names: ASN1Obj[];
  try {
    names = ASN1Obj.parseBuffer(Buffer.from(ext.value)).subs;
  } catch {
    throw new CertificateProblem('certificate subject alternative names are unreadable');
  }
  for (const gn of names) {
    if (gn.tag.isContextSpecific(0x01)) out.push({ type: 'email', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x02)) out.push({ type: 'dns', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x06)) out.push({ type: 'uri', value: gn.value.toString('utf8') });
    else if (gn.tag.isContextSpecific(0x07)) out.push({ type: 'ip', value: ipText(gn.value) });
    else if (gn.tag.isContextSpecific(0x00)) {
      // otherName: OID, [0] EXPLICIT value; Fulcio's username identity is a UTF8String
      try {
        if (gn.subs[0]?.toOID() === OID_USERNAME) out.push({ type: 'othername', value: gn.subs[1]!.subs[0]!.value.toString('utf8') });
      } catch {
        /* an otherName of another shape: not an identity sigguard matches */
      }
    }
  }
  return out;
}

/** The facts of a DER certificate; throws CertificateProblem when they cannot be read consistently. */
export function certificateFacts(der: Buffer): CertificateFacts {
  let cert: X509Certificate;
  let node: NodeX509;
  try {
    cert = X509Certificate.parse(Buffer.from(der));
    node = new NodeX509(der);
  } catch {
    throw new CertificateProblem('signing certificate is unreadable');
  }
  const v1 = cert.extension(OID_ISSUER_V1);
  const v2 = cert.extension(OID_ISSUER_V2);
  const issuerV1 = v1 ? extensionString(v1.value, false) : undefined;
  const issuerV2 = v2 ? extensionString(v2.value, true) : undefined;
  if (issuerV1 !== undefined && issuerV2 !== undefined && issuerV1 !== issuerV2) {
    throw new CertificateProblem(`certificate names two OIDC issuers (${issuerV1}, ${issuerV2})`);
  }
  const extensions: Record<string, string> = {};
  for (const [name, { oid, der: isDer }] of Object.entries(FULCIO_EXTENSIONS)) {
    const ext = cert.extension(oid);
    if (ext) extensions[name] = extensionString(ext.value, isDer);
  }
  return {
    sans: subjectAltNames(cert),
    issuer: issuerV2 ?? issuerV1,
    extensions,
    codeSigning: node.keyUsage === undefined || node.keyUsage.includes('1.3.6.1.5.5.7.3.3') || node.keyUsage.includes('2.5.29.37.0'),
  };
}
