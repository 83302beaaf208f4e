// The fleet phase (N Stores from create to all Ready, under the operator with its defaults) and the
// deletion phase (all of them deleted with deletionPolicy Delete, until every object is gone).
import type { RecordingProxy } from '../../test/support/recording-proxy.js';
import type { ConnectionPeaks, ConnectionSampler } from './connections.js';
import { eachLimited, type KubeHttp } from './kube-http.js';
import { cpuSeconds, type Operator } from './operator.js';
import { remaining, type StatSnapshot, statDelta, statSnapshot } from './postgres.js';
import { GROUP_PATH, Tracker } from './tracker.js';
import { summarize, type Traffic } from './traffic.js';

export interface FleetSpec {
  namespace: string;
  names: string[];
  adminSecret: string;
  server: { host: string; port: number };
}

/** A Store as a platform would apply it: PostgreSQL create mode, a database per store, seeded, dropped on delete. */
export function storeManifest(name: string, spec: FleetSpec) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name, namespace: spec.namespace },
    spec: {
      displayName: `Fleet ${name}`,
      owner: 'fleet@example.com',
      plan: 'free',
      database: {
        engine: 'postgresql',
        mode: 'create',
        server: { host: spec.server.host, port: spec.server.port, adminSecretRef: { name: spec.adminSecret } },
        isolation: 'database',
        seed: true,
        deletionPolicy: 'Delete',
      },
    },
  };
}

export interface ProcessCpu {
  operator: number;
  apiserver: number | undefined;
}

export interface WindowMeasure {
  cpu: ProcessCpu;
  traffic: Traffic;
  connections: ConnectionPeaks;
  reconciles: Record<string, number>;
}

/** Opens a measurement window over the operator, kube-apiserver, the proxy and the connection sampler. */
export async function openWindow(operator: Operator, apiserverPid: number | undefined, proxy: RecordingProxy, sampler: ConnectionSampler) {
  const before = { op: operator.cpu(), api: apiserverPid ? cpuSeconds(apiserverPid) : undefined, metrics: await operator.metrics() };
  proxy.reset();
  sampler.reset(operator.pid);
  return async (): Promise<WindowMeasure> => {
    const metrics = await operator.metrics();
    const reconciles: Record<string, number> = {};
    for (const [c, n] of Object.entries(metrics.reconciles)) reconciles[c] = n - (before.metrics.reconciles[c] ?? 0);
    return {
      cpu: {
        operator: operator.cpu() - before.op,
        apiserver: apiserverPid && before.api !== undefined ? cpuSeconds(apiserverPid) - before.api : undefined,
      },
      traffic: summarize(proxy.requests),
      connections: structuredClone(sampler.peaks),
      reconciles,
    };
  };
}

export interface FleetResult extends WindowMeasure {
  stores: number;
  workers: number;
  createSeconds: number;
  readySeconds: number;
  storesPerSecond: number;
  /** Seconds from the first create to the first, median and last Store seen Ready. */
  readyPercentiles: { first: number; p50: number; p90: number; last: number };
  rssMb: number;
  /** pg_stat_database and master-table counters over the window: the SQL work per store beside the floor's. */
  sql: StatSnapshot;
}

export async function runFleet(opts: {
  kube: KubeHttp;
  operator: Operator;
  apiserverPid: number | undefined;
  proxy: RecordingProxy;
  sampler: ConnectionSampler;
  spec: FleetSpec;
  sql: { adminUrl: string; masterUrl: string; databasePrefix: string };
  concurrency: number;
  timeoutMs: number;
  log: (line: string) => void;
}): Promise<FleetResult> {
  const { kube, spec } = opts;
  const stores = await Tracker.start(kube, spec.namespace, 'stores');
  const sqlStats = () => statSnapshot(opts.sql.adminUrl, opts.sql.masterUrl, opts.sql.databasePrefix);
  try {
    const sqlBefore = await sqlStats();
    const close = await openWindow(opts.operator, opts.apiserverPid, opts.proxy, opts.sampler);
    const started = Date.now();
    const path = `${GROUP_PATH}/namespaces/${spec.namespace}/stores`;
    await eachLimited(spec.names, opts.concurrency, async (name) => {
      await kube.call('POST', path, storeManifest(name, spec));
    });
    const created = Date.now();
    opts.log(`  ${spec.names.length} Stores created in ${((created - started) / 1000).toFixed(1)}s; waiting for all Ready`);
    const progress = setInterval(
      () => opts.log(`  ${stores.readyAt.size}/${spec.names.length} Ready after ${Math.round((Date.now() - started) / 1000)}s`),
      30_000,
    );
    try {
      await stores.until(() => stores.readyAt.size >= spec.names.length, opts.timeoutMs, `${spec.names.length} Stores Ready`);
    } finally {
      clearInterval(progress);
    }
    const done = Date.now();
    const measure = await close();
    const sql = statDelta(sqlBefore, await sqlStats());
    const times = [...stores.readyAt.values()].map((t) => (t - started) / 1000).sort((a, b) => a - b);
    const at = (p: number) => times[Math.min(times.length - 1, Math.max(0, Math.ceil(p * times.length) - 1))] ?? 0;
    const readySeconds = (done - started) / 1000;
    return {
      ...measure,
      stores: spec.names.length,
      workers: opts.operator.workers,
      createSeconds: (created - started) / 1000,
      readySeconds,
      storesPerSecond: spec.names.length / readySeconds,
      readyPercentiles: { first: at(0), p50: at(0.5), p90: at(0.9), last: at(1) },
      rssMb: opts.operator.rss(),
      sql,
    };
  } finally {
    await stores.stop();
  }
}

export interface DeletionResult extends WindowMeasure {
  stores: number;
  seconds: number;
  left: { databases: number; roles: number };
}

export async function runDeletion(opts: {
  kube: KubeHttp;
  operator: Operator;
  apiserverPid: number | undefined;
  proxy: RecordingProxy;
  sampler: ConnectionSampler;
  spec: FleetSpec;
  adminUrl: string;
  databasePrefix: string;
  concurrency: number;
  timeoutMs: number;
}): Promise<DeletionResult> {
  const { kube, spec } = opts;
  const stores = await Tracker.start(kube, spec.namespace, 'stores');
  const databases = await Tracker.start(kube, spec.namespace, 'storedatabases');
  try {
    const close = await openWindow(opts.operator, opts.apiserverPid, opts.proxy, opts.sampler);
    const started = Date.now();
    const path = `${GROUP_PATH}/namespaces/${spec.namespace}/stores`;
    await eachLimited(spec.names, opts.concurrency, async (name) => {
      await kube.call('DELETE', `${path}/${name}`, undefined, true);
    });
    await stores.until(() => stores.objects.size === 0, opts.timeoutMs, 'every Store gone');
    await databases.until(() => databases.objects.size === 0, opts.timeoutMs, 'every StoreDatabase gone');
    const seconds = (Date.now() - started) / 1000;
    const measure = await close();
    return { ...measure, stores: spec.names.length, seconds, left: await remaining(opts.adminUrl, opts.databasePrefix) };
  } finally {
    await stores.stop();
    await databases.stop();
  }
}
