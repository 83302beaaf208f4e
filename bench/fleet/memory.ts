// The memory curve: operator RSS with 0, 2,000, 5,000 ... objects cached that cost nothing to provision:
// at each point P, P Stores whose databaseRef names a StoreDatabase that does not exist and P
// StoreDatabases whose storeRef names a Store that does not exist (both sit Pending, no database work).
import { setTimeout as sleep } from 'node:timers/promises';
import { eachLimited, type KubeHttp } from './kube-http.js';
import { type Operator, type RssBreakdown, settle } from './operator.js';
import { GROUP_PATH, Tracker } from './tracker.js';

export interface MemoryPoint {
  /** Stores cached, and as many StoreDatabases. */
  objectsPerKind: number;
  rssMb: number;
  /** The samples the steady value is the median of. */
  samplesMb: number[];
  /** False when Pending objects' 30 s requeues kept the operator busy until the settle timeout. */
  settled: boolean;
  /** Where the RSS is (at the last sample). */
  breakdown: RssBreakdown;
  /** Operator CPU from the first create of this point to its last sample (the GC's share included). */
  cpuSeconds: number;
  /** The JS heap in use at the last sample (the rest of RSS is the binary, V8's free pages, malloc). */
  heapUsedMb: number;
  /** The heap snapshot written at this point, when asked for. */
  heapSnapshot?: string;
}

const pad = (i: number) => String(i).padStart(5, '0');

async function createUpTo(kube: KubeHttp, namespace: string, from: number, to: number, secret: string, concurrency: number): Promise<void> {
  const indexes = Array.from({ length: to - from }, (_, k) => from + k);
  await eachLimited(indexes, concurrency, async (i) => {
    await kube.call('POST', `${GROUP_PATH}/namespaces/${namespace}/stores`, {
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'Store',
      metadata: { name: `mem-s-${pad(i)}` },
      spec: { displayName: `Memory ${i}`, databaseRef: { name: `mem-nodb-${pad(i)}` } },
    });
    await kube.call('POST', `${GROUP_PATH}/namespaces/${namespace}/storedatabases`, {
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'StoreDatabase',
      metadata: { name: `mem-d-${pad(i)}` },
      spec: {
        storeRef: { name: `mem-nostore-${pad(i)}` },
        engine: 'postgresql',
        mode: 'create',
        server: { host: '127.0.0.1', port: 5432, adminSecretRef: { name: secret } },
        deletionPolicy: 'Retain',
      },
    });
  });
}

export async function runMemoryCurve(opts: {
  kube: KubeHttp;
  operator: Operator;
  namespace: string;
  adminSecret: string;
  points: number[];
  concurrency: number;
  timeoutMs: number;
  /** Write a heap snapshot at the last point (writing one leaves its native memory behind, so only there). */
  heapSnapshot?: boolean;
  log: (line: string) => void;
}): Promise<MemoryPoint[]> {
  const { kube, operator, namespace } = opts;
  const databases = await Tracker.start(kube, namespace, 'storedatabases');
  const result: MemoryPoint[] = [];
  let created = 0;
  try {
    const points = [...opts.points].sort((a, b) => a - b);
    for (const [i, point] of points.entries()) {
      const cpuBefore = operator.cpu();
      await createUpTo(kube, namespace, created, point, opts.adminSecret, opts.concurrency);
      created = Math.max(created, point);
      await databases.until(() => databases.objects.size >= point, opts.timeoutMs, `${point} StoreDatabases listed`);
      // Cached: the operator's Store gauge counts its cache; every StoreDatabase reconciled once.
      const deadline = Date.now() + opts.timeoutMs;
      for (;;) {
        const m = await operator.metrics();
        if (m.cachedStores >= point && (m.reconciles.storedatabase ?? 0) >= point && (m.reconciles.store ?? 0) >= point) break;
        if (Date.now() > deadline) throw new Error(`the operator did not cache and reconcile ${point} objects per kind in time`);
        await sleep(500);
      }
      const settled = await settle(operator, 3000, 60_000);
      const samplesMb: number[] = [];
      for (let i = 0; i < 5; i++) {
        samplesMb.push(operator.rss());
        await sleep(1000);
      }
      const sorted = [...samplesMb].sort((a, b) => a - b);
      const rssMb = sorted[Math.floor(sorted.length / 2)] as number;
      const breakdown = operator.rssBreakdown();
      const { heapUsedMb } = await operator.metrics();
      const cpuSeconds = operator.cpu() - cpuBefore;
      const heapSnapshot = opts.heapSnapshot && i === points.length - 1 ? await operator.heapSnapshot() : undefined;
      result.push({
        objectsPerKind: point,
        rssMb,
        samplesMb,
        settled,
        breakdown,
        heapUsedMb,
        cpuSeconds,
        ...(heapSnapshot ? { heapSnapshot } : {}),
      });
      opts.log(
        `  ${point} Stores + ${point} StoreDatabases: RSS ${rssMb.toFixed(0)} MB (malloc heap ${breakdown.mallocHeapMb.toFixed(0)}, other anonymous ${breakdown.anonymousMb.toFixed(0)}, files ${breakdown.fileMb.toFixed(0)}), JS heap ${heapUsedMb.toFixed(0)} MB, operator CPU ${cpuSeconds.toFixed(1)} s${settled ? '' : ' (still busy)'}${heapSnapshot ? `, snapshot ${heapSnapshot}` : ''}`,
      );
    }
  } finally {
    await databases.stop();
  }
  return result;
}
