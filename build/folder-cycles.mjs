// Folder cycles across depths, which dependency-cruiser's folder rule does not see (it compares
// folders at the depth where an import lands: src/engine -> src/policy -> src/engine/requirements
// is no circle to it). Reads `depcruise -T json` on stdin, folds every module into its folder
// (src/<folder>, src/ for the modules at its root; test, e2e, bench whole) and fails on any
// circle between folders, naming one import of each step. Used by `make lint-deps`.
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { modules } = JSON.parse(input);

const folderOf = (path) => {
  const parts = path.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? `src/${parts[1]}` : 'src/';
  return ['test', 'e2e', 'bench'].includes(parts[0]) ? parts[0] : undefined;
};

/** folder -> folder -> one import that makes the edge */
const edges = new Map();
for (const m of modules) {
  const from = folderOf(m.source);
  if (from === undefined) continue;
  for (const d of m.dependencies) {
    const to = folderOf(d.resolved);
    if (to === undefined || to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${m.source} -> ${d.resolved}`);
  }
}

// Tarjan's strongly connected components
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
let next = 0;
const visit = (v) => {
  index.set(v, next);
  low.set(v, next++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) components.push(c.sort());
  }
};
for (const v of edges.keys()) if (!index.has(v)) visit(v);

if (components.length === 0) {
  console.log(`folder cycles: none (${edges.size} folders)`);
} else {
  for (const c of components) {
    console.log(`folder cycle: ${c.join(', ')}`);
    for (const a of c) for (const [b, via] of edges.get(a) ?? []) if (c.includes(b)) console.log(`  ${a} -> ${b}: ${via}`);
  }
  process.exit(1);
}
