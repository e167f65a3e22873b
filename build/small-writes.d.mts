/** Rewrites `file` (mode 0755) in 64 KiB writes (build/small-writes.mjs). */
export function rewriteInSmallWrites(file: string): void;
