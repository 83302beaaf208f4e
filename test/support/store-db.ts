// Helpers for the store-database integration tests: create-mode targets on the test servers, unique slugs,
// and what a store database holds, read with the tests' own SQL from the catalogs (pg_catalog,
// information_schema) and the tables themselves — never through storeop's introspection code.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { expect } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import { mysqlAdminLockName } from '../../src/engines/mysql.js';
import { adminLockKey } from '../../src/engines/postgres.js';
import type { CreateTarget, DatabaseTarget, TenantConnection } from '../../src/engines/target.js';
import type { Progress } from '../../src/provisioning/progress.js';
import { runEveryStep } from './cleanup.js';
import { MYSQL_URL, POSTGRES_URL, withDatabase, withPostgres } from './databases.js';

/** The twelve e-commerce tables the issue names, plus storeop's store_settings. */
export const COMMERCE_TABLES = [
  'products',
  'categories',
  'customers',
  'orders',
  'order_items',
  'inventory',
  'attributes',
  'prices',
  'discounts',
  'cms_pages',
  'media_library',
  'seo_settings',
] as const;
export const STORE_TABLES = [...COMMERCE_TABLES, 'store_settings'].sort();
export const HISTORY_TABLE = 'storeop_schema_history';

export type Dialect = 'postgres' | 'mysql';
export type Row = Record<string, unknown>;

/** A slug no other test uses: `t-` and ten hex digits. */
export function uniqueSlug(): string {
  return `t-${randomBytes(5).toString('hex')}`;
}

/** The database, schema, role and user name a slug should get, derived here independently of src/naming.ts. */
export function storeName(slug: string): string {
  return `store_${slug.replaceAll('-', '_')}`;
}

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password?: string;
}

function endpointOf(url: string, defaultPort: number): Endpoint {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port) || defaultPort,
    user: decodeURIComponent(u.username),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

export const postgresEndpoint = (): Endpoint => endpointOf(POSTGRES_URL, 5432);
export const mysqlEndpoint = (): Endpoint => ({ password: '', ...endpointOf(MYSQL_URL, 3306) });

/** A connection to one store database (PostgreSQL: one schema in it), for reading with plain SQL. */
export interface StoreDb {
  readonly dialect: Dialect;
  /** PostgreSQL schema or MySQL database holding the store's tables. */
  readonly schema: string;
  /** PostgreSQL placeholders are $1.., MySQL ones are ?. */
  query(text: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

export async function openPostgres(database: string, schema = 'public', as: Partial<Endpoint> = {}): Promise<StoreDb> {
  // Unqualified table names in the tests' queries resolve in the store's schema.
  const client = new pg.Client({ ...postgresEndpoint(), ...as, database, options: `-c search_path=${pg.escapeIdentifier(schema)}` });
  client.on('error', () => {});
  await client.connect();
  return {
    dialect: 'postgres',
    schema,
    query: async (text, params) => (await client.query(text, params)).rows,
    close: () => client.end(),
  };
}

export async function openMysql(database: string, as: Partial<Endpoint> = {}): Promise<StoreDb> {
  const conn = await mysql.createConnection({ ...mysqlEndpoint(), ...as, database });
  return {
    dialect: 'mysql',
    schema: database,
    query: async (text, params) => (await conn.query<mysql.RowDataPacket[]>(text, params))[0],
    close: () => conn.end(),
  };
}

/** Opens a PGlite folder directly; storeop must have released it (a finished provision run has). */
export async function openPgliteFolder(dataDir: string): Promise<StoreDb> {
  const db = await PGlite.create(dataDir);
  return {
    dialect: 'postgres',
    schema: 'public',
    query: async (text, params) => (await db.query<Row>(text, params)).rows,
    close: () => db.close(),
  };
}

export async function withStoreDb<T>(open: Promise<StoreDb>, fn: (db: StoreDb) => Promise<T>): Promise<T> {
  const db = await open;
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Runs statements as the MariaDB admin, on no particular database; `params[i]` fills statement i's placeholders. */
export async function mysqlAdmin(statements: string[], params: unknown[][] = []): Promise<void> {
  const conn = await mysql.createConnection(mysqlEndpoint());
  try {
    for (const [i, statement] of statements.entries()) await conn.query(statement, params[i] ?? []);
  } finally {
    await conn.end();
  }
}

/** Runs `fn` with an admin client on the server's maintenance database, or on `database`. */
export function postgresAdmin<T>(fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  return withPostgres(database ? withDatabase(POSTGRES_URL, database) : POSTGRES_URL, fn);
}

export async function dropPostgresDatabase(database: string): Promise<void> {
  await postgresAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`));
}

/**
 * Drops whatever a test may have left of a store on a server (its database and role, or database and
 * user on every host), with the tests' own SQL rather than the engine under test; every step is tried.
 */
export async function dropStoreLeftovers(engine: 'postgresql' | 'mysql', slug: string): Promise<void> {
  const name = storeName(slug);
  const steps =
    engine === 'postgresql'
      ? [
          () => dropPostgresDatabase(name),
          () => postgresAdmin((client) => client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`)),
        ]
      : [
          async () => {
            // "as host": MariaDB's mysql.user names the column Host, and h.host would be undefined.
            const hosts = await withStoreDb(openMysql('mysql'), (db) =>
              db.query('select host as host from mysql.user where user = ?', [name]),
            );
            await mysqlAdmin(
              [`DROP DATABASE IF EXISTS \`${name}\``, ...hosts.map(() => 'DROP USER IF EXISTS ?@?')],
              [[], ...hosts.map((h) => [name, String(h.host)])],
            );
          },
        ];
  await runEveryStep(`could not drop what is left of store ${slug}`, steps);
}

export interface AdminLockHold {
  /** How many sessions wait for the lock: a provisioning run that reached it waits there. */
  waiters(): Promise<number>;
  release(): Promise<void>;
  /** Ends the holding session (which releases the lock too). */
  close(): Promise<void>;
}

/**
 * Takes the PostgreSQL engine's per-database admin lock from a session of its own, so that a provisioning
 * run for `database` stops inside the engine until release() or close().
 */
export async function holdPostgresAdminLock(database: string): Promise<AdminLockHold> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  const key = adminLockKey(database);
  try {
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
  } catch (error) {
    await client.end();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    async waiters() {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))',
      );
      return rows[0]?.n ?? 0;
    },
    async release() {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
    },
    close: () => {
      closed ??= client.end();
      return closed;
    },
  };
}

/**
 * Takes the MySQL/MariaDB engine's per-database admin lock (GET_LOCK) from a connection of its own, so that
 * a provisioning run for `database` stops inside the engine until release() or close().
 */
export async function holdMysqlAdminLock(database: string): Promise<AdminLockHold> {
  const conn = await mysql.createConnection(MYSQL_URL);
  const name = mysqlAdminLockName('database', database);
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 10) AS locked', [name]);
    if (Number(rows[0]?.locked) !== 1) throw new Error(`could not take the admin lock of ${database}`);
  } catch (error) {
    await conn.end();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    async waiters() {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT count(*) AS n FROM information_schema.processlist WHERE info LIKE CONCAT('%GET_LOCK(%', ?, '%') AND id <> CONNECTION_ID()",
        [name],
      );
      return Number(rows[0]?.n ?? 0);
    },
    async release() {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]);
    },
    close: () => {
      closed ??= conn.end();
      return closed;
    },
  };
}

/** The engine's admin lock for `database`, on PostgreSQL or MySQL/MariaDB. */
export function holdAdminLock(engine: 'postgresql' | 'mysql', database: string): Promise<AdminLockHold> {
  return engine === 'postgresql' ? holdPostgresAdminLock(database) : holdMysqlAdminLock(database);
}

export interface StoreSnapshot {
  tables: string[];
  /** `table.column` → type as the server spells it, and `not null` when it is. */
  columns: Record<string, string>;
  /** `table.index` → `unique (a, b)` or `(a)`. */
  indexes: Record<string, string>;
  /** `table.column` → `references table on delete RULE`. */
  foreignKeys: Record<string, string>;
}

const PG_DELETE_RULES: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

/** The tables, columns, indexes and foreign keys of the store's schema/database, from the catalogs. */
export async function readCatalog(db: StoreDb): Promise<StoreSnapshot> {
  return db.dialect === 'postgres' ? readPostgresCatalog(db) : readMysqlCatalog(db);
}

async function readPostgresCatalog(db: StoreDb): Promise<StoreSnapshot> {
  const s = [db.schema];
  const tables = await db.query(
    `select table_name from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE'`,
    s,
  );
  const columns = await db.query(
    `select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
     from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped`,
    s,
  );
  const indexes = await db.query(
    `select t.relname as table_name, i.relname as index_name, x.indisunique as is_unique,
            (select string_agg(a.attname, ', ' order by k.ord) from unnest(x.indkey) with ordinality as k(attnum, ord)
             join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum) as columns
     from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
     join pg_namespace n on n.oid = t.relnamespace
     where n.nspname = $1`,
    s,
  );
  const fks = await db.query(
    `select t.relname as table_name, a.attname as column_name, r.relname as ref_table, c.confdeltype as on_delete
     from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_class r on r.oid = c.confrelid
     join pg_namespace n on n.oid = c.connamespace
     join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
     where c.contype = 'f' and n.nspname = $1`,
    s,
  );
  return {
    tables: tables.map((r) => String(r.table_name)).sort(),
    columns: byName(columns, (r) => [`${r.table_name}.${r.column_name}`, `${r.type}${r.not_null ? ' not null' : ''}`]),
    indexes: byName(indexes, (r) => [`${r.table_name}.${r.index_name}`, `${r.is_unique ? 'unique ' : ''}(${r.columns})`]),
    foreignKeys: byName(fks, (r) => [
      `${r.table_name}.${r.column_name}`,
      `references ${r.ref_table} on delete ${PG_DELETE_RULES[String(r.on_delete)]}`,
    ]),
  };
}

async function readMysqlCatalog(db: StoreDb): Promise<StoreSnapshot> {
  const s = [db.schema];
  const tables = await db.query(
    `select table_name as table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'`,
    s,
  );
  const columns = await db.query(
    `select table_name as table_name, column_name as column_name, column_type as type, is_nullable as is_nullable
     from information_schema.columns where table_schema = ?`,
    s,
  );
  const indexes = await db.query(
    `select table_name as table_name, index_name as index_name, min(non_unique) as non_unique,
            group_concat(column_name order by seq_in_index separator ', ') as columns
     from information_schema.statistics where table_schema = ? group by table_name, index_name`,
    s,
  );
  const fks = await db.query(
    `select k.table_name as table_name, k.column_name as column_name, k.referenced_table_name as ref_table, r.delete_rule as on_delete
     from information_schema.referential_constraints r
     join information_schema.key_column_usage k
       on k.constraint_schema = r.constraint_schema and k.constraint_name = r.constraint_name and k.table_name = r.table_name
     where r.constraint_schema = ?`,
    s,
  );
  return {
    tables: tables.map((r) => String(r.table_name)).sort(),
    columns: byName(columns, (r) => [`${r.table_name}.${r.column_name}`, `${r.type}${r.is_nullable === 'NO' ? ' not null' : ''}`]),
    indexes: byName(indexes, (r) => [`${r.table_name}.${r.index_name}`, `${Number(r.non_unique) === 0 ? 'unique ' : ''}(${r.columns})`]),
    foreignKeys: byName(fks, (r) => [`${r.table_name}.${r.column_name}`, `references ${r.ref_table} on delete ${r.on_delete}`]),
  };
}

/** Rows as a record `name → description`, sorted by name so that two snapshots compare line by line. */
function byName(rows: Row[], entry: (row: Row) => [string, string]): Record<string, string> {
  return Object.fromEntries(rows.map(entry).sort((a, b) => a[0].localeCompare(b[0])));
}

export interface SeedSnapshot {
  pages: { slug: string; title: string }[];
  categories: { slug: string; name: string; parent_id: number | null }[];
  seo: { scope: string; entity_id: number; meta_title: string | null }[];
  settings: Record<string, string>;
}

/** The rows of the seeded tables (without timestamps, which differ from run to run). */
export async function readSeeds(db: StoreDb): Promise<SeedSnapshot> {
  const key = db.dialect === 'mysql' ? '`key`' : '"key"';
  const pages = await db.query('select slug, title from cms_pages order by slug');
  const categories = await db.query('select slug, name, parent_id from categories order by slug');
  const seo = await db.query('select scope, entity_id, meta_title from seo_settings order by scope, entity_id');
  const settings = await db.query(`select ${key} as k, value from store_settings order by ${key}`);
  return {
    pages: pages.map((r) => ({ slug: String(r.slug), title: String(r.title) })),
    categories: categories.map((r) => ({
      slug: String(r.slug),
      name: String(r.name),
      parent_id: r.parent_id === null ? null : Number(r.parent_id),
    })),
    seo: seo.map((r) => ({
      scope: String(r.scope),
      entity_id: Number(r.entity_id),
      meta_title: r.meta_title === null ? null : String(r.meta_title),
    })),
    settings: Object.fromEntries(settings.map((r) => [String(r.k), String(r.value)])),
  };
}

/** How many history rows of each kind ('schema', 'migration', 'seed') the store database holds. */
export async function readHistoryKinds(db: StoreDb): Promise<Record<string, number>> {
  const rows = await db.query(`select kind, count(*) as n from ${HISTORY_TABLE} group by kind order by kind`);
  return Object.fromEntries(rows.map((r) => [String(r.kind), Number(r.n)]));
}

export interface StoreState {
  catalog: StoreSnapshot;
  seeds: SeedSnapshot;
  history: Record<string, number>;
}

export async function readStoreState(db: StoreDb): Promise<StoreState> {
  return { catalog: await readCatalog(db), seeds: await readSeeds(db), history: await readHistoryKinds(db) };
}

export interface SeedExpectation {
  currency: string;
  locale: string;
  displayName: string;
}

/**
 * What every freshly provisioned store database must hold: the thirteen store tables and the history
 * table, money as decimal(12,2), timestamps everywhere, the foreign keys and indexes the obvious queries
 * need, the default rows once, and one 'schema' and one 'seed' history row.
 */
export function expectProvisionedStore(state: StoreState, dialect: Dialect, seed: SeedExpectation): void {
  const { catalog, seeds, history } = state;
  expect(catalog.tables).toEqual([...STORE_TABLES, HISTORY_TABLE].sort());

  const money = dialect === 'postgres' ? 'numeric(12,2) not null' : 'decimal(12,2) not null';
  const timestamp = dialect === 'postgres' ? 'timestamp with time zone not null' : 'datetime(3) not null';
  const bigint = dialect === 'postgres' ? /^bigint not null$/ : /^bigint(\(20\))? not null$/;
  const varchar = (n: number, notNull = true) =>
    `${dialect === 'postgres' ? 'character varying' : 'varchar'}(${n})${notNull ? ' not null' : ''}`;
  for (const table of STORE_TABLES) {
    expect(catalog.columns[`${table}.id`], `${table}.id`).toMatch(bigint);
    expect(catalog.columns[`${table}.created_at`], `${table}.created_at`).toBe(timestamp);
    expect(catalog.columns[`${table}.updated_at`], `${table}.updated_at`).toBe(timestamp);
  }
  expect(catalog.columns).toMatchObject({
    'products.price': money,
    'products.sku': varchar(64),
    'products.compare_at_price': money.replace(' not null', ''),
    'orders.total': money,
    'orders.subtotal': money,
    'order_items.unit_price': money,
    'prices.amount': money,
    'discounts.value': money,
    'customers.email': varchar(191),
    'customers.phone': varchar(32, false),
    'cms_pages.slug': varchar(191),
    'store_settings.value': 'text not null',
  });
  expect(catalog.columns['order_items.order_id']).toMatch(bigint);

  expect(catalog.foreignKeys).toMatchObject({
    'order_items.order_id': 'references orders on delete CASCADE',
    'order_items.product_id': 'references products on delete SET NULL',
    'products.category_id': 'references categories on delete SET NULL',
    'categories.parent_id': 'references categories on delete SET NULL',
    'orders.customer_id': 'references customers on delete SET NULL',
    'inventory.product_id': 'references products on delete CASCADE',
    'prices.product_id': 'references products on delete CASCADE',
  });
  expect(catalog.indexes).toMatchObject({
    'products.uq_products_sku': 'unique (sku)',
    'products.uq_products_slug': 'unique (slug)',
    'products.idx_products_category_id': '(category_id)',
    'categories.uq_categories_slug': 'unique (slug)',
    'categories.idx_categories_parent_id': '(parent_id)',
    'customers.uq_customers_email': 'unique (email)',
    'orders.idx_orders_customer_id_created_at': '(customer_id, created_at)',
    'order_items.idx_order_items_order_id': '(order_id)',
    'cms_pages.uq_cms_pages_slug': 'unique (slug)',
    'seo_settings.uq_seo_settings_scope_entity_id': 'unique (scope, entity_id)',
    'store_settings.uq_store_settings_key': 'unique (key)',
  });

  expect(seeds.pages.map((p) => p.slug)).toEqual(['about', 'contact', 'home', 'privacy']);
  expect(seeds.categories).toEqual([{ slug: 'all', name: 'All products', parent_id: null }]);
  expect(seeds.seo).toEqual([{ scope: 'store', entity_id: 0, meta_title: seed.displayName }]);
  expect(seeds.settings).toEqual({ currency: seed.currency, locale: seed.locale });
  expect(history).toEqual({ schema: 1, seed: 1 });
}

/** Progress as a job would show it: never falling, ending at 100 with every table in place. */
export function expectProgress(events: readonly Progress[], totalTables = STORE_TABLES.length): void {
  expect(events.length).toBeGreaterThan(0);
  expect(events[0]?.step).toBe('testConnection');
  for (const [i, event] of events.entries()) {
    if (i > 0) expect(event.percent, `event ${i} (${event.step}: ${event.message})`).toBeGreaterThanOrEqual(events[i - 1]?.percent ?? 0);
    expect(event.totalTables).toBe(totalTables);
  }
  const last = events.at(-1);
  expect(last?.step).toBe('register');
  expect(last?.percent).toBe(100);
  expect(last?.tablesCreated).toBe(last?.totalTables);
}

export const postgresCreateTarget = (extra: Partial<CreateTarget> = {}): CreateTarget => ({
  engine: 'postgresql',
  mode: 'create',
  admin: postgresEndpoint(),
  ...extra,
});
export const mysqlCreateTarget = (extra: Partial<CreateTarget> = {}): CreateTarget => ({
  engine: 'mysql',
  mode: 'create',
  admin: mysqlEndpoint(),
  ...extra,
});

/** One way of giving a store its own database, with how a test reads it and finds its traces. */
export interface CreateCase {
  readonly name: string;
  readonly dialect: Dialect;
  /** Whether the store has a role/user that should own its tables (not PGlite). */
  readonly hasLogin: boolean;
  target(slug: string): DatabaseTarget;
  /** Where the store's tables should be and who should reach them. */
  expectedConnection(slug: string): Partial<TenantConnection>;
  /** The store's schema/database, opened as the server admin. */
  open(slug: string): Promise<StoreDb>;
  /** Whether the store's database (or schema, or folder) and its role/user still exist. */
  exists(slug: string): Promise<{ database: boolean; login: boolean }>;
}

async function pgExists(client: pg.Client, catalogQuery: string, name: string): Promise<boolean> {
  return ((await client.query(catalogQuery, [name])).rowCount ?? 0) > 0;
}

export function postgresDatabaseCase(): CreateCase {
  return {
    name: 'PostgreSQL (database isolation)',
    dialect: 'postgres',
    hasLogin: true,
    target: () => postgresCreateTarget({ isolation: 'database' }),
    expectedConnection: (slug) => ({ engine: 'postgresql', database: storeName(slug), schema: 'public', user: storeName(slug) }),
    open: (slug) => openPostgres(storeName(slug)),
    exists: (slug) =>
      postgresAdmin(async (client) => ({
        database: await pgExists(client, 'select 1 from pg_database where datname = $1', storeName(slug)),
        login: await pgExists(client, 'select 1 from pg_roles where rolname = $1', storeName(slug)),
      })),
  };
}

/** Stores as schemas of `sharedDatabase` (which storeop creates; the test file drops it at the end). */
export function postgresSchemaCase(sharedDatabase: string): CreateCase {
  return {
    name: 'PostgreSQL (schema isolation)',
    dialect: 'postgres',
    hasLogin: true,
    target: () => postgresCreateTarget({ isolation: 'schema', databaseName: sharedDatabase }),
    expectedConnection: (slug) => ({ engine: 'postgresql', database: sharedDatabase, schema: storeName(slug), user: storeName(slug) }),
    open: (slug) => openPostgres(sharedDatabase, storeName(slug)),
    exists: async (slug) => {
      const login = await postgresAdmin((client) => pgExists(client, 'select 1 from pg_roles where rolname = $1', storeName(slug)));
      const database = await postgresAdmin(
        (client) => pgExists(client, 'select 1 from information_schema.schemata where schema_name = $1', storeName(slug)),
        sharedDatabase,
      );
      return { database, login };
    },
  };
}

export function mysqlCase(): CreateCase {
  return {
    name: 'MariaDB',
    dialect: 'mysql',
    hasLogin: true,
    target: () => mysqlCreateTarget(),
    expectedConnection: (slug) => ({ engine: 'mysql', database: storeName(slug), user: storeName(slug) }),
    open: (slug) => openMysql(storeName(slug)),
    exists: async (slug) => {
      const conn = await mysql.createConnection(mysqlEndpoint());
      try {
        const [schemata] = await conn.query<mysql.RowDataPacket[]>('select 1 from information_schema.schemata where schema_name = ?', [
          storeName(slug),
        ]);
        const [users] = await conn.query<mysql.RowDataPacket[]>('select 1 from mysql.user where user = ?', [storeName(slug)]);
        return { database: schemata.length > 0, login: users.length > 0 };
      } finally {
        await conn.end();
      }
    },
  };
}

/** Stores as PGlite folders under `root`, which plays a home's stores folder (deprovisioning removes only under it). */
export function pgliteCase(root: string): CreateCase {
  return {
    name: 'PGlite',
    dialect: 'postgres',
    hasLogin: false,
    target: (slug) => ({ engine: 'pglite', mode: 'create', dataDir: join(root, slug), storesRoot: root }),
    expectedConnection: (slug) => ({ engine: 'pglite', dataDir: join(root, slug), schema: 'public' }),
    open: (slug) => openPgliteFolder(join(root, slug)),
    exists: async (slug) => ({ database: existsSync(join(root, slug)), login: false }),
  };
}

/** Remembers the stores a test provisions and deprovisions them afterwards, whatever the test's outcome. */
export class StoreCleanup {
  readonly #stores: { target: DatabaseTarget; slug: string }[] = [];

  track(target: DatabaseTarget, slug: string): DatabaseTarget {
    this.#stores.push({ target, slug });
    return target;
  }

  async run(): Promise<void> {
    const stores = this.#stores.splice(0);
    await runEveryStep(
      'could not deprovision every test store',
      stores.map(
        ({ target, slug }) =>
          () =>
            engineFor(target.engine).deprovision(target, slug),
      ),
    );
  }
}
