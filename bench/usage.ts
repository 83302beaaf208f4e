// `npm run bench:usage`: one usage collection (issue 16) over N schema-isolated stores in one database on
// the local PostgreSQL, each seeded with products, customers and orders. Measured: the collection's time,
// the peak sessions on the server (store database and master database), and the SQL round trips per store
// counted server-side (pg_stat_database transactions of the store database); beside a baseline in the same
// run: a psql loop sending the same statement as each store's role, one store after another.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import { openMaster } from '../src/master/database.js';
import { saveDatabaseConfig } from '../src/master/integrations.js';
import { Keyring } from '../src/master/keyring.js';
import { setDatabaseFacts, upsertStore } from '../src/master/stores.js';
import { collectUsage } from '../src/stores/usage/collector.js';
import { sampleQuery } from '../src/stores/usage/sample-query.js';
import { createMasterDatabase, dropFleetObjects, statDelta, statSnapshot, withClient } from './fleet/postgres.js';
import { atMost, fmt, load, machine, type Row, row, table } from './fleet/report.js';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`${line}\n`);

const USAGE = `usage: npm run bench:usage -- [flags]

  --stores N           schema-isolated stores (default 1000)
  --orders N           orders per store, 2 items each (default 10)
  --per-server N       the collector's sessions per database server (default 4)
  --postgres-url URL   admin URL of the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
  --json FILE          also write the results as JSON`;

const options = z
  .object({
    stores: z.coerce.number().int().min(1).max(20_000).default(1000),
    orders: z.coerce.number().int().min(0).max(1000).default(10),
    'per-server': z.coerce.number().int().min(1).max(64).default(4),
    'postgres-url': z
      .string()
      .regex(/^postgres(ql)?:\/\//, '--postgres-url must be a postgres:// URL')
      .default('postgres://postgres@127.0.0.1:5432/postgres'),
    json: z.string().optional(),
  })
  .strict();

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Every store: a role, its schema and the four tables the collector counts, seeded. One psql script. */
function setupScript(prefix: string, database: string, stores: number, orders: number): string {
  const lines = [`\\connect ${database}`, 'SET client_min_messages = warning;'];
  for (let i = 0; i < stores; i++) {
    const role = `${prefix}r${i}`;
    lines.push(
      `CREATE ROLE ${quote(role)} LOGIN PASSWORD 'pw-${role}';`,
      `CREATE SCHEMA ${quote(role)} AUTHORIZATION ${quote(role)};`,
      `SET ROLE ${quote(role)}; SET search_path = ${quote(role)};`,
      'CREATE TABLE products (id bigserial PRIMARY KEY, sku varchar(64) NOT NULL, name varchar(255) NOT NULL, price decimal(12,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE customers (id bigserial PRIMARY KEY, email varchar(191) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE orders (id bigserial PRIMARY KEY, order_number varchar(32) NOT NULL, total decimal(12,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());',
      'CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders(id), total decimal(12,2) NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());',
      "INSERT INTO products (sku, name, price) SELECT 'p' || g, 'Product ' || g, 9.99 FROM generate_series(1, 5) g;",
      "INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 3) g;",
      `INSERT INTO orders (order_number, total) SELECT 'o' || g, 10.25 * g FROM generate_series(1, ${orders}) g;`,
      'INSERT INTO order_items (order_id, total) SELECT o.id, 1.00 FROM orders o, generate_series(1, 2);',
      'RESET ROLE;',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Peak sessions per database while `fn` runs, sampled every 25 ms from pg_stat_activity. */
async function peakSessions<T>(
  adminUrl: string,
  databases: string[],
  fn: () => Promise<T>,
): Promise<{ result: T; peaks: Record<string, number>; total: number }> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const peaks: Record<string, number> = Object.fromEntries(databases.map((d) => [d, 0]));
  let total = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const r = await client.query<{ datname: string; n: number }>(
        'SELECT datname, count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY($1) GROUP BY datname',
        [databases],
      );
      let sum = 0;
      for (const { datname, n } of r.rows) {
        peaks[datname] = Math.max(peaks[datname] ?? 0, n);
        sum += n;
      }
      total = Math.max(total, sum);
      await sleep(25);
    }
  })();
  try {
    return { result: await fn(), peaks, total };
  } finally {
    done = true;
    await sampling;
    await client.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stores: { type: 'string' },
      orders: { type: 'string' },
      'per-server': { type: 'string' },
      'postgres-url': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const parsed = options.safeParse(Object.fromEntries(Object.entries(values).filter(([k]) => k !== 'help')));
  if (!parsed.success) throw new Error(`${parsed.error.issues[0]?.message}\n${USAGE}`);
  const o = parsed.data;
  const adminUrl = o['postgres-url'];
  const rid = randomBytes(3).toString('hex');
  const prefix = `store_usage_bench_${rid}_`;
  const storesDb = `${prefix}stores`;
  const loadBefore = load();
  log(`load before: ${loadBefore.join(' ')}`);
  try {
    // Set-up, not measured: the store database, N roles and schemas with rows, the master DB with N stores.
    let t = performance.now();
    await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${quote(storesDb)}`));
    const script = `/tmp/${prefix}setup.sql`;
    writeFileSync(script, setupScript(prefix, storesDb, o.stores, o.orders));
    await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', adminUrl, '-f', script], { maxBuffer: 64 * 1024 * 1024 });
    log(`created ${o.stores} schema-isolated stores in ${fmt((performance.now() - t) / 1000)}s`);
    const masterUrl = await createMasterDatabase(adminUrl, `${prefix}master`);
    const master = await openMaster({ url: masterUrl });
    const keyring = Keyring.parse(Keyring.generateSpec('bench'));
    const server = new URL(adminUrl);
    t = performance.now();
    const slugs = Array.from({ length: o.stores }, (_, i) => i);
    for (let next = 0; next < slugs.length; ) {
      await Promise.all(
        slugs.slice(next, next + 8).map(async (i) => {
          const role = `${prefix}r${i}`;
          const store = await upsertStore(master.db, { slug: `usage-bench-${rid}-${i}`, name: `Bench ${i}`, plan: 'free' });
          await saveDatabaseConfig(master.db, keyring, store.id, {
            engine: 'postgresql',
            host: server.hostname,
            port: Number(server.port || 5432),
            database: storesDb,
            schema: role,
            user: role,
            password: `pw-${role}`,
          });
          await setDatabaseFacts(master.db, store.id, { status: 'active', type: 'postgresql', host: server.hostname, name: storesDb });
        }),
      );
      next += 8;
    }
    log(`registered them in the master DB in ${fmt((performance.now() - t) / 1000)}s`);

    // storeop's collector, on a master pool of its own (the set-up's idle connections closed), as a process
    // that starts and collects, like storeop usage collect.
    await master.close();
    const collecting = await openMaster({ url: masterUrl, migrate: false });
    await sleep(1500); // set-up statistics flushed before the first snapshot
    const before = await statSnapshot(adminUrl, masterUrl, storesDb);
    const loadAtStart = load();
    t = performance.now();
    const measured = await peakSessions(adminUrl, [storesDb, `${prefix}master`], () =>
      collectUsage({ master: collecting, keyring }, { perServer: o['per-server'] }),
    );
    const collectorSeconds = (performance.now() - t) / 1000;
    await sleep(1500); // backends flush their statistics on exit; a moment for the last ones
    const collectorDelta = statDelta(before, await statSnapshot(adminUrl, masterUrl, storesDb));
    const report = measured.result;
    const sampled = report.stores.filter((s) => s.sampled).length;
    const failed = report.stores.filter((s) => s.error);
    if (failed.length) throw new Error(`${failed.length} stores failed, e.g. ${failed[0]?.slug}: ${failed[0]?.error}`);
    const collectorProducts = report.stores.reduce((sum, s) => sum + s.figures.maxProducts, 0);

    // Baseline: a psql loop, one store after another, the same statement as each store's role.
    const { sql: statement } = sampleQuery('postgres', new Date());
    const literal = statement.replaceAll(
      '$1',
      `'${new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1)).toISOString()}'::timestamptz`,
    );
    const beforeLoop = await statSnapshot(adminUrl, masterUrl, storesDb);
    t = performance.now();
    let loopProducts = 0;
    const loop = await peakSessions(adminUrl, [storesDb], async () => {
      for (const i of slugs) {
        const role = `${prefix}r${i}`;
        const { stdout } = await run(
          'psql',
          ['-X', '-At', '-F', '\t', '-h', server.hostname, '-p', server.port || '5432', '-U', role, '-d', storesDb, '-c', literal],
          { env: { ...process.env, PGPASSWORD: `pw-${role}`, PGOPTIONS: `-c search_path=${role}` } },
        );
        loopProducts += Number(stdout.split('\t')[0]);
      }
    });
    const loopSeconds = (performance.now() - t) / 1000;
    await sleep(1500);
    const loopDelta = statDelta(beforeLoop, await statSnapshot(adminUrl, masterUrl, storesDb));
    const loadAfter = load();
    if (loopProducts !== collectorProducts)
      throw new Error(`the psql loop counted ${loopProducts} products, the collector ${collectorProducts}`);

    const perStore = collectorDelta.stores.transactions / o.stores;
    const loopPerStore = loopDelta.stores.transactions / o.stores;
    const m = machine();
    const rows: Row[] = [
      row('stores collected', `${sampled}/${o.stores}`),
      row('storeop: one collection', `${fmt(collectorSeconds)} s`, '<= 60 s', atMost(collectorSeconds, 60, ' s')),
      row('storeop: peak sessions, store database', String(measured.peaks[storesDb] ?? 0), `<= ${o['per-server']} (--per-server)`),
      row('storeop: peak sessions, master DB', String(measured.peaks[`${prefix}master`] ?? 0)),
      row('storeop: peak sessions, server (stores + master DB)', String(measured.total), '<= 10', atMost(measured.total, 10)),
      // A session's start-up runs one transaction of its own (reading the catalogs): counted on both sides.
      row('storeop: round trips per store (server-side)', fmt(perStore, 2), '<= 2', atMost(perStore, 2)),
      row('storeop: sessions per store', fmt(collectorDelta.stores.sessions / o.stores, 2)),
      row('storeop: master DB transactions per store', fmt(collectorDelta.master.transactions / o.stores, 2)),
      row('baseline psql loop', `${fmt(loopSeconds)} s`, '', `storeop ${fmt(loopSeconds / collectorSeconds, 2)}x faster`),
      row('baseline: round trips per store (server-side)', fmt(loopPerStore, 2)),
      row('baseline: peak sessions, store database', String(loop.peaks[storesDb] ?? 0)),
      row('products counted (storeop = psql loop)', String(collectorProducts)),
    ];
    process.stdout.write(
      `${table(`usage collection: ${o.stores} schema-isolated stores, ${o.orders} orders each, PostgreSQL`, rows)}\n` +
        `machine: ${m.nproc} cores, ${m.cpuModel}, ${fmt(m.memoryGiB)} GiB, node ${m.node}; ` +
        `load ${loadBefore.join(' ')} (before set-up), ${loadAtStart.join(' ')} (collection start), ${loadAfter.join(' ')} (end)\n`,
    );
    if (o.json) writeFileSync(o.json, JSON.stringify({ rows, machine: m, load: { loadBefore, loadAtStart, loadAfter } }, null, 2));
    await collecting.close();
  } finally {
    const dropped = await dropFleetObjects(adminUrl, prefix);
    log(`dropped ${dropped.databases} databases and ${dropped.roles} roles`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:usage failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
