/** What a piece of work compiles from text: every source given to `Function` (zod's JIT would) while it runs. */
export function codeGeneratedBy<T>(work: () => T): { result: T; generated: string[] } {
  const generated: string[] = [];
  const real = globalThis.Function;
  globalThis.Function = new Proxy(real, {
    construct: (target, args) => {
      generated.push(String(args.at(-1)));
      return Reflect.construct(target, args);
    },
    apply: (target, self, args) => {
      generated.push(String(args.at(-1)));
      return Reflect.apply(target, self, args);
    },
  });
  try {
    return { result: work(), generated };
  } finally {
    globalThis.Function = real;
  }
}
