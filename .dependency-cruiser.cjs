/**
 * dependency-cruiser (`make lint-deps`): folders do not import each other in a circle, and
 * neither do modules. A folder here is every folder under src/, test/, e2e/ and bench/
 * (with what its sub-folders hold): `src/policy` -> `src/verify` -> `src/policy` is a
 * cycle, and so is `test/integration` -> `e2e` -> `test/support` -> `test/integration`.
 * `make lint-deps` also folds the graph to src/<folder>, test, e2e and bench
 * (build/folder-cycles.mjs): circles that cross depths, which the folder rule cannot see.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment: 'Folders import each other in a circle: move what both need to one side, or into a folder of its own.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      // The folder rule compares folders at the depth where an import lands, so a circle that
      // crosses depths (test/integration -> e2e/node -> test/support) needs the top-level order:
      // bench -> e2e -> test -> src, never back.
      name: 'src-not-to-tests',
      comment: 'The product does not import its tests, e2e runners or bench.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|e2e|bench)/' },
    },
    {
      name: 'test-not-to-e2e-or-bench',
      comment: 'Tests do not import the e2e runners or the bench: what both need lives in test/support/.',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^(e2e|bench)/' },
    },
    {
      name: 'e2e-not-to-bench',
      severity: 'error',
      from: { path: '^e2e/' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-circular',
      comment: 'Modules import each other in a circle.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^build/out/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
  },
};
