/**
 * A refusal inside bundle verification: a one-line reason and the detail code
 * (detail.ts) of the check that refused; errors the library throws are given
 * theirs from @sigstore/verify's VerificationError codes.
 */
import type { CertificateFacts } from '../policy/certificate-rules.js';
import { VerifyDetail } from './detail.js';

export class Refusal extends Error {
  constructor(
    message: string,
    readonly detail: VerifyDetail,
    readonly holder?: CertificateFacts,
  ) {
    super(message);
  }
}

export function refuse(detail: VerifyDetail, reason: string, holder?: CertificateFacts): never {
  throw new Refusal(reason, detail, holder);
}

/** An error's message with its causes, on one line. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    e = e instanceof Error ? e.cause : undefined;
  }
  const text = parts.join(': ').replace(/\s+/g, ' ').trim() || 'verification failed';
  return err instanceof TypeError || err instanceof RangeError ? `malformed bundle (${text})` : text;
}

/** @sigstore/verify's VerificationError code and message, as a detail code. */
export function libraryDetail(code: string, message: string): VerifyDetail {
  switch (code) {
    case 'SIGNATURE_ERROR':
      return VerifyDetail.SIGNATURE;
    case 'PUBLIC_KEY_ERROR':
      return VerifyDetail.KEY;
    case 'CERTIFICATE_ERROR':
      if (/\bSCTs?\b/.test(message)) return VerifyDetail.SCT;
      return /not valid or expired/.test(message) ? VerifyDetail.CERT_EXPIRED : VerifyDetail.CERT_CHAIN;
    case 'TIMESTAMP_ERROR':
      return VerifyDetail.TIMESTAMP;
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return VerifyDetail.TLOG_INCLUSION;
    case 'TLOG_INCLUSION_PROMISE_ERROR':
      return VerifyDetail.TLOG_SET;
    case 'TLOG_BODY_ERROR':
      return VerifyDetail.TLOG_BODY;
    case 'TLOG_ERROR':
      return /^expected \d+ tlog entries/.test(message) ? VerifyDetail.TLOG_MISSING : VerifyDetail.TLOG_BODY;
    default:
      return VerifyDetail.SIGNATURE;
  }
}

/** The detail code of anything verification threw. */
export function detailOf(err: unknown): VerifyDetail {
  if (err instanceof Refusal) return err.detail;
  if (err instanceof TypeError || err instanceof RangeError) return VerifyDetail.BUNDLE;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return libraryDetail(code, err instanceof Error ? err.message : '');
  // anything else the library refuses: the signature does not verify
  return VerifyDetail.SIGNATURE;
}
