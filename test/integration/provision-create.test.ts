// Create mode on every engine: a fresh store gets all tables, keys, indexes and default rows, owned by its
// own role; a second run changes nothing and keeps what the user edited; deprovision leaves no trace.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import { provision } from '../../src/provisioning/pipeline.js';
import type { Progress } from '../../src/provisioning/progress.js';
import { uniqueName } from '../support/databases.js';
import {
  type CreateCase,
  dropPostgresDatabase,
  expectProgress,
  expectProvisionedStore,
  mysqlCase,
  pgliteCase,
  postgresDatabaseCase,
  postgresSchemaCase,
  readStoreState,
  STORE_TABLES,
  StoreCleanup,
  type StoreDb,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const SEED = { currency: 'EUR', locale: 'de-DE', displayName: 'Test Shop' };
const sharedDatabase = uniqueName('t_shared');
const pgliteRoot = mkdtempSync(join(tmpdir(), 'storeop-pglite-'));

afterAll(async () => {
  await dropPostgresDatabase(sharedDatabase);
  rmSync(pgliteRoot, { recursive: true, force: true });
});

const cases: CreateCase[] = [postgresDatabaseCase(), postgresSchemaCase(sharedDatabase), mysqlCase(), pgliteCase(pgliteRoot)];

/** Table owners (and the schema's and database's owner) on PostgreSQL, from pg_catalog. */
async function postgresOwners(db: StoreDb): Promise<string[]> {
  const rows = await db.query(
    `select tableowner as owner from pg_tables where schemaname = $1
     union all select pg_get_userbyid(nspowner) from pg_namespace where nspname = $1 and nspname <> 'public'
     union all select pg_get_userbyid(datdba) from pg_database where datname = current_database() and $1 = 'public'`,
    [db.schema],
  );
  return rows.map((r) => String(r.owner));
}

describe.each(cases)('create mode on $name', (c) => {
  const cleanup = new StoreCleanup();
  afterEach(() => cleanup.run());

  it('creates the thirteen tables with keys, indexes and default rows, and reports progress up to 100', async () => {
    const slug = uniqueSlug();
    const events: Progress[] = [];
    const result = await provision({
      slug,
      target: cleanup.track(c.target(slug), slug),
      seed: SEED,
      onProgress: (p) => {
        events.push(p);
      },
    });

    expect(result.connection).toMatchObject(c.expectedConnection(slug));
    expect(result).toMatchObject({ slug, changed: true, tablesCreated: 13, totalTables: 13, seedRowsInserted: 8, migrationsApplied: [] });
    expect(
      result.applied
        .filter((change) => change.kind === 'createTable')
        .map((change) => change.table)
        .sort(),
    ).toEqual(STORE_TABLES);
    expectProgress(events);

    await withStoreDb(c.open(slug), async (db) => {
      expectProvisionedStore(await readStoreState(db), c.dialect, SEED);
      if (c.hasLogin && c.dialect === 'postgres') {
        const owners = await postgresOwners(db);
        expect(owners.length).toBeGreaterThanOrEqual(STORE_TABLES.length + 2); // tables, history, schema or database
        expect(new Set(owners)).toEqual(new Set([storeName(slug)]));
      }
    });
  });

  it('changes nothing on a second run, seeds no row twice and keeps a seed row the user edited', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(slug), slug);
    await provision({ slug, target, seed: SEED });
    const before = await withStoreDb(c.open(slug), async (db) => {
      await db.query(`update cms_pages set title = 'Welcome to Test Shop' where slug = 'home'`);
      return readStoreState(db);
    });
    expect(before.seeds.pages.find((p) => p.slug === 'home')?.title).toBe('Welcome to Test Shop');

    const events: Progress[] = [];
    const second = await provision({
      slug,
      target,
      seed: SEED,
      onProgress: (p) => {
        events.push(p);
      },
    });

    expect(second).toMatchObject({ changed: false, applied: [], migrationsApplied: [], seedRowsInserted: 0 });
    expectProgress(events);
    const after = await withStoreDb(c.open(slug), readStoreState);
    expect(after).toEqual(before); // same tables, columns, indexes, keys, rows (with the edited title) and history
    expect(after.history).toEqual({ schema: 1, seed: 1 });
    expect(after.seeds.pages).toHaveLength(4);
  });

  it('deprovisions the database (or schema) and the role/user, and a second deprovision is a no-op', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(slug), slug);
    await provision({ slug, target, seed: false });
    expect(await c.exists(slug)).toEqual({ database: true, login: c.hasLogin });

    await engineFor(target.engine).deprovision(target, slug);
    expect(await c.exists(slug)).toEqual({ database: false, login: false });
    await engineFor(target.engine).deprovision(target, slug);
    expect(await c.exists(slug)).toEqual({ database: false, login: false });
  });
});
