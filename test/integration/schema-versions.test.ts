// A new StoreSchema version applied to an existing store database, on real PostgreSQL and MariaDB: the
// additive DDL made online on the table that already has rows (CREATE INDEX CONCURRENTLY; ALGORITHM=INPLACE,
// LOCK=NONE) in a session with a lock timeout, the version's migration run once, spec.seed rows only for a
// new store, an invalid leftover index repaired, and a failed version leaving the store working at the
// previous one. The store's sessions go through a wire relay, so the test sees the statements storeop sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StoreSchemaSpec, storeSchemaSpec } from '../../src/api/store-schema.js';
import type { DatabaseTarget } from '../../src/engines/target.js';
import { isStoreopError } from '../../src/errors.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { schemaFromSpec } from '../../src/schema/from-spec.js';
import { runEveryStep } from '../support/cleanup.js';
import {
  mysqlCreateTarget,
  mysqlEndpoint,
  openMysql,
  openPostgres,
  postgresAdmin,
  postgresCreateTarget,
  postgresEndpoint,
  StoreCleanup,
  type StoreDb,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';
import { startWireCounter, type WireCounter, type WireProtocol } from '../support/wire-counter.js';

interface VersionCase {
  name: string;
  protocol: WireProtocol;
  server: { host: string; port: number };
  target(publicPort: number): DatabaseTarget;
  open(slug: string): Promise<StoreDb>;
  /** Whether the store's database exists, read as the server admin. */
  databaseExists(slug: string): Promise<boolean>;
  /** The other dialect: a migration with statements only for it cannot target this engine. */
  otherDialect: 'postgres' | 'mysql';
  /** The statement that sets the DDL session's lock timeout, and the online forms of the v2 changes. */
  lockTimeout: RegExp;
  onlineDdl: RegExp[];
}

const CASES: VersionCase[] = [
  {
    name: 'PostgreSQL',
    protocol: 'postgres',
    server: postgresEndpoint(),
    target: (publicPort) => postgresCreateTarget({ publicHost: '127.0.0.1', publicPort }),
    open: (slug) => openPostgres(storeName(slug)),
    databaseExists: (slug) =>
      postgresAdmin(
        async (client) => ((await client.query('select 1 from pg_database where datname = $1', [storeName(slug)])).rowCount ?? 0) > 0,
      ),
    otherDialect: 'mysql',
    lockTimeout: /set_config\('lock_timeout'/,
    onlineDdl: [/^create index concurrently "idx_products_gift_wrap" on "products" \("gift_wrap"\)$/],
  },
  {
    name: 'MariaDB',
    protocol: 'mysql',
    server: mysqlEndpoint(),
    target: (publicPort) => mysqlCreateTarget({ publicHost: '127.0.0.1', publicPort }),
    open: (slug) => openMysql(storeName(slug)),
    databaseExists: (slug) =>
      withStoreDb(
        openMysql('mysql'),
        async (db) => (await db.query('select 1 from information_schema.schemata where schema_name = ?', [storeName(slug)])).length > 0,
      ),
    otherDialect: 'postgres',
    lockTimeout: /^SET SESSION lock_wait_timeout = \d+/,
    onlineDdl: [
      /^alter table `products` add column `gift_wrap` boolean default false not null, algorithm=inplace, lock=none$/,
      /^create index `idx_products_gift_wrap` on `products` \(`gift_wrap`\) algorithm=inplace lock=none$/,
    ],
  },
];

const PASSWORD = 'Schema-versions-test-1';

function v1(): StoreSchemaSpec {
  return storeSchemaSpec.parse({
    version: '1.0.0',
    tables: {
      products: {
        columns: {
          id: { kind: 'id' },
          sku: { kind: 'string', length: 64 },
          price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
        },
        indexes: [{ columns: ['sku'], unique: true }],
      },
    },
    seed: [{ table: 'products', rows: [{ sku: 'gift-card', price: '25.00' }] }],
  });
}

/** v2: a column with a default and an index on it, a backfill migration, and one more seed row (for new stores only). */
function v2(): StoreSchemaSpec {
  const spec = v1();
  spec.version = '2.0.0';
  const products = spec.tables.products as NonNullable<StoreSchemaSpec['tables'][string]>;
  products.columns.gift_wrap = { kind: 'boolean', default: false };
  products.indexes = [...(products.indexes ?? []), { columns: ['gift_wrap'] }];
  spec.migrations = [
    {
      version: '0001',
      description: 'gift cards are gift-wrapped',
      up: {
        postgres: ["update products set gift_wrap = true where sku like 'gift-%'"],
        mysql: ["update products set gift_wrap = true where sku like 'gift-%'"],
      },
    },
  ];
  spec.seed = [
    {
      table: 'products',
      rows: [
        { sku: 'gift-card', price: '25.00' },
        { sku: 'sticker', price: '1.00' },
      ],
    },
  ];
  return spec;
}

describe.each(CASES)('a new schema version on $name', (c) => {
  let counter: WireCounter;
  const cleanup = new StoreCleanup();

  beforeAll(async () => {
    counter = await startWireCounter(c.protocol, c.server);
  });
  afterAll(async () => {
    await runEveryStep('schema version cleanup failed', [() => cleanup.run(), () => counter.close()]);
  });

  async function storeAtV1(): Promise<{ slug: string; target: DatabaseTarget }> {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(counter.port), slug);
    const first = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v1()) });
    expect(first.seedRowsInserted).toBe(1);
    await withStoreDb(c.open(slug), (db) =>
      db.query("insert into products (sku, price) values ('mug', 9.5), ('gift-box', 3), ('pen', 1.25)"),
    );
    return { slug, target };
  }

  it('adds the column with its default and the index online, under a lock timeout, runs the migration once and seeds nothing', async () => {
    const { slug, target } = await storeAtV1();
    counter.reset();
    const result = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v2()) });
    expect(result.schemaVersion).toBe('2.0.0');
    expect(result.applied.map((a) => `${a.kind} ${a.name}`)).toEqual(['addColumn gift_wrap', 'createIndex idx_products_gift_wrap']);
    expect(result.migrationsApplied).toEqual(['0001']);
    expect(result.seedRowsInserted).toBe(0);

    const sent = counter.statements.map((s) => s.trim());
    const timeoutAt = sent.findIndex((s) => c.lockTimeout.test(s));
    expect(timeoutAt, sent.join('\n')).toBeGreaterThanOrEqual(0);
    for (const ddl of c.onlineDdl) {
      const at = sent.findIndex((s) => ddl.test(s));
      expect(at, `${ddl} in\n${sent.join('\n')}`).toBeGreaterThan(timeoutAt);
    }

    await withStoreDb(c.open(slug), async (db) => {
      const rows = await db.query('select sku, gift_wrap from products order by sku');
      expect(rows.map((r) => [r.sku, Boolean(r.gift_wrap)])).toEqual([
        ['gift-box', true],
        ['gift-card', true],
        ['mug', false],
        ['pen', false],
      ]);
      const history = await db.query(`select kind, version from storeop_schema_history where kind in ('migration', 'seed') order by id`);
      expect(history.map((h) => `${h.kind} ${h.version}`)).toEqual(['seed 1.0.0', 'migration 0001']);
    });

    // Again: nothing to do, the migration not run twice.
    const again = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v2()) });
    expect(again).toMatchObject({ changed: false, migrationsApplied: [], seedRowsInserted: 0, applied: [] });
    await withStoreDb(c.open(slug), async (db) => {
      const runs = await db.query(`select count(*) as n from storeop_schema_history where kind = 'migration' and version = '0001'`);
      expect(Number(runs[0]?.n)).toBe(1);
    });
  });

  it('gives a new store the version at once: tables as v2 says, migration recorded, the seed rows of v2', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(counter.port), slug);
    const result = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v2()) });
    expect(result).toMatchObject({ migrationsApplied: ['0001'], seedRowsInserted: 2 });
    await withStoreDb(c.open(slug), async (db) => {
      const rows = await db.query('select sku, gift_wrap from products order by sku');
      expect(rows.map((r) => [r.sku, Boolean(r.gift_wrap)])).toEqual([
        ['gift-card', false], // seeded after the migration ran, with the column's default
        ['sticker', false],
      ]);
    });
  });

  it('keeps a store that fails a version working at the previous one; the fixed version then completes', async () => {
    const { slug, target } = await storeAtV1();
    const broken = v2();
    broken.migrations = [
      { version: '0001', description: 'broken', up: { postgres: ['select * from no_such_table'], mysql: ['select * from no_such_table'] } },
    ];
    const failure = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(broken) }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isStoreopError(failure), String(failure)).toBe(true);
    expect((failure as Error).message).not.toContain(PASSWORD);
    await withStoreDb(c.open(slug), async (db) => {
      // v1's readers and writers are unaffected by what v2 added before it failed.
      await db.query("insert into products (sku, price) values ('after-failure', 2)");
      expect((await db.query('select sku from products order by sku')).map((r) => r.sku)).toContain('after-failure');
      const migrations = await db.query(`select version from storeop_schema_history where kind = 'migration'`);
      expect(migrations).toEqual([]);
    });
    const fixed = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v2()) });
    expect(fixed.migrationsApplied).toEqual(['0001']);
  });
});

describe.each(CASES)('a schema whose migrations cannot target $name', (c) => {
  it('is refused before the store database is created', async () => {
    const slug = uniqueSlug();
    const spec = v2();
    spec.migrations = [{ version: '0001', description: 'one dialect only', up: { [c.otherDialect]: ['select 1'] } }];
    const error = await provision({ slug, target: c.target(c.server.port), password: PASSWORD, schema: schemaFromSpec(spec) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreopError(error, 'InvalidSpec'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^store schema version 2\.0\.0: migration\(s\) 0001 have no (postgres|mysql) statements, so this schema cannot target/,
    );
    expect(await c.databaseExists(slug)).toBe(false);
  });
});

describe('an invalid leftover index on PostgreSQL', () => {
  let counter: WireCounter;
  const cleanup = new StoreCleanup();

  beforeAll(async () => {
    counter = await startWireCounter('postgres', postgresEndpoint());
  });
  afterAll(async () => {
    await runEveryStep('invalid index cleanup failed', [() => cleanup.run(), () => counter.close()]);
  });

  it('is dropped and built again concurrently', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(postgresCreateTarget({ publicHost: '127.0.0.1', publicPort: counter.port }), slug);
    await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v1()) });
    await withStoreDb(openPostgres(storeName(slug)), async (db) => {
      await db.query("insert into products (sku, price) values ('a', 1), ('b', 1)");
      await db.query('alter table products add column gift_wrap boolean not null default false');
      // A concurrent build that failed (duplicates for a unique index) leaves an invalid index of that name behind.
      const failed = await db.query('create unique index concurrently idx_products_gift_wrap on products (price)').then(
        () => 'built',
        (error: { code?: string }) => error.code,
      );
      expect(failed).toBe('23505');
      const [left] = await db.query(
        `select x.indisvalid from pg_index x join pg_class i on i.oid = x.indexrelid where i.relname = 'idx_products_gift_wrap'`,
      );
      expect(left?.indisvalid).toBe(false);
    });

    counter.reset();
    const result = await provision({ slug, target, password: PASSWORD, schema: schemaFromSpec(v2()) });
    expect(result.applied.map((a) => `${a.kind} ${a.name}`)).toContain('createIndex idx_products_gift_wrap');
    const sent = counter.statements.map((s) => s.trim());
    const dropAt = sent.indexOf('drop index concurrently if exists "idx_products_gift_wrap"');
    expect(dropAt, sent.join('\n')).toBeGreaterThanOrEqual(0);
    expect(sent.findIndex((s) => s.startsWith('create index concurrently "idx_products_gift_wrap"'))).toBeGreaterThan(dropAt);
    await withStoreDb(openPostgres(storeName(slug)), async (db) => {
      const [index] = await db.query(
        `select x.indisvalid, pg_get_indexdef(x.indexrelid) as def from pg_index x join pg_class i on i.oid = x.indexrelid where i.relname = 'idx_products_gift_wrap'`,
      );
      expect(index).toEqual({
        indisvalid: true,
        def: expect.stringMatching(/^CREATE INDEX idx_products_gift_wrap ON public\.products USING btree \(gift_wrap\)$/),
      });
    });
  });
});
