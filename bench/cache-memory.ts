// What the operator's caches hold per object, in-process and independent of the machine's load: N Stores and N
// StoreDatabases as the memory curve of `npm run bench:fleet` makes them (Pending on a missing reference, with
// the finalizer and the status storeop writes), each version parsed from JSON as a watch delivers it, go
// through the informer's preparation, a ListWatch-shaped map, the indexes, the change filters and one delayed
// queue key each (their safety requeue). The JS heap they retain is measured after a full GC, for this tree's
// src/controller and, in the same run, for a baseline commit's (extracted with `git archive`).
//
//   npm run bench:cache-memory -- [--objects 10000] [--baseline main] [--rounds 2]
//   node --expose-gc --import tsx bench/cache-memory.ts --side src --objects 2000 --snapshot FILE.heapsnapshot   (one side, with a heap snapshot)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { z } from 'zod';

const repoRoot = join(import.meta.dirname, '..');

const flags = z
  .object({
    objects: z.coerce.number().int().min(100).max(100_000),
    baseline: z.string().regex(/^[\w./-]+$/, 'a git revision'),
    rounds: z.coerce.number().int().min(1).max(10),
    side: z.string().optional(),
    snapshot: z.string().endsWith('.heapsnapshot', 'a .heapsnapshot file').optional(),
  })
  .strict();

interface Side {
  prepare: (object: Record<string, unknown>, previous?: object) => object;
  queueKey: (namespace: string, name: string) => string;
  CacheIndex: new (fn: (o: never) => readonly string[]) => { observe(o: object, e: string): void };
  filters: { store: () => Filter; storeDatabase: () => Filter; mirrored: () => Filter };
  WorkQueue: new () => { addAfter(key: string, ms: number): void; shutdown(): void };
}
interface Filter {
  changed(o: object, e: string): boolean;
}

/** Loads a side's modules from `src` (this tree's, or a baseline's extracted copy). */
async function loadSide(src: string): Promise<Side> {
  const load = (path: string) => import(pathToFileURL(join(src, path)).href);
  const informer = await load('controller/informer.ts');
  const loop = await load('controller/controller-loop.ts');
  const filters = await load('controller/change-filter.ts');
  return {
    // Before this change the informer only trimmed; the template literal was the queue's key.
    prepare: informer.prepareForCache ?? ((object: never) => informer.trimForCache(object)),
    queueKey: loop.queueKey ?? ((namespace: string, name: string) => `${namespace}/${name}`),
    CacheIndex: (await load('controller/cache-index.ts')).CacheIndex,
    filters: { store: filters.storeChanges, storeDatabase: filters.storeDatabaseChanges, mirrored: filters.mirroredChanges },
    WorkQueue: (await load('controller/workqueue.ts')).WorkQueue,
  };
}

const NAMESPACE = 'storeop-fleet-mem-2ed72d';
const pad = (i: number) => String(i).padStart(5, '0');
const uid = (kind: number, i: number) => `${kind}f3c1a2e-7b4d-4c1e-9a8b-${String(i).padStart(12, '0')}`;
const time = (i: number) => new Date(Date.UTC(2026, 11, 2, 11, 0, Math.floor(i / 40))).toISOString().replace('.000', '');

/**
 * The versions a watch delivers of one object: created, finalizer added, Pending status written, with
 * resourceVersions firstVersion, +1 and +2.
 */
function watchVersions(
  kind: string,
  name: string,
  uidKind: number,
  i: number,
  firstVersion: number,
  spec: object,
  status: object,
): string[] {
  const metadata = {
    name,
    namespace: NAMESPACE,
    uid: uid(uidKind, i),
    resourceVersion: String(firstVersion),
    generation: 1,
    creationTimestamp: time(i),
    managedFields: [
      { manager: 'node-fetch', operation: 'Update', apiVersion: 'storeop.dev/v1alpha1', time: time(i), fieldsType: 'FieldsV1' },
    ],
  };
  const base = { apiVersion: 'storeop.dev/v1alpha1', kind, spec };
  const { managedFields, ...fields } = metadata;
  // kube-apiserver's field order: managedFields last (deleting the last property keeps an object's shape fast).
  const withFinalizer = { ...fields, resourceVersion: String(firstVersion + 1), finalizers: ['storeop.dev/cleanup'], managedFields };
  return [
    { ...base, metadata },
    { ...base, metadata: withFinalizer },
    { ...base, metadata: { ...withFinalizer, resourceVersion: String(firstVersion + 2) }, status },
  ].map((o) => JSON.stringify(o));
}

/** A Ready=False condition as the operator writes it for a missing reference. */
const notFound = (i: number, reason: string, message: string) => ({
  type: 'Ready',
  status: 'False',
  reason,
  message,
  lastTransitionTime: time(i),
  observedGeneration: 1,
});

/** The versions of Store i: Pending on a missing StoreDatabase. */
function storeVersions(i: number): string[] {
  return watchVersions(
    'Store',
    `mem-s-${pad(i)}`,
    1,
    i,
    100_000 + i * 3,
    { displayName: `Memory ${i}`, databaseRef: { name: `mem-nodb-${pad(i)}` } },
    {
      phase: 'Pending',
      slug: `mem-s-${pad(i)}`,
      storeId: `store_${pad(i)}_7d1c`,
      databaseName: `mem-nodb-${pad(i)}`,
      observedGeneration: 1,
      conditions: [notFound(i, 'DatabaseNotFound', `StoreDatabase mem-nodb-${pad(i)} does not exist`)],
    },
  );
}

/** The versions of StoreDatabase i: Pending (its Store is missing). */
function databaseVersions(i: number): string[] {
  return watchVersions(
    'StoreDatabase',
    `mem-d-${pad(i)}`,
    2,
    i,
    500_000 + i * 3,
    {
      storeRef: { name: `mem-nostore-${pad(i)}` },
      engine: 'postgresql',
      mode: 'create',
      server: { host: '127.0.0.1', port: 5432, adminSecretRef: { name: 'fleet-admin' } },
      deletionPolicy: 'Retain',
    },
    { phase: 'Pending', conditions: [notFound(i, 'StoreNotFound', `Store mem-nostore-${pad(i)} does not exist`)] },
  );
}

/** One side, in a child process of its own: the heap its caches retain, per object, after a full GC. */
async function measure(src: string, objects: number, snapshot?: string): Promise<void> {
  const side = await loadSide(src);
  const gc = globalThis.gc as () => void;
  type Meta = {
    metadata: { name: string; namespace: string };
    spec: Record<string, { name?: string; adminSecretRef?: { name?: string } }>;
  };
  const cache = new Map<string, Map<string, object>>();
  const stores = { byDatabase: new side.CacheIndex((s: Meta) => [s.spec.databaseRef?.name ?? '']), filter: side.filters.store() };
  const databases = {
    byStore: new side.CacheIndex((d: Meta) => [d.spec.storeRef?.name ?? '']),
    bySecret: new side.CacheIndex((d: Meta) => [d.spec.server?.adminSecretRef?.name ?? '']),
    filter: side.filters.storeDatabase(),
    mirrored: side.filters.mirrored(),
  };
  const queues = { store: new side.WorkQueue(), database: new side.WorkQueue() };
  // What the informer does with each delivered version: prepare it, keep it in the ListWatch map (its first
  // name string stays the map's key), then the handlers: indexes, filters, the reconcile's requeue.
  const deliver = (text: string, event: 'add' | 'update', isStore: boolean) => {
    const parsed = JSON.parse(text) as Meta;
    const { namespace, name } = parsed.metadata;
    const names = cache.get(namespace) ?? new Map<string, object>();
    cache.set(namespace, names);
    const object = side.prepare(parsed as never, names.get(name)) as Meta;
    names.set(name, object);
    if (isStore) {
      stores.byDatabase.observe(object, event);
      stores.filter.changed(object, event);
      queues.store.addAfter(side.queueKey(namespace, name), 600_000 + (name.length % 7));
    } else {
      databases.byStore.observe(object, event);
      databases.bySecret.observe(object, event);
      databases.filter.changed(object, event);
      databases.mirrored.changed(object, event);
      queues.database.addAfter(side.queueKey(namespace, name), 600_000 + (name.length % 7));
    }
  };
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < objects; i++) {
    for (const [k, text] of storeVersions(i).entries()) deliver(text, k === 0 ? 'add' : 'update', true);
    for (const [k, text] of databaseVersions(i).entries()) deliver(text, k === 0 ? 'add' : 'update', false);
  }
  gc();
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  console.log(JSON.stringify({ retainedMb: retained / 1024 / 1024, bytesPerObject: retained / (2 * objects), cached: cache.size }));
  // Where those bytes are (summarise with bench/heap-summary.ts); the caches are still referenced here.
  if (snapshot) writeHeapSnapshot(snapshot);
  queues.store.shutdown();
  queues.database.shutdown();
}

function runSide(label: string, src: string, objects: number): { retainedMb: number; bytesPerObject: number } {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(repoRoot, 'bench/cache-memory.ts'), '--side', src, '--objects', String(objects)],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`${label} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '10000' },
      baseline: { type: 'string', default: 'main' },
      rounds: { type: 'string', default: '2' },
      side: { type: 'string' },
      snapshot: { type: 'string' },
    },
  });
  const parsed = flags.safeParse(values);
  if (!parsed.success) {
    console.error(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'));
    process.exit(2);
  }
  const { objects, baseline, rounds, side, snapshot } = parsed.data;
  if (side) return measure(side, objects, snapshot);

  // The baseline's sources, inside the repository (dist/ is ignored) so that they resolve its node_modules.
  const baselineRoot = join(repoRoot, 'dist', `cache-memory-baseline-${process.pid}`);
  rmSync(baselineRoot, { recursive: true, force: true });
  mkdirSync(baselineRoot, { recursive: true });
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', baseline], { cwd: repoRoot, encoding: 'utf8' }).trim();
    execFileSync('sh', ['-c', `git archive ${commit} src | tar -x -C ${baselineRoot}`], { cwd: repoRoot });
    if (!existsSync(join(baselineRoot, 'src/controller/informer.ts'))) throw new Error(`${baseline} has no src/controller/informer.ts`);
    console.log(
      `cache memory per object: ${objects} Stores + ${objects} StoreDatabases, 3 versions each; load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const sides = [
      { label: `baseline ${baseline} (${commit})`, src: join(baselineRoot, 'src') },
      { label: 'this tree', src: join(repoRoot, 'src') },
    ];
    const results = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      // Alternate the order, so that whatever drifts on the machine hits both sides alike.
      for (const s of round % 2 ? [...sides].reverse() : sides) {
        const r = runSide(s.label, s.src, objects);
        results.set(s.label, [...(results.get(s.label) ?? []), r.bytesPerObject]);
        console.log(
          `  round ${round + 1}  ${s.label.padEnd(28)} ${r.retainedMb.toFixed(1).padStart(7)} MB retained, ${r.bytesPerObject.toFixed(0)} bytes per object`,
        );
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const [base, current] = sides.map((s) => median(results.get(s.label) ?? []));
    console.log(
      `median: baseline ${base?.toFixed(0)} bytes per object, this tree ${current?.toFixed(0)} (${(((current as number) / (base as number)) * 100).toFixed(0)}%); at ${objects} + ${objects}: ${(((base as number) * 2 * objects) / 1024 / 1024).toFixed(1)} MB against ${(((current as number) * 2 * objects) / 1024 / 1024).toFixed(1)} MB`,
    );
    console.log(
      `load at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    rmSync(baselineRoot, { recursive: true, force: true });
  }
}

await main();
