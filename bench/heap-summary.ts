// Summarises a V8 .heapsnapshot (e.g. from `npm run bench:fleet -- --heap-snapshots DIR`): self size by
// constructor, the objects that retain the most (dominator tree) with their chain of dominators, and the
// strings held in more than one copy (what interning could still save), so "where does the memory go" is
// answered from the snapshot rather than guessed.
//
//   node --max-old-space-size=8192 --import tsx bench/heap-summary.ts FILE.heapsnapshot [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const flags = z
  .object({ file: z.string().endsWith('.heapsnapshot', 'the file must be a .heapsnapshot'), top: z.coerce.number().int().min(1).max(500) })
  .strict();

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
  const parsed = flags.safeParse({ file: positionals[0] ?? '', top: values.top });
  if (!parsed.success) {
    console.error(`usage: bench/heap-summary.ts FILE.heapsnapshot [--top N]\n${parsed.error.issues.map((i) => i.message).join('\n')}`);
    process.exit(2);
  }
  const heap = JSON.parse(readFileSync(parsed.data.file, 'utf8')) as Snapshot;
  summarise(heap, parsed.data.top);
}

function summarise(heap: Snapshot, top: number): void {
  const { meta } = heap.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [nType, nName, nSelf, nEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [
    number,
    number,
    number,
    number,
  ];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const elementLike = new Set([edgeTypes.indexOf('element'), edgeTypes.indexOf('hidden')]);
  const { nodes, edges, strings } = heap;
  const count = nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += (nodes[i * nf + nEdges] as number) * ef;
  }
  firstEdge[count] = edges.length;
  const selfSize = (i: number) => nodes[i * nf + nSelf] as number;
  const label = (i: number) => {
    const type = nodeTypes[nodes[i * nf + nType] as number];
    const name = strings[nodes[i * nf + nName] as number] ?? '';
    return type === 'object' || type === 'closure' || type === 'native' ? name.slice(0, 60) : `(${type})`;
  };

  // Depth-first order from the root (node 0), ignoring weak edges as DevTools does.
  const order = new Int32Array(count).fill(-1);
  const byOrder = new Int32Array(count);
  const parentOf = new Int32Array(count).fill(-1);
  const edgeNameTo = new Int32Array(count).fill(-1); // the edge a node was first reached by (for labels)
  let visited = 0;
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  order[0] = visited;
  byOrder[visited++] = 0;
  for (let i = 0; i < count; i++) cursor[i] = firstEdge[i] as number;
  while (stack.length) {
    const node = stack[stack.length - 1] as number;
    const end = firstEdge[node + 1] as number;
    let pushed = false;
    while ((cursor[node] as number) < end) {
      const e = cursor[node] as number;
      cursor[node] = e + ef;
      const type = edges[e + eType] as number;
      if (type === weak || type === shortcut) continue;
      const to = (edges[e + eTo] as number) / nf;
      if (order[to] !== -1) continue;
      order[to] = visited;
      byOrder[visited++] = to;
      parentOf[to] = node;
      edgeNameTo[to] = e;
      stack.push(to);
      pushed = true;
      break;
    }
    if (!pushed) stack.pop();
  }

  // Predecessors (reachable only), for the iterative dominator algorithm of Cooper, Harvey and Kennedy.
  const predCount = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) {
    if (order[i] === -1) continue;
    for (let e = firstEdge[i] as number; e < (firstEdge[i + 1] as number); e += ef) {
      const type = edges[e + eType] as number;
      if (type === weak || type === shortcut) continue;
      const to = (edges[e + eTo] as number) / nf;
      predCount[to] = (predCount[to] as number) + 1;
    }
  }
  const predStart = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) predStart[i + 1] = (predStart[i] as number) + (predCount[i] as number);
  const preds = new Int32Array(predStart[count] as number);
  const fill = predStart.slice();
  for (let i = 0; i < count; i++) {
    if (order[i] === -1) continue;
    for (let e = firstEdge[i] as number; e < (firstEdge[i + 1] as number); e += ef) {
      const type = edges[e + eType] as number;
      if (type === weak || type === shortcut) continue;
      const to = (edges[e + eTo] as number) / nf;
      const at = fill[to] as number;
      preds[at] = i;
      fill[to] = at + 1;
    }
  }
  // Reverse postorder is approximated by DFS preorder numbers; the algorithm converges either way.
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while ((order[a] as number) > (order[b] as number)) a = idom[a] as number;
      while ((order[b] as number) > (order[a] as number)) b = idom[b] as number;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = 1; k < visited; k++) {
      const node = byOrder[k] as number;
      let dom = -1;
      for (let p = predStart[node] as number; p < (predStart[node + 1] as number); p++) {
        const pred = preds[p] as number;
        if (idom[pred] === -1) continue;
        dom = dom === -1 ? pred : intersect(pred, dom);
      }
      if (dom !== -1 && idom[node] !== dom) {
        idom[node] = dom;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let k = visited - 1; k >= 0; k--) {
    const node = byOrder[k] as number;
    retained[node] = (retained[node] as number) + selfSize(node);
    if (node !== 0) retained[idom[node] as number] = (retained[idom[node] as number] as number) + (retained[node] as number);
  }

  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
  let total = 0;
  const byClass = new Map<string, { count: number; self: number }>();
  for (let i = 0; i < count; i++) {
    if (order[i] === -1) continue;
    total += selfSize(i);
    const key = label(i);
    const entry = byClass.get(key) ?? { count: 0, self: 0 };
    entry.count++;
    entry.self += selfSize(i);
    byClass.set(key, entry);
  }
  console.log(`reachable: ${visited} objects, ${mb(total)}`);
  console.log(`\nself size by constructor (top ${top}):`);
  for (const [key, v] of [...byClass].sort((a, b) => b[1].self - a[1].self).slice(0, top))
    console.log(`  ${mb(v.self).padStart(10)}  ${String(v.count).padStart(9)}  ${key}`);

  const edgeLabel = (node: number) => {
    const e = edgeNameTo[node] as number;
    if (e < 0) return '';
    const type = edges[e + eType] as number;
    const name = edges[e + eName] as number;
    return elementLike.has(type) ? `[${name}]` : `.${strings[name] ?? name}`;
  };
  console.log(`\nlargest retainers (retained size, then the chain of dominators from the root):`);
  const candidates = Array.from({ length: count }, (_, i) => i)
    .filter((i) => order[i] !== -1 && i !== 0 && (retained[i] as number) >= total / 200)
    .sort((a, b) => (retained[b] as number) - (retained[a] as number))
    .slice(0, top);
  for (const node of candidates) {
    const chain: string[] = [];
    for (let n = node; n !== 0 && chain.length < 8; n = idom[n] as number) chain.unshift(`${label(n)}${edgeLabel(n)}`);
    console.log(`  ${mb(retained[node] as number).padStart(10)}  ${chain.join(' > ')}`);
  }

  // Strings held more than once: what interning could still save (the bytes beyond the first copy).
  const stringTypes = new Set(['string', 'concatenated string', 'sliced string'].map((t) => nodeTypes.indexOf(t)));
  const copies = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < count; i++) {
    if (order[i] === -1 || !stringTypes.has(nodes[i * nf + nType] as number)) continue;
    const value = strings[nodes[i * nf + nName] as number] ?? '';
    const entry = copies.get(value) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += selfSize(i);
    copies.set(value, entry);
  }
  const repeated = [...copies].filter(([, v]) => v.count > 1);
  const extra = repeated.reduce((sum, [, v]) => sum + v.bytes - v.bytes / v.count, 0);
  console.log(`\nstrings held more than once: ${repeated.length} values, ${mb(extra)} beyond one copy each (top ${top}):`);
  for (const [value, v] of repeated
    .sort((a, b) => b[1].bytes - b[1].bytes / b[1].count - (a[1].bytes - a[1].bytes / a[1].count))
    .slice(0, top))
    console.log(`  ${kb(v.bytes - v.bytes / v.count).padStart(10)}  ${String(v.count).padStart(9)}  ${JSON.stringify(value.slice(0, 70))}`);
}

main();
