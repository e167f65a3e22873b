/**
 * A sigstore bundle v0.3 (JSON) of `message` signed by a test certificate's key: the certificate
 * as verification material, no log entries, no timestamps (a private-PKI signature).
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TestCert } from './x509-chains.js';

export function messageBundleJson(leaf: TestCert, message: Buffer) {
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: leaf.der.toString('base64') },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(message).digest('base64') },
      signature: sign('sha256', message, createPrivateKey(readFileSync(leaf.keyFile))).toString('base64'),
    },
  };
}
