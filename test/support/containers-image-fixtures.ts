/** Reads test/fixtures/containers-image (see its NOTICE.md): containers/image's signature files into FoundSignatures. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FoundSignature } from '../../src/discovery/types.js';

export const FIXTURES = resolve(__dirname, '../fixtures/containers-image');
const MAGIC = Buffer.from('\x00sigstore-json\n', 'latin1');

export interface FixtureSignature {
  mimeType: string;
  found: Extract<FoundSignature, { format: 'legacy' }>;
}

export function fixtureDigest(dir: string): string {
  return `sha256:${createHash('sha256')
    .update(readFileSync(join(FIXTURES, dir, 'manifest.json')))
    .digest('hex')}`;
}

export function readSignatureFile(file: string, subject: string): FixtureSignature {
  const raw = readFileSync(file);
  if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error(`${file}: not a containers/image sigstore signature file`);
  const json = JSON.parse(raw.subarray(MAGIC.length).toString('utf8')) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  return {
    mimeType: json.mimeType,
    found: {
      format: 'legacy',
      subject,
      source: file,
      payload: Buffer.from(json.payload, 'base64'),
      signature: json.annotations['dev.cosignproject.cosign/signature'],
      annotations: json.annotations,
    },
  };
}

export function fixtureSignatures(dir: string): FixtureSignature[] {
  const subject = fixtureDigest(dir);
  return readdirSync(join(FIXTURES, dir))
    .filter((f) => f.startsWith('signature-'))
    .sort()
    .map((f) => readSignatureFile(join(FIXTURES, dir, f), subject));
}

/** The fixture set must be there: a tier never passes by skipping. */
export function requireFixtures(): void {
  if (!existsSync(join(FIXTURES, 'NOTICE.md')))
    throw new Error(`containers/image fixtures missing at ${FIXTURES} (they are part of the repository)`);
}
