/** What signature discovery finds: raw, not yet trusted material, with where it came from. */
export type FoundSignature =
  | {
      format: 'legacy';
      /** The image digest the signature is attached to. */
      subject: string;
      /** Human-readable origin: the tag and layer. */
      source: string;
      payload: Buffer;
      /** The `dev.cosignproject.cosign/signature` annotation (base64), if present. */
      signature: string | undefined;
      annotations: Record<string, string>;
    }
  | {
      format: 'bundle';
      subject: string;
      source: string;
      /** The bundle blob's bytes (Sigstore bundle JSON). */
      bundle: Buffer;
      mediaType: string;
    };

/** A signature artifact that was listed but could not be read; kept so the reason can say so. */
export interface UnreadableSignature {
  format: 'legacy' | 'bundle';
  subject: string;
  source: string;
  problem: string;
}

export interface Discovery {
  signatures: FoundSignature[];
  unreadable: UnreadableSignature[];
}
