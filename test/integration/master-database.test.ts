// The master (platform) database on a real PostgreSQL and on an embedded PGlite: its migrations (once, also
// when two processes run them at once), credentials encrypted at rest and re-encrypted by
// `storeop master rotate-key`, and the provisioning_jobs row that follows a run of the pipeline.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionManager } from '../../src/connections/connection-manager.js';
import { isStoreopError, StoreopError } from '../../src/errors.js';
import { type MasterDatabase, migrateMaster } from '../../src/master/database.js';
import { readActiveDatabaseConfig, saveDatabaseConfig } from '../../src/master/integrations.js';
import { Keyring } from '../../src/master/keyring.js';
import { recordServer, storesPerServer, upsertStore } from '../../src/master/stores.js';
import { STEPS } from '../../src/provisioning/progress.js';
import { type MasterContext, prepareStoreJob, provisionStore, runStoreJob } from '../../src/stores/provision-store.js';
import { MASTER_CASES, type Row, runCli, type TestMaster } from '../support/master.js';
import { mysqlCreateTarget, mysqlEndpoint, postgresCreateTarget, STORE_TABLES, StoreCleanup, uniqueSlug } from '../support/store-db.js';

/** The platform tables issue 4 lists; every one must exist after the migrations. */
const PLATFORM_TABLES = [
  'api_usage_logs',
  'audit_logs',
  'billing_transactions',
  'integration_configs',
  'performance_metrics',
  'platform_settings',
  'provisioning_jobs',
  'revenue_reports',
  'store_analytics',
  'stores',
  'subscriptions',
  'usage_metrics',
  'usage_statistics',
  'users',
];

const TIMESTAMPTZ = 'timestamp with time zone';
const VARCHAR = /^character varying\(\d+\)$/;
const INT = /^(integer|bigint)$/;

/** Key columns per table: the type as PostgreSQL's format_type spells it (a string must match exactly). */
const KEY_COLUMNS: Record<string, Record<string, string | RegExp>> = {
  users: { id: 'uuid', email: VARCHAR, created_at: TIMESTAMPTZ },
  stores: {
    id: 'uuid',
    name: VARCHAR,
    slug: VARCHAR,
    owner_id: 'uuid',
    database_type: VARCHAR,
    database_host: VARCHAR,
    database_name: VARCHAR,
    database_status: VARCHAR,
    database_identity: 'jsonb',
    deletion_policy: VARCHAR,
    storage_type: VARCHAR,
    storage_status: VARCHAR,
    subscription_plan: VARCHAR,
    subscription_status: VARCHAR,
    trial_ends_at: TIMESTAMPTZ,
    subscription_started_at: TIMESTAMPTZ,
    product_count: INT,
    order_count: INT,
    storage_used_bytes: 'bigint',
    api_calls_month: INT,
    is_active: 'boolean',
    is_published: 'boolean',
    last_activity_at: TIMESTAMPTZ,
    created_at: TIMESTAMPTZ,
    updated_at: TIMESTAMPTZ,
  },
  subscriptions: {
    store_id: 'uuid',
    plan_name: VARCHAR,
    status: VARCHAR,
    price_monthly: 'numeric(10,2)',
    price_annual: 'numeric(10,2)',
    billing_cycle: VARCHAR,
    max_products: INT,
    max_orders_per_month: INT,
    max_storage_gb: INT,
    max_api_calls_per_month: INT,
    started_at: TIMESTAMPTZ,
    trial_ends_at: TIMESTAMPTZ,
    current_period_start: TIMESTAMPTZ,
    current_period_end: TIMESTAMPTZ,
    cancelled_at: TIMESTAMPTZ,
  },
  billing_transactions: {
    store_id: 'uuid',
    amount: 'numeric(10,2)',
    currency: /^character( varying)?\(3\)$/,
    status: VARCHAR,
    payment_method: VARCHAR,
    payment_provider_id: VARCHAR,
    description: /^(text|character varying\(\d+\))$/,
    invoice_url: /^(text|character varying\(\d+\))$/,
    processed_at: TIMESTAMPTZ,
  },
  usage_metrics: {
    store_id: 'uuid',
    metric_date: 'date',
    product_count: INT,
    order_count: INT,
    storage_used_bytes: 'bigint',
    api_calls: INT,
  },
  api_usage_logs: {
    endpoint: VARCHAR,
    method: VARCHAR,
    status_code: INT,
    response_time_ms: INT,
    ip_address: /^(inet|character varying\(\d+\))$/,
    user_agent: /^(text|character varying\(\d+\))$/,
    error_message: 'text',
    token_name: VARCHAR,
    created_at: TIMESTAMPTZ,
  },
  integration_configs: { store_id: 'uuid', integration_type: VARCHAR, config_data: 'jsonb', is_active: 'boolean' },
  platform_settings: { key: VARCHAR, value: 'jsonb' },
  audit_logs: { store_id: 'uuid', actor: VARCHAR, action: VARCHAR, details: 'jsonb', created_at: TIMESTAMPTZ },
  store_analytics: { store_id: 'uuid', date: 'date', visitors: INT, orders: INT, revenue: /^numeric\(\d+,2\)$/ },
  revenue_reports: { period_start: 'date', period_end: 'date', total_revenue: /^numeric\(\d+,2\)$/, currency: VARCHAR },
  usage_statistics: { stat_date: 'date', total_stores: INT, active_stores: INT, total_api_calls: 'bigint' },
  performance_metrics: { metric_name: VARCHAR, value: 'double precision', unit: VARCHAR, recorded_at: TIMESTAMPTZ },
  provisioning_jobs: {
    id: 'uuid',
    store_id: 'uuid',
    status: VARCHAR,
    step: VARCHAR,
    progress: 'integer',
    message: 'text',
    tables_created: 'integer',
    total_tables: 'integer',
    error: 'text',
    attempts: 'integer',
    last_error: 'text',
    next_attempt_at: TIMESTAMPTZ,
    started_at: TIMESTAMPTZ,
    finished_at: TIMESTAMPTZ,
    created_at: TIMESTAMPTZ,
    updated_at: TIMESTAMPTZ,
  },
};

interface Catalog {
  tables: string[];
  /** `table.column` → type (and " not null"). */
  columns: Record<string, string>;
  /** `table.constraint` → pg_get_constraintdef. */
  constraints: Record<string, string>;
  /** `table.index` → indexdef. */
  indexes: Record<string, string>;
}

/** The master's public schema, read from PostgreSQL's own catalogs with plain SQL. */
async function readCatalog(tm: TestMaster): Promise<Catalog> {
  const tables = await tm.sql(`select tablename from pg_tables where schemaname = 'public' order by 1`);
  const columns = await tm.sql(
    `select c.relname as t, a.attname as col, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
     from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped`,
  );
  const constraints = await tm.sql(
    `select c.relname as t, k.conname as name, pg_get_constraintdef(k.oid) as def
     from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public'`,
  );
  const indexes = await tm.sql(`select tablename as t, indexname as name, indexdef as def from pg_indexes where schemaname = 'public'`);
  const record = (rows: Row[], key: (r: Row) => string, value: (r: Row) => string) =>
    Object.fromEntries(rows.map((r) => [key(r), value(r)]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
  return {
    tables: tables.map((r) => String(r.tablename)),
    columns: record(
      columns,
      (r) => `${r.t}.${r.col}`,
      (r) => `${r.type}${r.not_null ? ' not null' : ''}`,
    ),
    constraints: record(
      constraints,
      (r) => `${r.t}.${r.name}`,
      (r) => String(r.def),
    ),
    indexes: record(
      indexes,
      (r) => `${r.t}.${r.name}`,
      (r) => String(r.def),
    ),
  };
}

/** Constraint definitions of one table. */
const constraintsOf = (catalog: Catalog, table: string) =>
  Object.entries(catalog.constraints)
    .filter(([name]) => name.startsWith(`${table}.`))
    .map(([, def]) => def);

/** Every row of every master table as text: where a plaintext secret would show if it ever landed there. */
async function dumpMaster(tm: TestMaster): Promise<string> {
  const tables = await tm.sql(`select tablename from pg_tables where schemaname = 'public'`);
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const rows = await tm.sql(`select t::text as row from "${String(tablename)}" t`);
    parts.push(...rows.map((r) => String(r.row)));
  }
  return parts.join('\n');
}

/** Resolves with the error the promise rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded');
    },
    (error: unknown) => error,
  );
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs fn with the test master open, and closes it afterwards (PGlite: so another process may open it). */
async function withMaster<T>(tm: TestMaster, fn: (master: MasterDatabase) => Promise<T>): Promise<T> {
  const master = await tm.open();
  try {
    return await fn(master);
  } finally {
    await master.close();
  }
}

describe.each(MASTER_CASES)('$name', (masterCase) => {
  let tm: TestMaster | undefined;
  const cleanup = new StoreCleanup();
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    try {
      for (const close of closers.splice(0).reverse()) await close().catch(() => {});
      await cleanup.run();
    } finally {
      await tm?.destroy();
      tm = undefined;
    }
  });

  async function freshMaster(): Promise<TestMaster> {
    tm = await masterCase.create();
    return tm;
  }

  it('migrations create every platform table with its key columns and constraints; a rerun changes nothing', async () => {
    const t = await freshMaster();
    const master = await t.open({ migrate: false });
    closers.push(() => master.close());
    expect(await migrateMaster(master)).toEqual([
      '0001-platform',
      '0002-job-streaks',
      '0003-api-token-name',
      '0004-store-identity',
      '0005-schema-versions',
      '0006-schema-rollouts',
      '0007-database-servers',
      '0008-usage',
    ]);
    const catalog = await readCatalog(t);

    for (const table of PLATFORM_TABLES) expect(catalog.tables, table).toContain(table);
    for (const [table, columns] of Object.entries(KEY_COLUMNS)) {
      for (const [column, type] of Object.entries(columns)) {
        const actual = catalog.columns[`${table}.${column}`];
        expect(actual, `${table}.${column}`).toBeDefined();
        const bare = (actual ?? '').replace(/ not null$/, '');
        if (typeof type === 'string') expect(bare, `${table}.${column}`).toBe(type);
        else expect(bare, `${table}.${column}`).toMatch(type);
      }
    }

    expect(constraintsOf(catalog, 'usage_metrics')).toContain('UNIQUE (store_id, metric_date)');
    expect(constraintsOf(catalog, 'stores')).toEqual(
      expect.arrayContaining([
        'UNIQUE (slug)',
        expect.stringMatching(/^FOREIGN KEY \(owner_id\) REFERENCES users\(id\)/),
        expect.stringMatching(/database_status.*provisioning.*active.*suspended.*failed.*detached/),
        expect.stringMatching(/deletion_policy.*Retain.*Delete/),
      ]),
    );
    expect(constraintsOf(catalog, 'subscriptions')).toContainEqual(
      expect.stringMatching(/^FOREIGN KEY \(store_id\) REFERENCES stores\(id\) ON DELETE CASCADE$/),
    );
    expect(constraintsOf(catalog, 'integration_configs')).toContainEqual(
      expect.stringMatching(/integration_type.*postgresql.*mysql.*supabase-database.*pglite/),
    );
    expect(constraintsOf(catalog, 'provisioning_jobs')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/status.*queued.*running.*succeeded.*failed/),
        expect.stringMatching(/progress >= 0.*progress <= 100/),
      ]),
    );
    // At most one active database config per store: a partial unique index.
    expect(Object.values(catalog.indexes)).toContainEqual(
      expect.stringMatching(/^CREATE UNIQUE INDEX \S+ ON public\.integration_configs USING btree \(store_id\) WHERE is_active$/),
    );
    const currency = await t.sql(
      `select column_default from information_schema.columns where table_name = 'billing_transactions' and column_name = 'currency'`,
    );
    expect(String(currency[0]?.column_default)).toMatch(/^'USD'/);

    // The constraints hold, not just exist: plain SQL that breaks them is refused by the database.
    const [user] = await t.sql(`insert into users (email) values ('owner@example.test') returning id`);
    const [store] = await t.sql(`insert into stores (name, slug, owner_id) values ('S', $1, $2) returning id`, [uniqueSlug(), user?.id]);
    await t.sql(`insert into usage_metrics (store_id, metric_date) values ($1, '2025-01-01')`, [store?.id]);
    expect(await failure(t.sql(`insert into usage_metrics (store_id, metric_date) values ($1, '2025-01-01')`, [store?.id]))).toMatchObject({
      code: '23505',
    });
    await t.sql(`insert into integration_configs (store_id, integration_type, config_data) values ($1, 'mysql', '{}')`, [store?.id]);
    expect(
      await failure(
        t.sql(`insert into integration_configs (store_id, integration_type, config_data) values ($1, 'mysql', '{}')`, [store?.id]),
      ),
    ).toMatchObject({ code: '23505' });
    expect(await failure(t.sql(`insert into provisioning_jobs (store_id, progress) values ($1, 101)`, [store?.id]))).toMatchObject({
      code: '23514',
    });
    await t.sql(`insert into subscriptions (store_id, plan_name) values ($1, 'free')`, [store?.id]);
    await t.sql(`delete from stores where id = $1`, [store?.id]);
    expect(await t.sql(`select 1 from subscriptions where store_id = $1`, [store?.id])).toEqual([]);

    // A rerun: nothing to apply, the catalog and the migration record unchanged.
    const record = await t.sql(`select name, timestamp from storeop_master_migrations order by name`);
    expect(await migrateMaster(master)).toEqual([]);
    const reopened = await t.open(); // migrates on open: also a no-op
    closers.push(() => reopened.close());
    expect(await readCatalog(t)).toEqual(catalog);
    expect(await t.sql(`select name, timestamp from storeop_master_migrations order by name`)).toEqual(record);
  });

  it('records the DatabaseServer a store is placed on once (the first record wins) and counts stores per server', async () => {
    const t = await freshMaster();
    const master = await t.open();
    closers.push(() => master.close());
    const [a, b, c] = await Promise.all(
      ['dbs-a', 'dbs-b', 'dbs-c'].map((slug) => upsertStore(master.db, { slug, name: slug, source: 'apply' })),
    );
    expect(await recordServer(master.db, (a as { id: string }).id, 'pg-1')).toBe('pg-1');
    // A second placement of the same store (another process, a lost status) keeps the first.
    expect(await recordServer(master.db, (a as { id: string }).id, 'pg-2')).toBe('pg-1');
    expect(await recordServer(master.db, (b as { id: string }).id, 'pg-1')).toBe('pg-1');
    expect(await recordServer(master.db, (c as { id: string }).id, 'pg-2')).toBe('pg-2');
    expect(Object.fromEntries(await storesPerServer(master.db))).toEqual({ 'pg-1': 2, 'pg-2': 1 });
  });

  it('two `storeop master migrate` processes started at once both succeed and the schema is applied once', async () => {
    const t = await freshMaster();
    const env = { STOREOP_HOME: t.home };
    const [a, b] = await Promise.all([
      runCli(['master', 'migrate', '--master-database-url', t.url], env),
      runCli(['master', 'migrate', '--master-database-url', t.url], env),
    ]);
    expect(a, a.stderr).toMatchObject({ code: 0 });
    expect(b, b.stderr).toMatchObject({ code: 0 });
    const outputs = [a.stdout, b.stdout];
    expect(
      outputs.filter((o) =>
        /^applied 0001-platform, 0002-job-streaks, 0003-api-token-name, 0004-store-identity, 0005-schema-versions, 0006-schema-rollouts, 0007-database-servers, 0008-usage to /.test(
          o,
        ),
      ),
    ).toHaveLength(1);
    expect(outputs.filter((o) => / is up to date\n$/.test(o))).toHaveLength(1);
    const catalog = await readCatalog(t);
    for (const table of PLATFORM_TABLES) expect(catalog.tables, table).toContain(table);
    expect(await t.sql(`select name from storeop_master_migrations order by name`)).toEqual([
      { name: '0001-platform' },
      { name: '0002-job-streaks' },
      { name: '0003-api-token-name' },
      { name: '0004-store-identity' },
      { name: '0005-schema-versions' },
      { name: '0006-schema-rollouts' },
      { name: '0007-database-servers' },
      { name: '0008-usage' },
    ]);

    // And a third run, later, has nothing to do.
    const c = await runCli(['master', 'migrate', '--master-database-url', t.url], env);
    expect(c, c.stderr).toMatchObject({ code: 0 });
    expect(c.stdout).toMatch(/ is up to date\n$/);
  });

  it('keeps store credentials encrypted at rest; rotate-key re-encrypts every row under the new primary key and stores still connect', async () => {
    const t = await freshMaster();
    const ctx = (master: MasterDatabase): MasterContext => ({ master, keyring: t.keyring, actor: 'test' });
    const pgSlug = uniqueSlug();
    const mySlug = uniqueSlug();
    const stores = await withMaster(t, async (master) => {
      const pg = await provisionStore(
        ctx(master),
        { slug: pgSlug, name: 'PG shop' },
        { target: cleanup.track(postgresCreateTarget(), pgSlug) },
      );
      const my = await provisionStore(
        ctx(master),
        { slug: mySlug, name: 'Maria shop' },
        { target: cleanup.track(mysqlCreateTarget(), mySlug) },
      );
      return { pg, my };
    });
    const passwords = [stores.pg.result.connection.password, stores.my.result.connection.password];
    for (const password of passwords) expect(password?.length).toBeGreaterThanOrEqual(16);

    const rawConfigs = async () =>
      t.sql(
        `select store_id, is_active, config_data::text as raw, config_data -> 'secrets' ->> 'kid' as kid from integration_configs order by store_id`,
      );
    const before = await rawConfigs();
    expect(before).toHaveLength(2);
    for (const row of before) {
      expect(row.kid).toBe(t.keyring.primaryId);
      expect(row.is_active).toBe(true);
      for (const password of passwords) expect(String(row.raw)).not.toContain(password);
    }
    const dump = await dumpMaster(t);
    for (const password of passwords) expect(dump).not.toContain(password as string);

    // A new primary key, the old one still listed so its rows can be read once more.
    const newSpec = Keyring.generateSpec('k-new');
    const rotate = await runCli(['master', 'rotate-key', '--master-database-url', t.url], {
      STOREOP_HOME: t.home,
      STOREOP_ENCRYPTION_KEYS: `${newSpec},${t.keysSpec}`,
    });
    expect(rotate, rotate.stderr).toMatchObject({ code: 0 });
    expect(rotate.stdout).toBe('re-encrypted 2 credential(s) under key k-new\n');
    const after = await rawConfigs();
    expect(after.map((r) => r.store_id)).toEqual(before.map((r) => r.store_id));
    for (const [i, row] of after.entries()) {
      expect(row.kid).toBe('k-new');
      expect(row.raw).not.toBe(before[i]?.raw);
      for (const password of passwords) expect(String(row.raw)).not.toContain(password);
    }
    const again = await runCli(['master', 'rotate-key', '--master-database-url', t.url], {
      STOREOP_HOME: t.home,
      STOREOP_ENCRYPTION_KEYS: `${newSpec},${t.keysSpec}`,
    });
    expect(again, again.stderr).toMatchObject({ code: 0, stdout: 're-encrypted 0 credential(s) under key k-new\n' });

    // Only the new key now: both stores' real databases still answer through the ConnectionManager.
    await withMaster(t, async (master) => {
      const manager = await ConnectionManager.open({ master, keyring: Keyring.parse(newSpec) });
      try {
        for (const { store } of [stores.pg, stores.my]) {
          const db = await manager.forStore(store.id);
          const rows = await db.selectFrom('store_settings').select(['key', 'value']).where('key', '=', 'currency').execute();
          expect(rows).toHaveLength(1);
        }
      } finally {
        await manager.close();
      }
      // The decrypted MariaDB password is the one MariaDB accepts for the store user (PostgreSQL here trusts).
      const config = await readActiveDatabaseConfig(master.db, Keyring.parse(newSpec), stores.my.store.id);
      expect(config?.connection.password).toBe(stores.my.result.connection.password);
    });
  });

  it('a row under an unknown key id gives DecryptionFailed naming the key id, in the library and in rotate-key', async () => {
    const t = await freshMaster();
    const retiredSpec = Keyring.generateSpec('k-retired-2019');
    const password = `pw-${uniqueSlug()}-secret`;
    const storeId = await withMaster(t, async (master) => {
      const store = await upsertStore(master.db, { slug: uniqueSlug(), name: 'Old shop' });
      // Saved by a deployment whose key has since been dropped from STOREOP_ENCRYPTION_KEYS.
      await saveDatabaseConfig(master.db, Keyring.parse(retiredSpec), store.id, {
        ...mysqlEndpoint(),
        engine: 'mysql',
        database: 'never_connected',
        password,
      });
      const manager = await ConnectionManager.open({ master, keyring: t.keyring });
      try {
        const error = await failure(manager.forStore(store.id));
        expect(error).toBeInstanceOf(StoreopError);
        expect(isStoreopError(error, 'DecryptionFailed')).toBe(true);
        const message = (error as Error).message;
        expect(message).toContain('k-retired-2019');
        expect(message).not.toContain(password);
        for (const spec of [retiredSpec, t.keysSpec]) expect(message).not.toContain(spec.split(':')[1]);
        expect(manager.openPools).toBe(0);
      } finally {
        await manager.close();
      }
      return store.id;
    });
    expect(storeId).toMatch(/^[0-9a-f-]{36}$/);

    const rotate = await runCli(['master', 'rotate-key', '--master-database-url', t.url], {
      STOREOP_HOME: t.home,
      STOREOP_ENCRYPTION_KEYS: `${Keyring.generateSpec('k-next')},${t.keysSpec}`,
    });
    expect(rotate.code).not.toBe(0);
    expect(rotate.stderr).toContain('k-retired-2019');
    expect(rotate.stderr).toMatch(/DecryptionFailed|decrypt|not among the configured keys/i);
    expect(rotate.stderr + rotate.stdout).not.toContain(password);
    // Nothing was half-rotated: the row is still under the retired key.
    expect(await t.sql(`select config_data -> 'secrets' ->> 'kid' as kid from integration_configs`)).toEqual([{ kid: 'k-retired-2019' }]);
  });

  it('upserting an unchanged store writes nothing; a changed name, plan or owner is written, another source is refused', async () => {
    await freshMaster();
    const t = tm as TestMaster;
    const slug = uniqueSlug();
    const declaration = { slug, name: 'Shop', ownerEmail: 'Owner@Example.com', plan: 'starter' as const, source: 'kubernetes:ns/shop' };
    // Row versions (xmin) of everything the upsert may write: unchanged when nothing was written.
    const versions = () =>
      t.sql(
        `SELECT (SELECT xmin::text FROM stores WHERE slug = $1) AS store,
                (SELECT string_agg(s.xmin::text || s.plan_name, ',' ORDER BY s.created_at) FROM subscriptions s JOIN stores st ON st.id = s.store_id WHERE st.slug = $1) AS subscriptions,
                (SELECT xmin::text FROM users WHERE email = 'owner@example.com') AS owner`,
        [slug],
      );
    await withMaster(t, async (master) => {
      const created = await upsertStore(master.db, declaration);
      const before = await versions();
      const again = await upsertStore(master.db, declaration);
      expect(again).toEqual(created);
      expect(await versions(), 'rows after an unchanged upsert').toEqual(before);

      const renamed = await upsertStore(master.db, { ...declaration, name: 'Shop 2', plan: 'professional' });
      expect(renamed).toMatchObject({ id: created.id, name: 'Shop 2', subscription_plan: 'professional' });
      const [after] = await versions();
      expect(String(after?.subscriptions)).toMatch(/starter,.*professional$/);
      await expect(upsertStore(master.db, { ...declaration, source: 'apply' })).rejects.toThrow(/already belongs to kubernetes:ns\/shop/);
    });
  });

  it('the provisioning_jobs row goes queued → running → succeeded with rising progress, ending at 100 with every table', async () => {
    const t = await freshMaster();
    const master = await t.open();
    closers.push(() => master.close());
    const ctx: MasterContext = { master, keyring: t.keyring, actor: 'test' };
    const slug = uniqueSlug();
    const job = await prepareStoreJob(ctx, { slug, name: 'Job shop' });
    const readJob = async () =>
      (
        await t.sql(
          `select status, step, progress, tables_created, total_tables, error, message, started_at, finished_at
           from provisioning_jobs where id = $1`,
          [job.jobId],
        )
      )[0];
    expect(await readJob()).toMatchObject({ status: 'queued', progress: 0, started_at: null, finished_at: null });

    // A poller on its own connection (PostgreSQL) records every distinct state of the row while the run goes.
    const seen: Row[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const row = await readJob();
        const last = seen.at(-1);
        if (row && (!last || ['status', 'step', 'progress', 'tables_created'].some((k) => row[k] !== last[k]))) seen.push(row);
        await sleep(10);
      }
    })();
    let result: Awaited<ReturnType<typeof runStoreJob>>;
    try {
      await until('the first poll', () => seen.length > 0); // the queued row, before the run starts
      result = await runStoreJob(ctx, job, {
        target: cleanup.track(postgresCreateTarget(), slug),
        // Each step waits until the poller has seen the row at that step: every step is observed without
        // depending on how fast this machine is.
        onStepDone: (step) =>
          until(`the job row at step ${step}`, () => seen.some((r) => r.status === 'running' && r.step === step), 60_000),
      });
    } finally {
      polling = false;
      await poller;
    }
    seen.push((await readJob()) as Row);

    expect(result.tablesCreated).toBe(STORE_TABLES.length);
    const statuses = seen.map((r) => r.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    const progress = seen.map((r) => Number(r.progress));
    for (let i = 1; i < progress.length; i++) expect(progress[i], `observation ${i}`).toBeGreaterThanOrEqual(progress[i - 1] as number);
    expect(new Set(progress).size).toBeGreaterThanOrEqual(5);
    const steps = seen.filter((r) => r.status === 'running').map((r) => String(r.step));
    for (const step of STEPS) expect(steps, step).toContain(step);
    expect(steps.map((s) => STEPS.indexOf(s as (typeof STEPS)[number]))).toEqual(
      [...steps.map((s) => STEPS.indexOf(s as (typeof STEPS)[number]))].sort((a, b) => a - b),
    );
    const final = seen.at(-1) as Row;
    expect(final).toMatchObject({ status: 'succeeded', progress: 100, tables_created: STORE_TABLES.length, error: null });
    expect(final.total_tables).toBe(final.tables_created);
    expect(final.started_at).toBeInstanceOf(Date);
    expect((final.finished_at as Date).getTime()).toBeGreaterThanOrEqual((final.started_at as Date).getTime());
    expect(await t.sql(`select database_status from stores where id = $1`, [job.store.id])).toEqual([{ database_status: 'active' }]);
  });

  it('a failing run ends its job as failed with an error that carries no password', async () => {
    const t = await freshMaster();
    const master = await t.open();
    closers.push(() => master.close());
    const ctx: MasterContext = { master, keyring: t.keyring, actor: 'test' };
    const slug = uniqueSlug();
    const wrongPassword = `Wrong-${uniqueSlug()}-Pw`;
    // MariaDB checks passwords: an admin password it does not know fails the run at its first step.
    const target = mysqlCreateTarget({ admin: { ...mysqlEndpoint(), password: wrongPassword } });
    cleanup.track(mysqlCreateTarget(), slug); // with the real admin, should anything have been created
    const job = await prepareStoreJob(ctx, { slug, name: 'Failing shop' });
    const error = await failure(runStoreJob(ctx, job, { target }));
    expect(isStoreopError(error)).toBe(true);
    expect((error as Error).message).not.toContain(wrongPassword);

    const [row] = await t.sql(`select status, error, error_code, message, finished_at from provisioning_jobs where id = $1`, [job.jobId]);
    expect(row).toMatchObject({ status: 'failed', error_code: (error as StoreopError).code });
    expect(String(row?.error).length).toBeGreaterThan(0);
    expect(row?.finished_at).toBeInstanceOf(Date);
    expect(await dumpMaster(t)).not.toContain(wrongPassword);
    expect(await t.sql(`select database_status from stores where id = $1`, [job.store.id])).toEqual([{ database_status: 'failed' }]);
  });
});

describe('the embedded default', () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
  });

  it('without a master URL, `storeop master` uses PGlite in $STOREOP_HOME/master and generates a 0600 key there', async () => {
    const home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
    homes.push(home);
    const migrate = await runCli(['master', 'migrate'], { STOREOP_HOME: home });
    expect(migrate, migrate.stderr).toMatchObject({ code: 0 });
    expect(migrate.stdout).toBe(
      `applied 0001-platform, 0002-job-streaks, 0003-api-token-name, 0004-store-identity, 0005-schema-versions, 0006-schema-rollouts, 0007-database-servers, 0008-usage to pglite://${join(home, 'master')}\n`,
    );
    expect(existsSync(join(home, 'master', 'PG_VERSION'))).toBe(true);

    const rotate = await runCli(['master', 'rotate-key'], { STOREOP_HOME: home });
    expect(rotate, rotate.stderr).toMatchObject({ code: 0 });
    expect(rotate.stdout).toMatch(/^re-encrypted 0 credential\(s\) under key k\d{8}\n$/);
    const key = join(home, 'encryption.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
  });
});
