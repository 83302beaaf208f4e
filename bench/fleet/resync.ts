// The no-op resync window: the fleet is Ready and nothing changes; the operator, restarted with a short
// --resync-period, re-checks every StoreDatabase once a period. Measured per period: checks (reconciles
// from /metrics), operator CPU per check, API writes, transactions and new sessions on the servers,
// master-DB row writes, RSS at the end of each period; over all periods: resourceVersions changed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordingProxy } from '../../test/support/recording-proxy.js';
import type { ConnectionSampler } from './connections.js';
import { openWindow, type WindowMeasure } from './fleet-run.js';
import type { KubeHttp, KubeList } from './kube-http.js';
import { type Operator, settle } from './operator.js';
import { type StatSnapshot, statDelta, statSnapshot } from './postgres.js';
import { GROUP_PATH } from './tracker.js';

export interface ResyncPeriod extends WindowMeasure {
  seconds: number;
  checks: number;
  cpuMsPerCheck: number | undefined;
  sql: StatSnapshot;
  rssMb: number;
}

export interface ResyncResult {
  resyncPeriodMs: number;
  stores: number;
  /** Whether the restart's own pass over every object had ended (queues empty, counts still) before the window. */
  settledBeforeWindow: boolean;
  periods: ResyncPeriod[];
  checks: number;
  cpuMsPerCheck: number | undefined;
  transactionsPerCheck: { stores: number; master: number; admin: number } | undefined;
  sessionsPerCheck: { stores: number; master: number; admin: number } | undefined;
  apiWrites: number;
  masterRowWrites: number;
  resourceVersionsChanged: { stores: number; storeDatabases: number };
  rssGrowthMb: number;
}

async function resourceVersions(kube: KubeHttp, namespace: string, plural: string): Promise<Map<string, string>> {
  const list = (await kube.call<KubeList>('GET', `${GROUP_PATH}/namespaces/${namespace}/${plural}`)) as KubeList;
  return new Map(list.items.map((o) => [o.metadata.name, o.metadata.resourceVersion ?? '']));
}

function changedCount(before: Map<string, string>, after: Map<string, string>): number {
  let n = 0;
  for (const [name, rv] of before) if (after.get(name) !== rv) n++;
  return n;
}

export async function runResync(opts: {
  kube: KubeHttp;
  operator: Operator;
  apiserverPid: number | undefined;
  proxy: RecordingProxy;
  sampler: ConnectionSampler;
  namespace: string;
  stores: number;
  resyncPeriodMs: number;
  windows: number;
  adminUrl: string;
  masterUrl: string;
  databasePrefix: string;
  log: (line: string) => void;
}): Promise<ResyncResult> {
  const { kube, operator, namespace } = opts;
  // A restart re-checks every object once: wait for that pass (every StoreDatabase reconciled, queues idle).
  const settleDeadline = Date.now() + Math.max(120_000, opts.stores * 500);
  for (;;) {
    const m = await operator.metrics();
    if ((m.reconciles.storedatabase ?? 0) >= opts.stores || Date.now() > settleDeadline) break;
    await sleep(500);
  }
  const settled = await settle(operator, 3000, Math.max(60_000, settleDeadline - Date.now()));
  const rvBefore = {
    stores: await resourceVersions(kube, namespace, 'stores'),
    storeDatabases: await resourceVersions(kube, namespace, 'storedatabases'),
  };
  const periods: ResyncPeriod[] = [];
  for (let i = 0; i < opts.windows; i++) {
    const sqlBefore = await statSnapshot(opts.adminUrl, opts.masterUrl, opts.databasePrefix);
    const close = await openWindow(operator, opts.apiserverPid, opts.proxy, opts.sampler);
    const started = Date.now();
    // The window is the measurement itself: one resync period of wall time, nothing awaited inside it.
    await sleep(opts.resyncPeriodMs);
    const measure = await close();
    const sql = statDelta(sqlBefore, await statSnapshot(opts.adminUrl, opts.masterUrl, opts.databasePrefix));
    // The connection sampler's own queries (one transaction per sample) run on the admin database too.
    sql.admin.transactions = Math.max(0, sql.admin.transactions - measure.connections.samples);
    const checks = measure.reconciles.storedatabase ?? 0;
    const period: ResyncPeriod = {
      ...measure,
      seconds: (Date.now() - started) / 1000,
      checks,
      cpuMsPerCheck: checks ? (measure.cpu.operator * 1000) / checks : undefined,
      sql,
      rssMb: operator.rss(),
    };
    periods.push(period);
    opts.log(
      `  period ${i + 1}/${opts.windows}: ${checks} checks, operator ${measure.cpu.operator.toFixed(1)} CPU s, ${measure.traffic.writes} API writes, RSS ${period.rssMb.toFixed(0)} MB`,
    );
  }
  const rvAfter = {
    stores: await resourceVersions(kube, namespace, 'stores'),
    storeDatabases: await resourceVersions(kube, namespace, 'storedatabases'),
  };
  const checks = periods.reduce((n, p) => n + p.checks, 0);
  const cpu = periods.reduce((n, p) => n + p.cpu.operator, 0);
  const sum = (pick: (s: StatSnapshot) => number) => periods.reduce((n, p) => n + pick(p.sql), 0);
  const per = (pick: (s: StatSnapshot) => number) => (checks ? sum(pick) / checks : 0);
  return {
    resyncPeriodMs: opts.resyncPeriodMs,
    stores: opts.stores,
    settledBeforeWindow: settled,
    periods,
    checks,
    cpuMsPerCheck: checks ? (cpu * 1000) / checks : undefined,
    transactionsPerCheck: checks
      ? { stores: per((s) => s.stores.transactions), master: per((s) => s.master.transactions), admin: per((s) => s.admin.transactions) }
      : undefined,
    sessionsPerCheck: checks
      ? { stores: per((s) => s.stores.sessions), master: per((s) => s.master.sessions), admin: per((s) => s.admin.sessions) }
      : undefined,
    apiWrites: periods.reduce((n, p) => n + p.traffic.writes, 0),
    masterRowWrites: sum((s) => s.masterRowWrites),
    resourceVersionsChanged: {
      stores: changedCount(rvBefore.stores, rvAfter.stores),
      storeDatabases: changedCount(rvBefore.storeDatabases, rvAfter.storeDatabases),
    },
    rssGrowthMb: (periods.at(-1)?.rssMb ?? 0) - (periods[0]?.rssMb ?? 0),
  };
}
