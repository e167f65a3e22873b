/**
 * The times a certificate is checked at: each verified timestamp's (an RFC 3161
 * signing time, a Rekor entry's integrated time) or, where a policy lets a
 * signature go without one, the current time.
 */
import type { TransparencyLogEntry } from '@sigstore/bundle';
import type { SignedEntity } from '@sigstore/verify';

export type EntityTimestamp = SignedEntity['timestamps'][number];

/** The current time, as a timestamp the verifier checks the certificate chain at (it checks at timestamps only). */
export function currentTime(now: Date): EntityTimestamp {
  const tlogEntry = {
    logIndex: '0',
    logId: { keyId: Buffer.from('sigguard: the current time') },
    integratedTime: String(Math.floor(now.getTime() / 1000)),
    inclusionPromise: { signedEntryTimestamp: Buffer.alloc(0) },
    canonicalizedBody: Buffer.alloc(0),
  } as unknown as TransparencyLogEntry;
  return { $case: 'transparency-log', tlogEntry };
}

/** Timestamps the verifier can use: RFC 3161 ones, and Rekor entries with an inclusion promise (integrated time). */
export const usable = (t: EntityTimestamp): boolean => t.$case === 'timestamp-authority' || t.tlogEntry.inclusionPromise !== undefined;

/** When a timestamp says the signature was made: the time the library checks the chain at. */
export function timestampDate(t: EntityTimestamp): Date {
  return t.$case === 'timestamp-authority' ? t.timestamp.signingTime : new Date(Number(t.tlogEntry.integratedTime) * 1000);
}
