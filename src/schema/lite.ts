/**
 * A small declarative schema for the two inputs on the hook's hot path (the OCI state and
 * a cached verdict): zod costs ~20 ms just to load, paid on every container start, while
 * these shapes are flat. Everything else is parsed with zod.
 *
 *   const s = object({ id: string({ min: 1 }), pid: optional(integer({ min: 0 })) });
 *   const r = s.parse(value); // { ok: true, value } | { ok: false, path, message }
 */
export type Result<T> = { ok: true; value: T } | { ok: false; path: string; message: string };

export interface Schema<T> {
  parse(value: unknown): Result<T>;
  /** @internal */ check(value: unknown, path: string): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

class Failure extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function schema<T>(check: (value: unknown, path: string) => T): Schema<T> {
  return {
    check,
    parse(value) {
      try {
        return { ok: true, value: check(value, '') };
      } catch (err) {
        if (err instanceof Failure) return { ok: false, path: err.path || '(root)', message: err.message };
        throw err;
      }
    },
  };
}

const at = (path: string, key: string) => (path ? `${path}.${key}` : key);

export function string(opts: { min?: number; max?: number; pattern?: RegExp } = {}): Schema<string> {
  return schema((v, path) => {
    if (typeof v !== 'string') throw new Failure(path, 'expected a string');
    if (opts.min !== undefined && v.length < opts.min) throw new Failure(path, `shorter than ${opts.min}`);
    if (opts.max !== undefined && v.length > opts.max) throw new Failure(path, `longer than ${opts.max}`);
    if (opts.pattern && !opts.pattern.test(v)) throw new Failure(path, 'malformed');
    return v;
  });
}

export function integer(opts: { min?: number } = {}): Schema<number> {
  return schema((v, path) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Failure(path, 'expected an integer');
    if (opts.min !== undefined && v < opts.min) throw new Failure(path, `less than ${opts.min}`);
    return v;
  });
}

export function literal<const T extends string>(...values: T[]): Schema<T> {
  return schema((v, path) => {
    if (!values.includes(v as T)) throw new Failure(path, `expected ${values.map((x) => JSON.stringify(x)).join(' or ')}`);
    return v as T;
  });
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> & { optional: true } {
  return { ...schema((v, path) => (v === undefined ? undefined : inner.check(v, path))), optional: true };
}

export function record<T>(values: Schema<T>): Schema<Record<string, T>> {
  return schema((v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Failure(path, 'expected an object');
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) out[k] = values.check(x, at(path, k));
    return out;
  });
}

type Shape = Record<string, Schema<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S as S[K] extends { optional: true } ? never : K]: Infer<S[K]> } & {
  [K in keyof S as S[K] extends { optional: true } ? K : never]?: Infer<S[K]>;
};

/** An object with these fields; `strict` refuses others (the default keeps only the known ones). */
export function object<S extends Shape>(shape: S, opts: { strict?: boolean } = {}): Schema<ObjectOf<S>> {
  return schema((v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Failure(path, 'expected an object');
    const input = v as Record<string, unknown>;
    if (opts.strict) {
      const extra = Object.keys(input).find((k) => !Object.hasOwn(shape, k));
      if (extra !== undefined) throw new Failure(path, `unknown field "${extra}"`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(shape)) {
      const x = s.check(input[k], at(path, k));
      if (x !== undefined) out[k] = x;
    }
    return out as ObjectOf<S>;
  });
}
