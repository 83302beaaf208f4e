// `npm run bench:fleet`: the fleet benchmark of issue 19. N Stores (PostgreSQL create mode, database
// isolation, seeded, deletionPolicy Delete) created as a batched `kubectl apply` would, under the operator
// (from dist/, its defaults, its API traffic counted at a recording proxy), beside the floor (the same
// databases provisioned in-process at the same concurrency); then a no-op resync window, the deletion of
// the fleet, and a memory curve. Every measure is printed beside its target. See bench/README.md, "Fleet".
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  type Cluster,
  createAdminSecret,
  createNamespace,
  leftoverNamespaces,
  newNamespaceName,
  openCluster,
  removeNamespace,
} from './fleet/cluster.js';
import { type ConnectionPeaks, ConnectionSampler } from './fleet/connections.js';
import { type DeletionResult, type FleetResult, type FleetSpec, runDeletion, runFleet } from './fleet/fleet-run.js';
import { type FloorResult, runFloor } from './fleet/floor.js';
import { type MemoryPoint, runMemoryCurve } from './fleet/memory.js';
import { assertBuilt, buildOperator, DEFAULT_WORKERS, type Operator, settle, startOperator } from './fleet/operator.js';
import { type FleetOptions, parseOptions, USAGE, UsageError } from './fleet/options.js';
import { createMasterDatabase, DATABASE_PREFIX, dropFleetObjects, dropLeftovers, holdRunLock, withClient } from './fleet/postgres.js';
import { atMost, fmt, load, type Machine, machine, type Row, row, table } from './fleet/report.js';
import { type ResyncResult, runResync } from './fleet/resync.js';
import { summarize, type Traffic } from './fleet/traffic.js';

/** Targets of issue 19, for 1,000 stores on 2 cores (time targets scale with the fleet size). */
const TARGET = {
  readySecondsPer1000: 180,
  overheadRatio: 1.25,
  listsAfterStart: 0,
  statusWritesPerResource: 3,
  resyncCpuMs: 10,
  resyncRoundTrips: 3,
  idleRssMb: 120,
  rssAt10kMb: 150,
  deleteSecondsPer1000: 180,
  extraAdminConnections: 2,
  masterPoolSize: 10, // src/master/database.ts: pg.Pool max
  rssGrowthFraction: 0.05,
};

const log = (line: string) => process.stderr.write(`${line}\n`);
/** How every operator of this run is started (--operator-log, --operator-dist, --operator-node-options), set once the flags are read. */
let operatorRun: { logFile?: string | undefined; dist?: string | undefined; nodeOptions?: string[] | undefined } = {};

interface WorkerRun {
  workers: number;
  startup: { traffic: Traffic; idleRssMb: number };
  floor?: FloorResult & { connections: ConnectionPeaks };
  fleet: FleetResult;
  resync?: ResyncResult;
  deletion: DeletionResult;
}

interface Results {
  startedAt: string;
  machine: Machine;
  loadAtStart: number[];
  loadAtEnd?: number[];
  cluster: string;
  options: Omit<FleetOptions, 'help'>;
  runs: WorkerRun[];
  memory?: { points: MemoryPoint[] };
  tables?: Record<string, Row[]>;
}

/** Cleanup steps, run last-in first-out once: at the end, on an error, or on Ctrl-C. */
const cleanups: { what: string; step: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const { what, step } = cleanups.pop() as (typeof cleanups)[number];
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${what} failed: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    }
  })();
  return cleaning;
}

let interrupted = false;
function onSignal(): void {
  if (interrupted) return;
  interrupted = true;
  log('\ninterrupted: cleaning up');
  void cleanUp().finally(() => process.exit(130));
}

const pad = (i: number) => String(i).padStart(5, '0');

function serverOf(adminUrl: string): { host: string; port: number } {
  const url = new URL(adminUrl);
  return { host: url.hostname, port: Number(url.port || 5432) };
}

async function withOperator<T>(
  cluster: Cluster,
  masterUrl: string,
  sampler: ConnectionSampler,
  options: { workers?: number; resyncPeriodMs?: number; heapSnapshotDir?: string },
  fn: (operator: Operator) => Promise<T>,
): Promise<T> {
  const operator = await startOperator({ kubeconfig: cluster.operatorKubeconfig, masterUrl, ...operatorRun, ...options });
  const entry = { what: 'stop the operator', step: () => operator.stop() };
  cleanups.push(entry);
  sampler.reset(operator.pid);
  try {
    return await fn(operator);
  } catch (error) {
    log(`operator log (tail):\n${operator.logTail(30)}`);
    throw error;
  } finally {
    cleanups.splice(cleanups.indexOf(entry), 1);
    await operator.stop();
  }
}

async function benchWorkers(
  cluster: Cluster,
  opts: FleetOptions,
  rid: string,
  workers: number,
  masterUrl: string,
  sampler: ConnectionSampler,
  first: boolean,
): Promise<WorkerRun> {
  const adminUrl = opts['postgres-url'];
  const names = Array.from({ length: opts.stores }, (_, i) => `fleet-${rid}-w${workers}-${pad(i + 1)}`);
  const databasePrefix = `${DATABASE_PREFIX}${rid}_w${workers}_`;
  log(`\n== ${opts.stores} stores, ${workers} workers`);

  let floor: WorkerRun['floor'];
  if (!opts['skip-floor']) {
    log(`floor: ${opts.stores} databases by provision() in-process, ${workers} at a time`);
    const slugs = Array.from({ length: opts.stores }, (_, i) => `fleet-${rid}-f${workers}-${pad(i + 1)}`);
    sampler.reset(process.pid);
    try {
      const result = await runFloor(adminUrl, slugs, workers, () => interrupted);
      floor = { ...result, connections: structuredClone(sampler.peaks) };
    } finally {
      await dropFleetObjects(adminUrl, `${DATABASE_PREFIX}${rid}_f${workers}_`);
    }
    log(`  ${fmt(floor.seconds)}s (${fmt(floor.storesPerSecond)} stores/s)`);
  }

  const namespace = newNamespaceName(`w${workers}`);
  await createNamespace(cluster.kube, namespace);
  cleanups.push({ what: `remove namespace ${namespace}`, step: () => removeNamespace(cluster.kube, namespace) });
  const spec: FleetSpec = {
    namespace,
    names,
    adminSecret: await createAdminSecret(cluster.kube, namespace, adminUrl),
    server: serverOf(adminUrl),
  };
  cleanups.push({ what: `drop ${databasePrefix}*`, step: () => dropFleetObjects(adminUrl, databasePrefix) });

  const common = { kube: cluster.kube, apiserverPid: cluster.apiserverPid, proxy: cluster.proxy, sampler };
  cluster.proxy.reset();
  const { startup, fleet } = await withOperator(cluster, masterUrl, sampler, { workers }, async (operator) => {
    await settle(operator, 2000, 30_000);
    const startup = { traffic: summarize(cluster.proxy.requests), idleRssMb: operator.rss() };
    log(
      `fleet: operator up (RSS ${fmt(startup.idleRssMb)} MB, ${startup.traffic.total} API requests at start-up); creating ${opts.stores} Stores`,
    );
    const fleet = await runFleet({
      ...common,
      operator,
      spec,
      sql: { adminUrl, masterUrl, databasePrefix },
      concurrency: opts['apply-concurrency'],
      timeoutMs: opts['ready-timeout'],
      log,
    });
    log(
      `  all Ready in ${fmt(fleet.readySeconds)}s (${fmt(fleet.storesPerSecond, 2)} stores/s), operator ${fmt(fleet.cpu.operator)} CPU s`,
    );
    return { startup, fleet };
  });

  let resync: ResyncResult | undefined;
  const deletionWith = async (operator: Operator) => {
    log(`deletion: deleting ${opts.stores} Stores`);
    const deletion = await runDeletion({
      ...common,
      operator,
      spec,
      adminUrl,
      databasePrefix,
      concurrency: opts['apply-concurrency'],
      timeoutMs: opts['ready-timeout'],
    });
    log(`  all gone in ${fmt(deletion.seconds)}s; left: ${deletion.left.databases} databases, ${deletion.left.roles} roles`);
    return deletion;
  };
  const deletion = await withOperator(
    cluster,
    masterUrl,
    sampler,
    { workers, ...(first && !opts['skip-resync'] ? { resyncPeriodMs: opts['resync-period'] } : {}) },
    async (operator) => {
      if (first && !opts['skip-resync']) {
        log(`resync: operator restarted with --resync-period ${opts['resync-period'] / 1000}s; ${opts['resync-windows']} periods`);
        resync = await runResync({
          ...common,
          operator,
          namespace,
          stores: opts.stores,
          resyncPeriodMs: opts['resync-period'],
          windows: opts['resync-windows'],
          adminUrl,
          masterUrl,
          databasePrefix,
          log,
        });
      }
      return deletionWith(operator);
    },
  );
  return { workers, startup, floor, fleet, resync, deletion };
}

function fleetRows(run: WorkerRun, stores: number): Row[] {
  const { fleet, floor, startup, deletion } = run;
  const readyTarget = (TARGET.readySecondsPer1000 * stores) / 1000;
  const per = (n: number) => n / stores;
  const rows: Row[] = [
    row(
      'wall time to all Ready',
      `${fmt(fleet.readySeconds)} s`,
      `<= ${fmt(readyTarget)} s (180 s per 1,000)`,
      atMost(fleet.readySeconds, readyTarget, ' s'),
    ),
    row('stores per second', fmt(fleet.storesPerSecond, 2), `>= ${fmt(1000 / 180, 2)}`),
    row(
      'Ready after (first / p50 / p90 / last)',
      `${fmt(fleet.readyPercentiles.first)} / ${fmt(fleet.readyPercentiles.p50)} / ${fmt(fleet.readyPercentiles.p90)} / ${fmt(fleet.readyPercentiles.last)} s`,
    ),
    row('creates took', `${fmt(fleet.createSeconds)} s`),
  ];
  if (floor) {
    const ratio = fleet.readySeconds / floor.seconds;
    rows.push(
      row(
        `floor: provision() in-process x${floor.concurrency}`,
        `${fmt(floor.seconds)} s`,
        '',
        `${fmt(floor.storesPerSecond, 2)} stores/s`,
      ),
    );
    rows.push(row('operator / floor', `${ratio.toFixed(2)}x`, `<= ${TARGET.overheadRatio}x`, atMost(ratio, TARGET.overheadRatio, 'x')));
  }
  const t = fleet.traffic;
  const reconciles = (r: Record<string, number>) => `${fmt(per(r.store ?? 0), 2)} / ${fmt(per(r.storedatabase ?? 0), 2)}`;
  rows.push(
    row('reconciles per store (Store / StoreDatabase)', reconciles(fleet.reconciles)),
    row('operator CPU', `${fmt(fleet.cpu.operator)} s`, '', `${fmt((fleet.cpu.operator * 1000) / stores)} ms per store`),
    row('kube-apiserver CPU', fleet.cpu.apiserver === undefined ? 'n/a (not started by the bench)' : `${fmt(fleet.cpu.apiserver)} s`),
    row(
      'LIST calls after start-up',
      String(t.lists),
      '0',
      `${atMost(t.lists, TARGET.listsAfterStart)}; besides ${t.informerLists} initial list(s) of a namespace's Secret informer`,
    ),
    row(
      'Store status writes per store',
      fmt(per(t.storeStatusWrites), 2),
      '<= 3',
      atMost(per(t.storeStatusWrites), TARGET.statusWritesPerResource),
    ),
    row(
      'StoreDatabase status writes per store',
      fmt(per(t.databaseStatusWrites), 2),
      '<= 3',
      atMost(per(t.databaseStatusWrites), TARGET.statusWritesPerResource),
    ),
    row('events per store', fmt(per(t.events), 2), 'only on transitions'),
    row(
      'SQL transactions per store: master DB / store DBs',
      `${fmt(per(fleet.sql.master.transactions), 2)} / ${fmt(per(fleet.sql.stores.transactions), 2)}`,
      '',
      `master DB rows written per store ${fmt(per(fleet.sql.masterRowWrites), 2)}`,
    ),
    row('API requests per store', fmt(per(t.total), 1)),
  );
  for (const [key, n] of Object.entries(t.byVerb).sort(([, a], [, b]) => b - a))
    rows.push(row(`  ${key}`, `${fmt(per(n), 2)} /store`, '', `${n} total`));
  const c = fleet.connections;
  const adminLimit = run.workers + TARGET.extraAdminConnections;
  rows.push(
    row('peak admin connections (PostgreSQL server)', String(c.admin), `<= ${adminLimit} (workers + 2)`, atMost(c.admin, adminLimit)),
    row('peak master DB connections', String(c.master), `<= ${TARGET.masterPoolSize} (pool size)`, atMost(c.master, TARGET.masterPoolSize)),
    row('peak store-role connections', String(c.stores)),
  );
  for (const [key, n] of Object.entries(c.groups).sort()) rows.push(row(`  peak ${key}`, String(n)));
  rows.push(
    row('operator RSS idle at start / after the fleet', `${fmt(startup.idleRssMb)} / ${fmt(fleet.rssMb)} MB`),
    row(
      'start-up API requests (initial lists, watches)',
      String(startup.traffic.total),
      '',
      Object.entries(startup.traffic.byVerb)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', '),
    ),
  );
  const deleteTarget = (TARGET.deleteSecondsPer1000 * stores) / 1000;
  const left = deletion.left.databases + deletion.left.roles;
  rows.push(
    row(
      'deletion: all Stores and StoreDatabases gone',
      `${fmt(deletion.seconds)} s`,
      `<= ${fmt(deleteTarget)} s (180 s per 1,000)`,
      atMost(deletion.seconds, deleteTarget, ' s'),
    ),
    row('deletion: databases + roles left', `${deletion.left.databases} + ${deletion.left.roles}`, '0', atMost(left, 0)),
    row('deletion: operator CPU', `${fmt(deletion.cpu.operator)} s`, '', `${deletion.traffic.total} API requests`),
    row('deletion: reconciles per store (Store / StoreDatabase)', reconciles(deletion.reconciles)),
  );
  for (const [key, n] of Object.entries(deletion.traffic.byVerb).sort(([, a], [, b]) => b - a))
    rows.push(row(`  deletion: ${key}`, `${fmt(per(n), 2)} /store`, '', `${n} total`));
  return rows;
}

function resyncRows(r: ResyncResult): Row[] {
  const rows: Row[] = [
    row(
      'period',
      `${fmt(r.resyncPeriodMs / 1000)} s x ${r.periods.length}`,
      '',
      r.settledBeforeWindow ? 'after the restart pass settled' : 'restart pass had not settled',
    ),
    row('checks (StoreDatabase reconciles)', String(r.checks), '', `${r.stores} stores`),
    row(
      'operator CPU per check',
      r.cpuMsPerCheck === undefined ? 'no checks' : `${fmt(r.cpuMsPerCheck, 2)} ms`,
      '<= 10 ms',
      r.cpuMsPerCheck === undefined ? 'not measured' : atMost(r.cpuMsPerCheck, TARGET.resyncCpuMs, ' ms'),
    ),
  ];
  if (r.transactionsPerCheck && r.sessionsPerCheck) {
    const tx = r.transactionsPerCheck;
    const all = tx.stores + tx.master + tx.admin;
    rows.push(
      row(
        'SQL transactions per check (>= round trips / 3)',
        fmt(all, 2),
        `<= ${TARGET.resyncRoundTrips} round trips`,
        atMost(all, TARGET.resyncRoundTrips),
      ),
      row(
        '  store DBs / master DB / admin DB',
        `${fmt(tx.stores, 2)} / ${fmt(tx.master, 2)} / ${fmt(tx.admin, 2)}`,
        '',
        'admin DB is shared with other clients',
      ),
      row(
        'new connections per check (store / master / admin)',
        `${fmt(r.sessionsPerCheck.stores, 2)} / ${fmt(r.sessionsPerCheck.master, 2)} / ${fmt(r.sessionsPerCheck.admin, 2)}`,
      ),
    );
  }
  rows.push(
    row('API writes in the window', String(r.apiWrites), '0', atMost(r.apiWrites, 0)),
    row(
      'resourceVersions changed (Stores / StoreDatabases)',
      `${r.resourceVersionsChanged.stores} / ${r.resourceVersionsChanged.storeDatabases}`,
      '0',
      atMost(r.resourceVersionsChanged.stores + r.resourceVersionsChanged.storeDatabases, 0),
    ),
    row('master DB rows written', String(r.masterRowWrites), '0', atMost(r.masterRowWrites, 0)),
  );
  r.periods.forEach((p, i) => {
    const reads =
      Object.entries(p.traffic.byVerb)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'no API requests';
    rows.push(row(`  period ${i + 1}`, `${p.checks} checks, ${fmt(p.cpu.operator)} CPU s`, '', `RSS ${fmt(p.rssMb)} MB; ${reads}`));
  });
  const first = r.periods[0]?.rssMb ?? 0;
  rows.push(
    row(
      'RSS growth over the periods',
      `${fmt(r.rssGrowthMb)} MB`,
      `<= ${TARGET.rssGrowthFraction * 100}% of period 1`,
      atMost(r.rssGrowthMb, first * TARGET.rssGrowthFraction, ' MB'),
    ),
  );
  return rows;
}

function memoryRows(points: MemoryPoint[]): Row[] {
  return points.map((p) => {
    const n = p.objectsPerKind;
    const [target, verdict] =
      n === 0
        ? [`<= ${TARGET.idleRssMb} MB idle`, atMost(p.rssMb, TARGET.idleRssMb, ' MB')]
        : n === 10_000
          ? [`<= ${TARGET.rssAt10kMb} MB`, atMost(p.rssMb, TARGET.rssAt10kMb, ' MB')]
          : ['', ''];
    const samples = p.samplesMb.map((s) => fmt(s, 0)).join(' ');
    return row(
      `${n} Stores + ${n} StoreDatabases`,
      `${fmt(p.rssMb)} MB (JS heap ${fmt(p.heapUsedMb)}, malloc ${fmt(p.breakdown.mallocHeapMb)}; CPU ${fmt(p.cpuSeconds)} s)`,
      target,
      `${verdict}${verdict ? '; ' : ''}samples ${samples}${p.settled ? '' : ', still busy'}${p.heapSnapshot ? `; ${p.heapSnapshot}` : ''}`,
    );
  });
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  operatorRun = { logFile: opts['operator-log'], dist: opts['operator-dist'], nodeOptions: opts['operator-node-options'] };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const adminUrl = opts['postgres-url'];
  const { help: _help, ...shown } = opts;
  const results: Results = {
    startedAt: new Date().toISOString(),
    machine: machine(),
    loadAtStart: load(),
    cluster: '',
    options: shown,
    runs: [],
  };
  results.machine.postgres = await withClient(
    adminUrl,
    async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v,
  );
  const reporter = new Reporter(results, opts);
  reporter.header();
  if (opts['operator-dist']) assertBuilt(opts['operator-dist']);
  else if (opts['no-build']) assertBuilt();
  else {
    log('building dist/ (the operator runs from it)');
    await buildOperator();
  }
  // The run id names everything this run makes; its lock keeps a run started beside it from sweeping them.
  const rid = randomBytes(2).toString('hex');
  const runLock = await holdRunLock(adminUrl, rid);
  cleanups.push({ what: 'release the run lock', step: () => runLock.release() });
  const leftovers = await dropLeftovers(adminUrl);
  if (leftovers.databases || leftovers.roles)
    log(`dropped ${leftovers.databases} databases and ${leftovers.roles} roles left by an earlier run`);

  try {
    const cluster = await openCluster(opts.kubeconfig);
    cleanups.push({ what: 'stop the cluster and proxy', step: () => cluster.stop() });
    results.cluster = cluster.description;
    reporter.cluster();
    if (opts.kubeconfig) for (const ns of await leftoverNamespaces(cluster.kube)) await removeNamespace(cluster.kube, ns);
    const masterUrl = await createMasterDatabase(adminUrl, `${DATABASE_PREFIX}${rid}_master`);
    cleanups.push({ what: 'drop the master DB', step: () => dropFleetObjects(adminUrl, `${DATABASE_PREFIX}${rid}_`) });
    const sampler = await ConnectionSampler.start(adminUrl, new URL(masterUrl).pathname.slice(1), process.pid);
    cleanups.push({ what: 'stop the connection sampler', step: () => sampler.stop() });
    log(`master DB ${new URL(masterUrl).pathname.slice(1)}`);

    for (const [i, workers] of opts.workers.entries()) {
      const run = await benchWorkers(cluster, opts, rid, workers, masterUrl, sampler, i === 0);
      results.runs.push(run);
      reporter.run(run);
    }
    if (!opts['skip-memory']) {
      log(`\n== memory curve: ${opts['memory-points'].join(', ')} Stores + as many StoreDatabases (Pending, nothing to provision)`);
      const namespace = newNamespaceName('mem');
      await createNamespace(cluster.kube, namespace);
      cleanups.push({
        what: `remove namespace ${namespace}`,
        step: () => (opts.kubeconfig ? removeNamespace(cluster.kube, namespace) : Promise.resolve()),
      });
      const adminSecret = await createAdminSecret(cluster.kube, namespace, adminUrl);
      const heapSnapshotDir = opts['heap-snapshots'];
      if (heapSnapshotDir) mkdirSync(heapSnapshotDir, { recursive: true });
      const points = await withOperator(cluster, masterUrl, sampler, heapSnapshotDir ? { heapSnapshotDir } : {}, (operator) =>
        runMemoryCurve({
          kube: cluster.kube,
          operator,
          namespace,
          adminSecret,
          points: opts['memory-points'],
          concurrency: opts['apply-concurrency'],
          timeoutMs: opts['ready-timeout'],
          heapSnapshot: heapSnapshotDir !== undefined,
          log,
        }),
      );
      results.memory = { points };
      reporter.memory(points);
    }
  } finally {
    await cleanUp();
  }
  reporter.end();
}

/** Prints a phase's table as soon as it is measured and rewrites the JSON file, so a long run that is
 * stopped later still leaves every finished phase behind. */
class Reporter {
  constructor(
    readonly results: Results,
    readonly opts: FleetOptions,
  ) {
    results.tables = {};
  }

  header(): void {
    const m = this.results.machine;
    console.log(`machine: nproc ${m.nproc}, ${m.cpuModel}, ${fmt(m.memoryGiB)} GiB RAM, Node ${m.node}, PostgreSQL ${m.postgres}`);
    console.log(`load average (1/5/15 min) at start: ${this.results.loadAtStart.join(' ')}`);
  }

  cluster(): void {
    console.log(
      `cluster: ${this.results.cluster}; operator from ${this.opts['operator-dist'] ?? 'dist/'} with its defaults (workers as given), its API traffic counted at a recording proxy`,
    );
  }

  #print(title: string, rows: Row[]): void {
    (this.results.tables as Record<string, Row[]>)[title] = rows;
    console.log(`\n${table(title, rows)}`);
    this.save();
  }

  run(run: WorkerRun): void {
    const { stores } = this.opts;
    this.#print(
      `fleet: ${stores} stores, ${run.workers} workers${run.workers === DEFAULT_WORKERS ? ' (the default)' : ''}`,
      fleetRows(run, stores),
    );
    if (run.resync) this.#print(`no-op resync: ${stores} Ready stores, ${run.workers} workers`, resyncRows(run.resync));
  }

  memory(points: MemoryPoint[]): void {
    this.#print(`memory: operator RSS (median of 5 samples after the operator settled), ${DEFAULT_WORKERS} workers`, memoryRows(points));
  }

  end(): void {
    this.results.loadAtEnd = load();
    console.log(`\nload average (1/5/15 min) at end: ${this.results.loadAtEnd.join(' ')}`);
    this.save();
    if (this.opts.json) console.log(`wrote ${this.opts.json}`);
  }

  save(): void {
    if (this.opts.json) writeFileSync(this.opts.json, `${JSON.stringify(this.results, null, 2)}\n`);
  }
}

main().catch(async (error) => {
  await cleanUp();
  if (error instanceof UsageError) console.error(error.message);
  else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
