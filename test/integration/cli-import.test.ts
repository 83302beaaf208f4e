// `storeop import` as a platform runs it: a legacy database in the platform's default shape (on PostgreSQL,
// and the same stores in a SQLite file) lists 30 stores on the local PostgreSQL and MariaDB servers: some
// complete, some missing tables, one with a column of another type, one unreachable, one with a wrong
// password. The CLI runs as its own process; the dry run, the manifests (admitted by kube-apiserver in a
// server-side dry run), --apply (killed mid-way, then run again) and a second, idempotent run are checked,
// and no run prints a legacy credential.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CoreV1Api, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { SqlDialect } from '../../src/schema/dialect.js';
import { planSchema } from '../../src/schema/plan.js';
import { storeSchema } from '../../src/schema/store-schema.js';
import { runEveryStep } from '../support/cleanup.js';
import { type CliRun, killRunningCli, runStoreop } from '../support/cli.js';
import { POSTGRES_URL, withDatabase } from '../support/databases.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { postgresMaster, type TestMaster } from '../support/master.js';
import { nodeBinary, repoRoot, storeopArgs } from '../support/paths.js';
import {
  HISTORY_TABLE,
  mysqlAdmin,
  mysqlEndpoint,
  openMysql,
  openPostgres,
  postgresAdmin,
  STORE_TABLES,
  type StoreDb,
  withStoreDb,
} from '../support/store-db.js';

const RUN_TIMEOUT_MS = 600_000;
const TEST_TIMEOUT_MS = 900_000;
/** Creating and dropping 17 PostgreSQL and 14 MariaDB databases on a loaded machine. */
const SETUP_TIMEOUT_MS = 900_000;

const prefix = `imp${randomBytes(3).toString('hex')}`;
const PG_PASSWORD = `Pg-legacy-S3cret-${randomBytes(6).toString('hex')}`;
const MY_PASSWORD = `My-legacy-S3cret-${randomBytes(6).toString('hex')}`;
const WRONG_PASSWORD = `Wrong-S3cret-${randomBytes(6).toString('hex')}`;
const FROM_PASSWORD = `From-S3cret-${randomBytes(6).toString('hex')}`; // in --from: trust auth ignores it
const MY_USER = `${prefix}_u`;
/** The tables a store "missing tables" keeps (closed under its foreign keys). */
const KEPT = ['categories', 'customers', 'products'];

type Variant = 'complete' | 'missing' | 'conflict' | 'unreachable' | 'wrong-password';
interface LegacyStore {
  slug: string;
  database: string;
  engine: 'postgresql' | 'mysql';
  variant: Variant;
}

// 30 stores: 16 on PostgreSQL, 14 on MariaDB.
const stores: LegacyStore[] = [
  ...Array.from({ length: 16 }, (_, i): LegacyStore => {
    const n = String(i + 1).padStart(2, '0');
    const variant: Variant = i < 10 ? 'complete' : i < 14 ? 'missing' : i === 14 ? 'conflict' : 'unreachable';
    return { slug: `${prefix}-p${n}`, database: `${prefix}_p${n}`, engine: 'postgresql', variant };
  }),
  ...Array.from({ length: 14 }, (_, i): LegacyStore => {
    const n = String(i + 1).padStart(2, '0');
    const variant: Variant = i < 9 ? 'complete' : i < 13 ? 'missing' : 'wrong-password';
    return { slug: `${prefix}-m${n}`, database: `${prefix}_m${n}`, engine: 'mysql', variant };
  }),
];
const failing = stores.filter((s) => ['conflict', 'unreachable', 'wrong-password'].includes(s.variant));
const importable = stores.filter((s) => !failing.includes(s));
const byVariant = (variant: Variant) => stores.filter((s) => s.variant === variant);

const tempDirs: string[] = [];
const outputs: string[] = [];
let closedPort = 0;
let legacyUrl = '';
let sqliteUrl = '';
let master: TestMaster | undefined;

/** Every statement that makes storeop's store schema (tables, indexes, foreign keys), in order; `keep` limits the tables. */
async function storeDdl(dialect: SqlDialect, keep?: readonly string[]): Promise<string[]> {
  const plan = await planSchema(storeSchema, { tableNames: [], tables: new Map() }, dialect, async () => false);
  return plan.changes.filter((c) => !keep || keep.includes(c.table)).map((c) => c.statement.sql);
}

const LEGACY_ROWS = [
  "insert into categories (name, slug, position) values ('Legacy category', 'legacy-cat', 1)",
  "insert into products (sku, slug, name, price, category_id) values ('SKU-1', 'legacy-widget', 'Legacy widget', 12.50, 1)",
  "insert into customers (email) values ('legacy-buyer@example.com')",
];

async function freePortThenClose(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function configOf(store: LegacyStore): Record<string, unknown> {
  if (store.engine === 'postgresql')
    return {
      host: '127.0.0.1',
      port: store.variant === 'unreachable' ? closedPort : 5432,
      database: store.database,
      username: 'postgres',
      password: PG_PASSWORD,
    };
  return {
    host: '127.0.0.1',
    port: String(mysqlEndpoint().port), // some platforms keep the port as a string
    database: store.database,
    username: MY_USER,
    password: store.variant === 'wrong-password' ? WRONG_PASSWORD : MY_PASSWORD,
  };
}

const PLANS = ['free', 'starter', 'professional', 'enterprise'];

async function buildStoreDatabases(): Promise<void> {
  const template = `${prefix}_tpl`;
  await postgresAdmin((c) => c.query(`create database ${template}`));
  await postgresAdmin(async (c) => {
    for (const statement of await storeDdl('postgres')) await c.query(statement);
    for (const statement of LEGACY_ROWS) await c.query(statement);
  }, template);
  // Copies of one template: 15 databases in seconds.
  for (const store of stores.filter((s) => s.engine === 'postgresql' && s.variant !== 'unreachable')) {
    await postgresAdmin((c) => c.query(`create database ${store.database} template ${template}`));
    if (store.variant === 'missing')
      await postgresAdmin(async (c) => {
        for (const table of STORE_TABLES.filter((t) => !KEPT.includes(t))) await c.query(`drop table ${table} cascade`);
      }, store.database);
    if (store.variant === 'conflict')
      await postgresAdmin((c) => c.query('alter table products alter column price type text'), store.database);
  }
  const full = await storeDdl('mysql');
  const kept = await storeDdl('mysql', KEPT);
  await mysqlAdmin([`create user '${MY_USER}'@'%' identified by '${MY_PASSWORD}'`]);
  const conn = await mysql.createConnection(mysqlEndpoint());
  try {
    for (const store of stores.filter((s) => s.engine === 'mysql')) {
      await conn.query(`create database \`${store.database}\``);
      await conn.query(`grant all on \`${store.database}\`.* to '${MY_USER}'@'%'`);
      await conn.query(`use \`${store.database}\``);
      for (const statement of store.variant === 'missing' ? kept : full) await conn.query(statement);
      for (const statement of LEGACY_ROWS) await conn.query(statement);
    }
  } finally {
    await conn.end();
  }
}

/** The legacy platform database in its default shape: on PostgreSQL (uuid ids, jsonb) and in SQLite (integer ids, JSON text). */
async function buildLegacyDatabases(dir: string): Promise<void> {
  const legacy = `${prefix}_legacy`;
  await postgresAdmin((c) => c.query(`create database ${legacy}`));
  await postgresAdmin(async (c) => {
    await c.query(`create table stores (id uuid primary key default gen_random_uuid(), name text not null, slug text unique not null,
      owner_id uuid, database_type text, database_host text, database_name text, database_status text, subscription_plan text)`);
    await c.query(`create table integration_configs (id serial primary key, store_id uuid references stores(id), integration_type text,
      config_data jsonb, is_active boolean)`);
    for (const [i, store] of stores.entries()) {
      const config = configOf(store);
      const { rows } = await c.query<{ id: string }>(
        `insert into stores (name, slug, owner_id, database_type, database_host, database_name, database_status, subscription_plan)
         values ($1, $2, gen_random_uuid(), $3, '127.0.0.1', $4, 'active', $5) returning id`,
        [`Legacy store ${i + 1}`, store.slug, store.engine, store.database, PLANS[i % PLANS.length]],
      );
      const id = rows[0]?.id;
      // An older, inactive config of the first store: only the active one counts.
      if (i === 0)
        await c.query(`insert into integration_configs (store_id, integration_type, config_data, is_active) values ($1, $2, $3, false)`, [
          id,
          store.engine,
          JSON.stringify({ ...config, database: 'an_old_database' }),
        ]);
      await c.query(`insert into integration_configs (store_id, integration_type, config_data, is_active) values ($1, $2, $3, true)`, [
        id,
        store.engine,
        JSON.stringify(config),
      ]);
    }
  }, legacy);
  const url = new URL(withDatabase(POSTGRES_URL, legacy));
  url.password = FROM_PASSWORD;
  if (!url.username) url.username = 'postgres';
  legacyUrl = url.toString();

  const file = join(dir, 'platform.db');
  const db = new DatabaseSync(file);
  try {
    db.exec(`create table stores (id integer primary key, name text, slug text, owner_id integer, database_type text, database_host text,
      database_name text, database_status text, subscription_plan text);
      create table integration_configs (id integer primary key, store_id integer, integration_type text, config_data text, is_active integer);`);
    const insertStore = db.prepare(
      `insert into stores (id, name, slug, owner_id, database_type, database_host, database_name, database_status, subscription_plan)
       values (?, ?, ?, ?, ?, '127.0.0.1', ?, 'active', ?)`,
    );
    const insertConfig = db.prepare(
      'insert into integration_configs (store_id, integration_type, config_data, is_active) values (?, ?, ?, ?)',
    );
    for (const [i, store] of stores.entries()) {
      insertStore.run(
        i + 1,
        `Legacy store ${i + 1}`,
        store.slug,
        1000 + i,
        store.engine,
        store.database,
        PLANS[i % PLANS.length] as string,
      );
      insertConfig.run(i + 1, store.engine, JSON.stringify(configOf(store)), 1);
    }
  } finally {
    db.close();
  }
  sqliteUrl = `sqlite://${file}`;
}

function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('STOREOP_') && key !== 'CI' && key !== 'FORCE_COLOR') env[key] = value;
  return { ...env, ...extra };
}

async function storeop(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  const run = await runStoreop(['import', ...args], { cwd, env: cliEnv(env), timeoutMs: RUN_TIMEOUT_MS });
  outputs.push(run.stdout, run.stderr);
  return run;
}

const describeRun = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

/** The rows of the table formatTable printed (columns split on runs of two or more spaces), by STORE. */
function parseTable(text: string): Map<string, Record<string, string>> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('STORE '));
  expect(start, `no table in:\n${text}`).toBeGreaterThanOrEqual(0);
  const header = lines[start] as string;
  // Cells may hold single spaces: cut at the header's column starts.
  const names = header.trim().split(/\s{2,}/);
  const starts = names.map((n) => header.indexOf(n));
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(prefix)) break;
    const row = Object.fromEntries(names.map((n, i) => [n, line.slice(starts[i], starts[i + 1]).trim()]));
    rows.set(row.STORE as string, row);
  }
  return rows;
}

function openStore(store: LegacyStore): Promise<StoreDb> {
  return store.engine === 'postgresql' ? openPostgres(store.database) : openMysql(store.database);
}

async function tablesOf(db: StoreDb): Promise<string[]> {
  const rows =
    db.dialect === 'postgres'
      ? await db.query(`select table_name as t from information_schema.tables where table_schema = 'public' order by 1`)
      : await db.query('select table_name as t from information_schema.tables where table_schema = database() order by 1');
  return rows.map((r) => String(r.t)).sort();
}

/** Every row of every table, as JSON: for "nothing changed". */
async function dump(store: LegacyStore): Promise<Record<string, string>> {
  return withStoreDb(openStore(store), async (db) => {
    const out: Record<string, string> = {};
    for (const table of await tablesOf(db)) {
      const quoted = db.dialect === 'postgres' ? pg.escapeIdentifier(table) : `\`${table}\``;
      out[table] = JSON.stringify(await db.query(`select * from ${quoted} order by 1`));
    }
    return out;
  });
}

async function dumpAll(): Promise<Record<string, Record<string, string>>> {
  const all: Record<string, Record<string, string>> = {};
  for (const store of stores.filter((s) => s.variant !== 'unreachable')) all[store.slug] = await dump(store);
  return all;
}

function expectNoCredentials(text: string, where: string): void {
  for (const secret of [PG_PASSWORD, MY_PASSWORD, WRONG_PASSWORD, FROM_PASSWORD])
    expect(text.includes(secret), `${where} holds a legacy credential`).toBe(false);
}

describe('storeop import', () => {
  const kc = adminKubeConfig();
  let namespace: string | undefined;
  let work = '';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'storeop-import-'));
    tempDirs.push(work);
    closedPort = await freePortThenClose();
    await buildStoreDatabases();
    await buildLegacyDatabases(work);
    master = await postgresMaster.create();
    namespace = await createTestNamespace(kc, 'import');
  }, SETUP_TIMEOUT_MS);

  afterEach(() => killRunningCli());

  afterAll(async () => {
    const postgresDatabases = [
      ...stores.filter((s) => s.engine === 'postgresql' && s.variant !== 'unreachable').map((s) => s.database),
      `${prefix}_tpl`,
      `${prefix}_legacy`,
    ];
    await runEveryStep('cleaning up after storeop import', [
      // Each DROP DATABASE waits for a checkpoint: dropped together they share them (one after the other, they
      // took about a minute each on a loaded machine).
      async () => {
        const drops = await Promise.allSettled([
          ...postgresDatabases.map((name) => postgresAdmin((c) => c.query(`drop database if exists ${name} with (force)`))),
          master?.destroy(),
        ]);
        const failed = drops.filter((d): d is PromiseRejectedResult => d.status === 'rejected');
        if (failed.length)
          throw new AggregateError(
            failed.map((d) => d.reason),
            'dropping the PostgreSQL databases',
          );
      },
      () =>
        mysqlAdmin([
          ...stores.filter((s) => s.engine === 'mysql').map((s) => `drop database if exists \`${s.database}\``),
          `drop user if exists '${MY_USER}'@'%'`,
        ]),
      () => (namespace ? kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }) : undefined),
      ...tempDirs.map((d) => () => rmSync(d, { recursive: true, force: true })),
    ]);
  }, SETUP_TIMEOUT_MS);

  it(
    'dry run: a table per store from the PostgreSQL and the SQLite legacy database, and nothing changed',
    async () => {
      const before = await dumpAll();
      const fromPostgres = await storeop(['--from', legacyUrl, '--concurrency', '4'], work);
      const fromSqlite = await storeop(['--from', sqliteUrl, '--dry-run'], work);
      for (const run of [fromPostgres, fromSqlite]) {
        expect(run.code, describeRun(run)).toBe(1); // three stores would fail
        expect(run.stderr).toContain('[30/30]');
        expect(run.stdout).toContain(`dry run: nothing was changed; ${importable.length} of 30 store(s) can be imported, 3 would fail`);
        const table = parseTable(run.stdout);
        expect(table.size, describeRun(run)).toBe(30);
        for (const store of byVariant('complete')) {
          const row = table.get(store.slug);
          expect(row, store.slug).toMatchObject({ ENGINE: store.engine, REACHABLE: 'yes', PRESENT: '13', MISSING: '-', CONFLICTS: '-' });
          expect(row?.ACTION).toBe('seed empty tables, register');
        }
        for (const store of byVariant('missing')) {
          const row = table.get(store.slug);
          expect(row, store.slug).toMatchObject({ REACHABLE: 'yes', PRESENT: '3', CONFLICTS: '-' });
          expect(row?.MISSING?.split(',').sort()).toEqual(STORE_TABLES.filter((t) => !KEPT.includes(t)));
          expect(row?.ACTION).toBe('create 10 table(s), seed empty tables, register');
        }
        const [conflict] = byVariant('conflict');
        expect(table.get(conflict?.slug as string)).toMatchObject({
          REACHABLE: 'yes',
          CONFLICTS: 'products.price: found text, expected decimal(12, 2)',
        });
        expect(table.get(conflict?.slug as string)?.ACTION).toBe('none: conflicts reported, nothing is changed');
        expect(run.stdout).toContain(`conflict: ${conflict?.slug}: products.price: found text`);
        expect(table.get(byVariant('unreachable')[0]?.slug as string)?.REACHABLE).toBe('no (ConnectionFailed)');
        expect(table.get(byVariant('wrong-password')[0]?.slug as string)?.REACHABLE).toBe('no (AuthenticationFailed)');
        expect(run.stdout).toMatch(new RegExp(`would fail: ${byVariant('wrong-password')[0]?.slug}: AuthenticationFailed: .*${MY_USER}`));
      }
      // The same stores, whichever legacy database they were read from.
      expect(parseTable(fromSqlite.stdout)).toEqual(parseTable(fromPostgres.stdout));
      expect(await dumpAll()).toEqual(before);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'writes a connect-mode Store and a 0600 Secret per store, which kube-apiserver admits in a server-side dry run',
    async () => {
      const dir = join(work, 'manifests');
      const run = await storeop(['--from', sqliteUrl, '--write-manifests', dir], work);
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.stdout).toContain(`wrote 30 Store and 30 Secret manifest(s) to ${dir}`);
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/Seal the Secrets before committing/);
      expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('*.secret.yaml\n');
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      expect(files).toHaveLength(60);
      const objects: KubernetesObject[] = [];
      for (const file of files) {
        const path = join(dir, file);
        const text = readFileSync(path, 'utf8');
        const docs = parseAllDocuments(text).map(
          (d) => d.toJS() as KubernetesObject & { spec?: unknown; stringData?: Record<string, string> },
        );
        expect(docs).toHaveLength(1);
        const [doc] = docs as [(typeof docs)[number]];
        if (file.endsWith('.secret.yaml')) {
          expect(statSync(path).mode & 0o777, file).toBe(0o600);
          expect(doc.kind).toBe('Secret');
          const store = stores.find((s) => file === `${s.slug}.secret.yaml`) as LegacyStore;
          const expected = store.engine === 'postgresql' ? PG_PASSWORD : store.variant === 'wrong-password' ? WRONG_PASSWORD : MY_PASSWORD;
          expect(doc.stringData).toEqual({ username: store.engine === 'postgresql' ? 'postgres' : MY_USER, password: expected });
        } else {
          expect(doc.kind).toBe('Store');
          expectNoCredentials(text, file);
          const store = stores.find((s) => file === `${s.slug}.store.yaml`) as LegacyStore;
          expect(doc.spec).toMatchObject({
            database: {
              engine: store.engine,
              mode: 'connect',
              connection: { host: '127.0.0.1', database: store.database, credentialsSecretRef: { name: `${store.slug}-db-credentials` } },
            },
          });
        }
        objects.push({ ...doc, metadata: { ...doc.metadata, namespace } });
      }
      const client = KubernetesObjectApi.makeApiClient(kc);
      for (const object of objects) await client.create(object, undefined, 'All');
      // A dry run stores nothing.
      const listed = await kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: namespace as string });
      expect(listed.items.filter((s) => s.metadata?.name?.startsWith(prefix))).toEqual([]);
      // Writing again gives the same files.
      const again = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
      expect((await storeop(['--from', sqliteUrl, '--write-manifests', dir], work)).code).toBe(0);
      expect(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')])).toEqual(again);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--mapping: a legacy database of another shape (the README example) is read the same way',
    async () => {
      const file = join(work, 'shops.db');
      const db = new DatabaseSync(file);
      const picked = [stores[0], stores[16]] as LegacyStore[]; // one MariaDB, one PostgreSQL store
      try {
        db.exec(`create table shops (shop_id integer primary key, handle text, title text, owner_email text, tier text, db_kind text);
          create table shop_databases (shop_id integer, settings text, enabled integer);`);
        for (const [i, store] of picked.entries()) {
          const config = configOf(store);
          db.prepare('insert into shops values (?, ?, ?, ?, ?, ?)').run(
            i + 1,
            store.slug,
            `Shop ${i}`,
            'owner@example.com',
            'starter',
            store.engine === 'mysql' ? 'maria' : 'pg',
          );
          const settings = {
            db: { host: config.host, port: config.port, name: config.database, user: config.username, password: config.password },
          };
          db.prepare('insert into shop_databases values (?, ?, 1)').run(i + 1, JSON.stringify(settings));
        }
      } finally {
        db.close();
      }
      const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
      const example = /A legacy database of another shape[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
      expect(example, 'the mapping example in README.md').toBeTruthy();
      writeFileSync(join(work, 'mapping.yaml'), example as string);
      const run = await storeop(['--from', `sqlite://${file}`, '--mapping', join(work, 'mapping.yaml')], work);
      expect(run.code, describeRun(run)).toBe(0);
      const table = parseTable(run.stdout);
      expect([...table.keys()].sort()).toEqual(picked.map((s) => s.slug).sort());
      for (const store of picked)
        expect(table.get(store.slug), store.slug).toMatchObject({ ENGINE: store.engine, REACHABLE: 'yes', PRESENT: '13' });

      const typo = await storeop(
        ['--from', `sqlite://${file}`, '--mapping', join(work, 'mapping.yaml'), '--stores-table', 'shops; drop'],
        work,
      );
      expect(typo.code).toBe(1);
      expect(typo.stderr).toContain('--stores-table: must be a plain SQL table name');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--apply killed mid-way, then run again: every reachable store registered with an encrypted config, only missing tables created, every row kept, the conflict and two failures reported',
    async () => {
      const m = master as TestMaster;
      const env = { STOREOP_ENCRYPTION_KEYS: m.keysSpec };
      const args = ['--from', legacyUrl, '--apply', '--master-database-url', m.url];
      const before = await dumpAll();

      // The first run is killed once a few stores are done.
      const killed = await killAfter(['import', ...args, '--concurrency', '2'], work, cliEnv(env), '[4/30]');
      outputs.push(killed);
      expect(existsSync(work)).toBe(true);

      const run = await storeop([...args, '--concurrency', '4'], work, env);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain('[30/30]');
      const table = parseTable(run.stdout);
      for (const store of importable) expect(table.get(store.slug)?.RESULT, store.slug).toMatch(/^ready/);
      expect(table.get(byVariant('conflict')[0]?.slug as string)?.ERROR).toBe('SchemaConflict');
      expect(table.get(byVariant('unreachable')[0]?.slug as string)?.ERROR).toBe('ConnectionFailed');
      expect(table.get(byVariant('wrong-password')[0]?.slug as string)?.ERROR).toBe('AuthenticationFailed');
      // Each failure in full, naming where (and the user, which is no secret), never the password.
      expect(run.stdout).toMatch(
        new RegExp(`failed: ${byVariant('unreachable')[0]?.slug}: ConnectionFailed: .*\\(postgresql, 127\\.0\\.0\\.1:${closedPort}`),
      );
      expect(run.stdout).toMatch(new RegExp(`failed: ${byVariant('wrong-password')[0]?.slug}: AuthenticationFailed: .*${MY_USER}`));
      expect(run.stdout).toMatch(
        new RegExp(
          `failed: ${byVariant('conflict')[0]?.slug}: SchemaConflict: .*products\\.price: found text, expected decimal\\(12, 2\\)`,
        ),
      );
      expect(run.stdout).toContain(`import: ${importable.length} of 30 store(s) imported`);
      expect(run.stdout).toContain(
        `3 failed: ${byVariant('wrong-password')[0]?.slug} (AuthenticationFailed), ${byVariant('conflict')[0]?.slug} (SchemaConflict), ${byVariant('unreachable')[0]?.slug} (ConnectionFailed)`,
      );

      // The master DB: every importable store active with one encrypted config; the failed ones without one.
      const configs = await m.sql(
        `select s.slug, s.database_status, c.config_data::text as config from stores s
         left join integration_configs c on c.store_id = s.id and c.is_active where s.slug like $1`,
        [`${prefix}-%`],
      );
      const bySlug = new Map(configs.map((r) => [String(r.slug), r]));
      for (const store of importable) {
        const row = bySlug.get(store.slug);
        expect(row?.database_status, store.slug).toBe('active');
        const config = JSON.parse(String(row?.config)) as { connection: Record<string, unknown>; secrets?: unknown };
        expect(config.connection).toMatchObject({ engine: store.engine, host: '127.0.0.1', database: store.database });
        expect(config.secrets, store.slug).toBeTruthy();
        expectNoCredentials(String(row?.config), `${store.slug}'s config`);
      }
      for (const store of failing) expect(bySlug.get(store.slug)?.config ?? null, store.slug).toBeNull();
      expect(await m.sql(`select count(*)::int as n from provisioning_jobs where status in ('queued', 'running')`)).toEqual([{ n: 0 }]);

      // The store databases: only the missing tables created (and storeop's history), every legacy row kept,
      // default rows only in tables that were empty.
      for (const store of stores.filter((s) => s.variant !== 'unreachable')) {
        await withStoreDb(openStore(store), async (db) => {
          const tables = await tablesOf(db);
          const legacyBefore = before[store.slug] as Record<string, string>;
          for (const [table, rows] of Object.entries(legacyBefore)) {
            if (table === 'cms_pages' || table === 'seo_settings' || table === 'store_settings') continue; // empty, seeded
            expect(JSON.stringify(await db.query(`select * from ${table} order by 1`)), `${store.slug}.${table}`).toBe(rows);
          }
          if (failing.includes(store)) {
            expect(tables, store.slug).toEqual(Object.keys(legacyBefore).sort());
            return;
          }
          expect(tables, store.slug).toEqual([...STORE_TABLES, HISTORY_TABLE].sort());
          const slugs = (await db.query('select slug from categories order by slug')).map((r) => r.slug);
          expect(slugs, `${store.slug}: no default category in a table that had rows`).toEqual(['legacy-cat']);
          expect(await db.query('select count(*) as n from cms_pages'), store.slug).toEqual([{ n: db.dialect === 'postgres' ? '4' : 4 }]);
          const schemaRecords = await db.query(`select count(*) as n from ${HISTORY_TABLE} where kind = 'schema'`);
          expect(Number(schemaRecords[0]?.n), `${store.slug}: one schema record, however often it was run`).toBe(1);
        });
      }
      for (const text of outputs) expectNoCredentials(text, 'output');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a second --apply changes nothing',
    async () => {
      const m = master as TestMaster;
      const before = await dumpAll();
      const configsBefore = await m.sql('select id, config_data::text as c, is_active from integration_configs order by id');
      const run = await storeop(['--from', sqliteUrl, '--apply', '--master-database-url', m.url], work, {
        STOREOP_ENCRYPTION_KEYS: m.keysSpec,
      });
      expect(run.code, describeRun(run)).toBe(1);
      const table = parseTable(run.stdout);
      for (const store of importable) expect(table.get(store.slug)?.RESULT, store.slug).toBe('ready (no changes)');
      expect(run.stdout).toContain(`import: ${importable.length} of 30 store(s) imported (no changes); 3 failed`);
      expect(await dumpAll()).toEqual(before);
      expect(await m.sql('select id, config_data::text as c, is_active from integration_configs order by id')).toEqual(configsBefore);
      for (const text of outputs) expectNoCredentials(text, 'output');
    },
    TEST_TIMEOUT_MS,
  );
});

/** Runs storeop until its progress shows `marker`, then kills it (SIGKILL: no cleanup of any kind); its output. */
function killAfter(args: string[], cwd: string, env: Record<string, string>, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(nodeBinary, storeopArgs(args), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`storeop never showed ${marker} within ${RUN_TIMEOUT_MS} ms:\n${output}`));
    }, RUN_TIMEOUT_MS);
    const watch = (d: Buffer) => {
      output += d.toString();
      if (output.includes(marker)) child.kill('SIGKILL');
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    child.once('error', reject);
    child.once('close', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`storeop ended before it was killed (${signal}):\n${output}`));
      else resolve(output);
    });
  });
}
