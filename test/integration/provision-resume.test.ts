// Runs that overlap, crash half-way or meet a migration: on PostgreSQL and MariaDB every one of them
// ends in the same store database, with the schema applied once and each migration run once.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { provision, STORE_TARGET_SCHEMA } from '../../src/provisioning/pipeline.js';
import { STEPS, type StepName } from '../../src/provisioning/progress.js';
import type { Migration } from '../../src/schema/migrations.js';
import {
  type CreateCase,
  expectProvisionedStore,
  HISTORY_TABLE,
  mysqlCase,
  postgresDatabaseCase,
  readCatalog,
  readHistoryKinds,
  readStoreState,
  STORE_TABLES,
  StoreCleanup,
  type StoreState,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const SEED = { currency: 'CHF', locale: 'fr-CH', displayName: 'Resumed Shop' };

/** What a store holds right after a run that stopped after `step`: nothing, an empty database, tables, or everything. */
function afterCrash(step: StepName): { database: boolean; tables: number; history: Record<string, number> } {
  const index = STEPS.indexOf(step);
  if (index < STEPS.indexOf('createDatabase')) return { database: false, tables: 0, history: {} };
  if (index < STEPS.indexOf('createMissing')) return { database: true, tables: 0, history: {} };
  if (index < STEPS.indexOf('seed')) return { database: true, tables: STORE_TABLES.length, history: { schema: 1 } };
  return { database: true, tables: STORE_TABLES.length, history: { schema: 1, seed: 1 } };
}

describe.each<CreateCase>([postgresDatabaseCase(), mysqlCase()])('on $name', (c) => {
  const cleanup = new StoreCleanup();
  afterEach(() => cleanup.run());

  describe('a run that crashed after a step, then ran again', () => {
    let reference: StoreState;
    beforeAll(async () => {
      const slug = uniqueSlug();
      await provision({ slug, target: cleanup.track(c.target(slug), slug), seed: SEED });
      reference = await withStoreDb(c.open(slug), readStoreState);
      expectProvisionedStore(reference, c.dialect, SEED);
      await cleanup.run();
    });

    it.each(STEPS.filter((step) => step !== 'register'))('converges after a crash right after %s', async (step) => {
      const slug = uniqueSlug();
      const target = cleanup.track(c.target(slug), slug);
      const crash = new Error(`simulated crash after ${step}`);
      await expect(
        provision({
          slug,
          target,
          seed: SEED,
          onStepDone: (done) => {
            if (done === step) throw crash;
          },
        }),
      ).rejects.toThrow(crash.message);

      // The crash happened where it was meant to: the store is exactly as far along as that step gets it.
      const expected = afterCrash(step);
      expect((await c.exists(slug)).database).toBe(expected.database);
      if (expected.database) {
        await withStoreDb(c.open(slug), async (db) => {
          const tables = (await readCatalog(db)).tables;
          expect(tables.filter((t) => t !== HISTORY_TABLE)).toHaveLength(expected.tables);
          expect(tables.includes(HISTORY_TABLE) ? await readHistoryKinds(db) : {}).toEqual(expected.history);
        });
      }

      const rerun = await provision({ slug, target, seed: SEED });
      expect(rerun.tablesCreated).toBe(STORE_TABLES.length);
      const state = await withStoreDb(c.open(slug), readStoreState);
      expect(state).toEqual(reference);
      expectProvisionedStore(state, c.dialect, SEED);
    });
  });

  it('two runs started at once on one store both succeed and apply the schema once', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(slug), slug);
    // Both pass the password the caller keeps for the store (ProvisionRequest.password). Two runs that
    // each generated a password would each set theirs on the same role/user, and on a server that checks
    // passwords the earlier run's connection would stop working: not what this test is about.
    const password = 'Concurrent-Pass-1';
    const results = await Promise.all([
      provision({ slug, target, password, seed: SEED }),
      provision({ slug, target, password, seed: SEED }),
    ]);

    expect(results.map((r) => r.changed).sort()).toEqual([false, true]);
    const state = await withStoreDb(c.open(slug), readStoreState);
    expectProvisionedStore(state, c.dialect, SEED); // includes exactly one 'schema' and one 'seed' history row
  });

  it('runs a migration once, never again, and refuses it once its SQL was edited', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(slug), slug);
    await provision({ slug, target, seed: false });
    const insertProduct = (sku: string, price: string) =>
      withStoreDb(c.open(slug), (db) =>
        db.query(`insert into products (sku, slug, name, price) values ('${sku}', '${sku}', 'Product ${sku}', ${price})`),
      );
    const compareAtPrices = () =>
      withStoreDb(c.open(slug), async (db) => {
        const rows = await db.query('select sku, compare_at_price from products order by sku');
        return Object.fromEntries(rows.map((r) => [String(r.sku), r.compare_at_price === null ? null : String(r.compare_at_price)]));
      });
    const migrationHistory = () =>
      withStoreDb(c.open(slug), (db) => db.query(`select version, description from ${HISTORY_TABLE} where kind = 'migration'`));

    const backfill: Migration = {
      version: '9001',
      description: 'test: compare_at_price defaults to price',
      up: {
        postgres: ['update products set compare_at_price = price where compare_at_price is null'],
        mysql: ['update products set compare_at_price = price where compare_at_price is null'],
      },
    };
    await insertProduct('p-1', '12.50');
    const first = await provision({ slug, target, seed: false, schema: { ...STORE_TARGET_SCHEMA, migrations: [backfill] } });
    expect(first).toMatchObject({ migrationsApplied: ['9001'], applied: [], changed: true });
    expect(await compareAtPrices()).toEqual({ 'p-1': '12.50' });
    expect(await migrationHistory()).toEqual([{ version: '9001', description: backfill.description }]);

    await insertProduct('p-2', '3.00');
    const second = await provision({ slug, target, seed: false, schema: { ...STORE_TARGET_SCHEMA, migrations: [backfill] } });
    expect(second).toMatchObject({ migrationsApplied: [], applied: [], changed: false });
    expect(await compareAtPrices()).toEqual({ 'p-1': '12.50', 'p-2': null });
    expect(await migrationHistory()).toHaveLength(1);

    const edited: Migration = {
      ...backfill,
      up: {
        postgres: ['update products set compare_at_price = price * 2 where compare_at_price is null'],
        mysql: ['update products set compare_at_price = price * 2 where compare_at_price is null'],
      },
    };
    await expect(provision({ slug, target, seed: false, schema: { ...STORE_TARGET_SCHEMA, migrations: [edited] } })).rejects.toMatchObject({
      code: 'MigrationChanged',
      message: expect.stringContaining('9001'),
    });
    expect(await compareAtPrices()).toEqual({ 'p-1': '12.50', 'p-2': null });
    expect(await migrationHistory()).toHaveLength(1);
    expect(await withStoreDb(c.open(slug), readHistoryKinds)).toEqual({ schema: 1, migration: 1 });
  });
});
