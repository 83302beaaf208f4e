// `npm run bench:rollout`: the StoreSchema rollout benchmark of issue 13. N existing store databases on the
// local PostgreSQL (and M on the local MariaDB) use a StoreSchema; a new version adds a column with a default
// to products and an index on it. Measured: the time from the new version's apply until the StoreSchema is
// Complete, the operator's peak connections per database server and its RSS; beside a baseline in the same
// run: a shell loop applying the same statements (another column name) with psql / mysql to every database,
// one after another, the script a user would otherwise write. See bench/README.md, "Rollout".
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { z } from 'zod';
import { type Cluster, createNamespace, newNamespaceName, openCluster, removeNamespace } from './fleet/cluster.js';
import { ConnectionSampler, localPorts } from './fleet/connections.js';
import { eachLimited } from './fleet/kube-http.js';
import { assertBuilt, buildOperator, type Operator, startOperator } from './fleet/operator.js';
import { createMasterDatabase, dropFleetObjects, withClient } from './fleet/postgres.js';
import { atMost, fmt, load, machine, type Row, row, table } from './fleet/report.js';
import { GROUP_PATH } from './fleet/tracker.js';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`${line}\n`);

const USAGE = `usage: npm run bench:rollout -- [flags]

  --postgres N           store databases on PostgreSQL (default 1000)
  --mariadb N            store databases on MariaDB (default 0; the issue's MariaDB run uses at least 200)
  --max-concurrent N     spec.rollout.maxConcurrent (default 10)
  --per-server N         spec.rollout.maxConcurrentPerServer (default 4)
  --workers N            the operator's --max-concurrent-reconciles (default 8)
  --create-concurrency N concurrent Store creates while the fleet is set up (default 20)
  --postgres-url URL     admin URL of the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
  --mysql-url URL        admin URL of the MariaDB server (default mysql://root@127.0.0.1:3306/)
  --json FILE            also write the results as JSON
  --operator-log FILE    append the operator's log to FILE
  --operator-node-options=OPTS  extra node flags for the operator, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --no-build             run the operator from the existing dist/ (default: build it first)`;

const count = (flag: string, min: number, max: number) =>
  z.coerce
    .number({ message: `--${flag} must be a number` })
    .int(`--${flag} must be a whole number`)
    .min(min, `--${flag} must be at least ${min}`)
    .max(max, `--${flag} must be at most ${max}`);

const optionsSchema = z
  .object({
    postgres: count('postgres', 0, 20_000).default(1000),
    mariadb: count('mariadb', 0, 20_000).default(0),
    'max-concurrent': count('max-concurrent', 1, 1000).default(10),
    'per-server': count('per-server', 1, 100).default(4),
    workers: count('workers', 1, 256).default(8),
    'create-concurrency': count('create-concurrency', 1, 200).default(20),
    'postgres-url': z
      .string()
      .regex(/^postgres(ql)?:\/\//, '--postgres-url must be a postgres:// URL')
      .default('postgres://postgres@127.0.0.1:5432/postgres'),
    'mysql-url': z
      .string()
      .regex(/^mysql:\/\//, '--mysql-url must be a mysql:// URL')
      .default('mysql://root@127.0.0.1:3306/'),
    json: z.string().min(1, '--json must name a file').optional(),
    'operator-log': z.string().min(1, '--operator-log must name a file').optional(),
    'operator-node-options': z.string().min(1, '--operator-node-options must not be empty').optional(),
    'no-build': z.boolean().default(false),
    help: z.boolean().default(false),
  })
  .strict()
  .refine((o) => o.postgres + o.mariadb > 0, '--postgres and --mariadb cannot both be 0');
type Options = z.infer<typeof optionsSchema>;

function parseOptions(argv: string[]): Options {
  const spec = {
    postgres: { type: 'string' },
    mariadb: { type: 'string' },
    'max-concurrent': { type: 'string' },
    'per-server': { type: 'string' },
    workers: { type: 'string' },
    'create-concurrency': { type: 'string' },
    'postgres-url': { type: 'string' },
    'mysql-url': { type: 'string' },
    json: { type: 'string' },
    'operator-log': { type: 'string' },
    'operator-node-options': { type: 'string' },
    'no-build': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${USAGE}`);
  }
  const parsed = optionsSchema.safeParse(values);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('\n'));
  return parsed.data;
}

// The schema the fleet uses: version 1 a small catalogue, version 2 adds products.featured (with a default)
// and an index on it, the change of the issue.
const RUN = randomBytes(3).toString('hex');
const SCHEMA = `bench-rollout-${RUN}`;
const SLUG_PREFIX = `rb${RUN}-`;
const DATABASE_PREFIX = `store_rb${RUN}_`;
const products = {
  columns: {
    id: { kind: 'id' },
    sku: { kind: 'string', length: 64 },
    name: { kind: 'string', length: 255 },
    price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
    created_at: { kind: 'timestamp', default: 'now' },
  },
  indexes: [{ columns: ['sku'], unique: true }],
};
const v2Products = {
  columns: { ...products.columns, featured: { kind: 'boolean', default: false } },
  indexes: [...products.indexes, { columns: ['featured'] }],
};
/** The baseline's statements: the same change under another name, so neither run finds the other's work done. */
const BASELINE_SQL = {
  postgres:
    'ALTER TABLE products ADD COLUMN baseline_flag boolean NOT NULL DEFAULT false; CREATE INDEX idx_products_baseline_flag ON products (baseline_flag);',
  mysql:
    'ALTER TABLE products ADD COLUMN baseline_flag tinyint(1) NOT NULL DEFAULT 0; CREATE INDEX idx_products_baseline_flag ON products (baseline_flag);',
};

function schemaObject(version: string, tables: Record<string, unknown>, options: Options) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreSchema',
    metadata: { name: SCHEMA },
    spec: {
      version,
      tables,
      rollout: { maxConcurrent: options['max-concurrent'], maxConcurrentPerServer: options['per-server'], failureBudget: '5%' },
    },
  };
}

interface SchemaStatus {
  phase?: string;
  version?: string;
  updated?: number;
  total?: number;
  message?: string;
}

async function schemaStatus(cluster: Cluster): Promise<SchemaStatus> {
  const object = await cluster.kube.call<{ status?: SchemaStatus }>('GET', `${GROUP_PATH}/storeschemas/${SCHEMA}`);
  return object?.status ?? {};
}

/** Peak connections of the operator to the MariaDB server (all of them are store work: the master is PostgreSQL). */
class MysqlPeak {
  peak = 0;
  readonly #timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    port: number,
  ) {
    this.#timer = setInterval(() => {
      try {
        this.peak = Math.max(this.peak, localPorts(this.pid, port).size);
      } catch {
        // the process ended
      }
    }, 250);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Operator RSS, sampled while it works. */
class RssPeak {
  peak = 0;
  readonly #timer: NodeJS.Timeout;
  constructor(operator: Operator) {
    this.#timer = setInterval(() => {
      try {
        this.peak = Math.max(this.peak, operator.rss());
      } catch {
        // the process ended
      }
    }, 500);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** The baseline: one psql (mysql) process per database, one database after another. */
async function baseline(engine: 'postgresql' | 'mysql', databases: string[], options: Options): Promise<number> {
  const started = performance.now();
  const url = new URL(engine === 'postgresql' ? options['postgres-url'] : options['mysql-url']);
  const user = decodeURIComponent(url.username || (engine === 'postgresql' ? 'postgres' : 'root'));
  const script =
    engine === 'postgresql'
      ? `for db in ${databases.join(' ')}; do psql -q -X -v ON_ERROR_STOP=1 -h ${url.hostname} -p ${url.port || 5432} -U ${user} -d "$db" -c "${BASELINE_SQL.postgres}" || exit 1; done`
      : `for db in ${databases.join(' ')}; do mysql -h ${url.hostname} -P ${url.port || 3306} -u ${user} "$db" -e "${BASELINE_SQL.mysql}" || exit 1; done`;
  await run('bash', ['-c', script], { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) } });
  return (performance.now() - started) / 1000;
}

interface Timeline {
  inFlightMs: { median: number; p90: number };
  refillMs: { median: number; p90: number };
  meanInFlight: number;
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/**
 * Where the rollout's time went, from the master DB's admissions of version 2: how long each store was in
 * flight (the schema work and its records), how long a freed slot waited for the next admission (the
 * controller's share), and how many stores were in flight on average (the concurrency actually used).
 */
async function admissionTimeline(masterUrl: string, seconds: number): Promise<Timeline> {
  const rows = await withClient(masterUrl, (c) =>
    c.query<{ admitted: Date; finished: Date | null }>(
      'SELECT admitted_at AS admitted, finished_at AS finished FROM schema_rollout_stores WHERE schema_name = $1 AND version = $2 ORDER BY admitted_at',
      [SCHEMA, '2'],
    ),
  ).then((r) => r.rows.filter((x) => x.finished !== null) as Array<{ admitted: Date; finished: Date }>);
  const inFlight = rows.map((r) => r.finished.getTime() - r.admitted.getTime());
  const finishes = rows.map((r) => r.finished.getTime()).sort((a, b) => a - b);
  const refill: number[] = [];
  for (const r of rows) {
    const at = r.admitted.getTime();
    let before: number | undefined;
    for (const f of finishes) if (f <= at) before = f;
    if (before !== undefined) refill.push(at - before);
  }
  return {
    inFlightMs: { median: quantile(inFlight, 0.5), p90: quantile(inFlight, 0.9) },
    refillMs: { median: quantile(refill, 0.5), p90: quantile(refill, 0.9) },
    meanInFlight: inFlight.reduce((a, b) => a + b, 0) / 1000 / Math.max(seconds, 0.001),
  };
}

async function dropMysqlFleet(mysqlUrl: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  try {
    const [dbs] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?',
      [`${DATABASE_PREFIX}%`],
    );
    for (const db of dbs) await conn.query(`DROP DATABASE IF EXISTS \`${String(db.name)}\``);
    const [users] = await conn.query<mysql.RowDataPacket[]>('SELECT user AS user, host AS host FROM mysql.user WHERE user LIKE ?', [
      `${DATABASE_PREFIX}%`,
    ]);
    for (const u of users) await conn.query('DROP USER IF EXISTS ?@?', [String(u.user), String(u.host)]);
  } finally {
    await conn.end();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (options['no-build']) assertBuilt();
  else buildOperator();
  const started = new Date().toISOString();
  const loadAtStart = load();
  const cleanups: Array<() => Promise<unknown>> = [];
  // A stopped run drops its databases, roles, namespace and control plane too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanUp(cleanups).finally(() => process.exit(130));
    });
  }
  const results: Record<string, unknown> = { startedAt: started, machine: machine(), loadAtStart, options };
  try {
    log('starting the control plane');
    const cluster = await openCluster(undefined);
    cleanups.push(() => cluster.stop());
    const masterName = `storeop_rollout_bench_${RUN}`;
    const masterUrl = await createMasterDatabase(options['postgres-url'], masterName);
    cleanups.push(() => withClient(options['postgres-url'], (c) => c.query(`DROP DATABASE IF EXISTS "${masterName}" WITH (FORCE)`)));
    cleanups.push(() => dropFleetObjects(options['postgres-url'], DATABASE_PREFIX));
    if (options.mariadb > 0) cleanups.push(() => dropMysqlFleet(options['mysql-url']));
    const namespace = newNamespaceName('rollout');
    await createNamespace(cluster.kube, namespace);
    cleanups.push(() => removeNamespace(cluster.kube, namespace));
    const pg = new URL(options['postgres-url']);
    const my = new URL(options['mysql-url']);
    for (const [name, url, user] of [
      ['pg-admin', pg, 'postgres'],
      ['my-admin', my, 'root'],
    ] as const) {
      await cluster.kube.call('POST', `/api/v1/namespaces/${namespace}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        stringData: { username: decodeURIComponent(url.username || user), password: decodeURIComponent(url.password) },
      });
    }
    const operator = await startOperator({
      kubeconfig: cluster.operatorKubeconfig,
      masterUrl,
      workers: options.workers,
      resyncPeriodMs: 3_600_000,
      logFile: options['operator-log'],
      nodeOptions: options['operator-node-options']?.split(/\s+/),
    });
    cleanups.push(() => operator.stop());
    await cluster.kube.call('POST', `${GROUP_PATH}/storeschemas`, schemaObject('1', { products }, options));
    cleanups.push(() => cluster.kube.call('DELETE', `${GROUP_PATH}/storeschemas/${SCHEMA}`, undefined, true));

    // The existing fleet: N Stores at version 1, provisioned by the operator.
    const fleet = [
      ...Array.from({ length: options.postgres }, (_, i) => ({ slug: `${SLUG_PREFIX}p${i}`, engine: 'postgresql' as const })),
      ...Array.from({ length: options.mariadb }, (_, i) => ({ slug: `${SLUG_PREFIX}m${i}`, engine: 'mysql' as const })),
    ];
    log(`creating ${fleet.length} stores (${options.postgres} PostgreSQL, ${options.mariadb} MariaDB)`);
    const setupStarted = performance.now();
    await eachLimited(fleet, options['create-concurrency'], async ({ slug, engine }) => {
      const server =
        engine === 'postgresql'
          ? { host: pg.hostname, port: Number(pg.port || 5432), adminSecretRef: { name: 'pg-admin' } }
          : { host: my.hostname, port: Number(my.port || 3306), adminSecretRef: { name: 'my-admin' } };
      await cluster.kube.call('POST', `${GROUP_PATH}/namespaces/${namespace}/stores`, {
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'Store',
        metadata: { name: slug },
        spec: {
          displayName: slug,
          schemaRef: { name: SCHEMA },
          database: { engine, mode: 'create', server, seed: false, deletionPolicy: 'Retain' },
        },
      });
    });
    await waitFor('the fleet at version 1', 4 * 3_600_000, async () => {
      const [row] = await withClient(masterUrl, (c) =>
        c.query<{ n: number }>('SELECT count(*)::int AS n FROM stores WHERE schema_name = $1 AND schema_version = $2', [SCHEMA, '1']),
      ).then((r) => r.rows);
      return row && row.n >= fleet.length ? true : undefined;
    });
    await waitFor('version 1 Complete', 600_000, async () => {
      const s = await schemaStatus(cluster);
      return s.phase === 'Complete' && s.version === '1' ? s : undefined;
    });
    results.setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`fleet ready in ${fmt(results.setupSeconds as number)} s`);

    // The rollout of version 2.
    const pgSampler = await ConnectionSampler.start(options['postgres-url'], masterName, operator.pid);
    const myPeak = new MysqlPeak(operator.pid, Number(my.port || 3306));
    const rss = new RssPeak(operator);
    const loadBeforeRollout = load();
    const rolloutStarted = performance.now();
    await cluster.kube.call('PATCH', `${GROUP_PATH}/storeschemas/${SCHEMA}`, {
      spec: schemaObject('2', { products: v2Products }, options).spec,
    });
    const final = await waitFor('version 2 Complete', 4 * 3_600_000, async () => {
      const s = await schemaStatus(cluster);
      return s.version === '2' && (s.phase === 'Complete' || s.phase === 'Failed' || s.phase === 'Paused') ? s : undefined;
    });
    const rolloutSeconds = (performance.now() - rolloutStarted) / 1000;
    await pgSampler.stop();
    myPeak.stop();
    rss.stop();
    log(`rollout ${final.phase} in ${fmt(rolloutSeconds)} s (${final.updated}/${final.total})`);

    const timeline = await admissionTimeline(masterUrl, rolloutSeconds);

    // The baseline, after the rollout: the same statements, one database after another.
    const databases = await withClient(options['postgres-url'], (c) =>
      c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname', [
        `${DATABASE_PREFIX.replaceAll('_', '\\_')}%`,
      ]),
    ).then((r) => r.rows.map((d) => d.datname));
    log(`baseline: psql over ${databases.length} databases`);
    const baselinePg = databases.length ? await baseline('postgresql', databases, options) : 0;
    let baselineMy = 0;
    if (options.mariadb > 0) {
      const conn = await mysql.createConnection({ uri: options['mysql-url'] });
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ? ORDER BY schema_name',
        [`${DATABASE_PREFIX}%`],
      );
      await conn.end();
      log(`baseline: mysql over ${rows.length} databases`);
      baselineMy = await baseline(
        'mysql',
        rows.map((r) => String(r.name)),
        options,
      );
    }
    const baselineSeconds = baselinePg + baselineMy;
    const peaks = pgSampler.peaks;
    const rows: Row[] = [
      row('stores', `${options.postgres} PostgreSQL + ${options.mariadb} MariaDB`),
      row('rollout phase', `${final.phase} (${final.updated}/${final.total})`, 'Complete', final.phase === 'Complete' ? 'met' : 'missed'),
      row(
        'time to Complete',
        `${fmt(rolloutSeconds)} s`,
        `<= 300 s per 1000 stores`,
        atMost(rolloutSeconds, (300 * fleet.length) / 1000, ' s'),
      ),
      row('baseline (psql/mysql loop)', `${fmt(baselineSeconds)} s`, '-', `psql ${fmt(baselinePg)} s, mysql ${fmt(baselineMy)} s`),
      row(
        'rollout / baseline',
        `${(rolloutSeconds / Math.max(baselineSeconds, 0.001)).toFixed(2)}x`,
        '<= 1.0x',
        atMost(rolloutSeconds / baselineSeconds, 1, 'x'),
      ),
      row(
        'peak connections, PostgreSQL (schema work)',
        String(peaks.admin + peaks.stores),
        `<= ${options['per-server'] + 2}`,
        atMost(peaks.admin + peaks.stores, options['per-server'] + 2),
      ),
      row('  of which admin / store roles / master', `${peaks.admin} / ${peaks.stores} / ${peaks.master}`),
      ...(options.mariadb > 0
        ? [
            row(
              'peak connections, MariaDB',
              String(myPeak.peak),
              `<= ${options['per-server'] + 2}`,
              atMost(myPeak.peak, options['per-server'] + 2),
            ),
          ]
        : []),
      row('operator RSS, peak during the rollout', `${fmt(rss.peak)} MB`),
      row('per store: admitted -> finished, median / p90', `${fmt(timeline.inFlightMs.median)} / ${fmt(timeline.inFlightMs.p90)} ms`),
      row(
        'slot refill: a finish -> the next admission, median / p90',
        `${fmt(timeline.refillMs.median)} / ${fmt(timeline.refillMs.p90)} ms`,
      ),
      row('stores in flight on average', fmt(timeline.meanInFlight)),
      row('load average before / after', `${loadBeforeRollout.join(' ')} / ${load().join(' ')}`),
    ];
    Object.assign(results, {
      rolloutSeconds,
      baselineSeconds: { postgres: baselinePg, mysql: baselineMy },
      peaks: { postgres: peaks, mariadb: myPeak.peak },
      rssPeakMb: rss.peak,
      timeline,
      final,
      loadAtEnd: load(),
      rows,
    });
    process.stdout.write(
      `${table(`StoreSchema rollout (${fleet.length} stores, ${machine().nproc} cores, load ${loadAtStart.join(' ')})`, rows)}\n`,
    );
  } finally {
    await cleanUp(cleanups);
    if (options.json) writeFileSync(options.json, `${JSON.stringify(results, null, 2)}\n`);
  }
}

/** Runs the cleanups once, newest first: at the end, after an error, or on Ctrl-C / SIGTERM. */
let cleaning: Promise<void> | undefined;
function cleanUp(cleanups: Array<() => Promise<unknown>>): Promise<void> {
  cleaning ??= (async () => {
    for (const step of [...cleanups].reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup failed: ${(error as Error).message}`);
        process.exitCode = 1;
      }
    }
  })();
  return cleaning;
}

main().catch((error: unknown) => {
  log((error as Error).message);
  process.exitCode = 1;
});
