/**
 * Documents checked before, kept by the hash of their text: a loader asks here before it
 * parses and validates, and puts what it validated (src/cache/doc-cache.ts keeps them on
 * disk for the hook).
 */
/**
 * `key`: a public key's fingerprint and type, by its bytes (policy/keys.ts, KeyFacts); `hosts`: a
 * containerd hosts.toml as registry/hosts.ts validated it (registry/hosts-config.ts).
 */
export type DocKind = 'policy' | 'config' | 'key' | 'hosts';

export interface ValidatedDocuments {
  /** The validated value of a document with exactly this text, or undefined. */
  get(kind: DocKind, text: string): unknown;
  put(kind: DocKind, text: string, value: unknown): void;
  /**
   * `validate`d and put, once for the processes that start at the same time with this text (the
   * others wait for what it put, src/cache/doc-cache.ts); without it, the loader validates and puts.
   */
  validateOnce?<T>(kind: DocKind, text: string, validate: () => Promise<T>): Promise<T>;
}
