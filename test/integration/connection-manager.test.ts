// ConnectionManager, as an app uses it (imported from the package's entry point), on a PostgreSQL master
// and on a PGlite master: typed queries on stores' real PostgreSQL and MariaDB databases provisioned by the
// pipeline, one pool per store however many callers race, the LRU bound, credential rotation, typed errors.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionManager, type ConnectionManagerOptions, isStoreopError, Keyring, StoreopError } from '../../src/index.js';
import type { MasterDatabase } from '../../src/master/database.js';
import { deactivateDatabaseConfig, readActiveDatabaseConfig, saveDatabaseConfig } from '../../src/master/integrations.js';
import { setDatabaseFacts, upsertStore } from '../../src/master/stores.js';
import { type MasterContext, provisionStore } from '../../src/stores/provision-store.js';
import { MASTER_CASES, type TestMaster } from '../support/master.js';
import {
  mysqlAdmin,
  mysqlCreateTarget,
  openMysql,
  openPostgres,
  postgresCreateTarget,
  StoreCleanup,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded');
    },
    (error: unknown) => error,
  );
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface ProvisionedStore {
  id: string;
  slug: string;
  password: string;
}

describe.each(MASTER_CASES)('ConnectionManager with a $name', (masterCase) => {
  let tm: TestMaster;
  let master: MasterDatabase;
  let ctx: MasterContext;
  const shared = new StoreCleanup();
  const cleanup = new StoreCleanup();
  /** A PostgreSQL and a MariaDB store, provisioned once for the tests that only read and write rows. */
  let pgStore: ProvisionedStore;
  let myStore: ProvisionedStore;
  const managers: ConnectionManager[] = [];

  async function provisionOn(engine: 'postgresql' | 'mysql', cleaner: StoreCleanup): Promise<ProvisionedStore> {
    const slug = uniqueSlug();
    const target = cleaner.track(engine === 'mysql' ? mysqlCreateTarget() : postgresCreateTarget(), slug);
    const { store, result } = await provisionStore(ctx, { slug, name: `Shop ${slug}` }, { target });
    return { id: store.id, slug, password: result.connection.password as string };
  }

  /** A manager on the test master; closed after the test. */
  async function manager(options: Omit<ConnectionManagerOptions, 'master' | 'keyring'> = {}): Promise<ConnectionManager> {
    const m = await ConnectionManager.open({ master, keyring: tm.keyring, ...options });
    managers.push(m);
    return m;
  }

  beforeAll(async () => {
    tm = await masterCase.create();
    master = await tm.open();
    ctx = { master, keyring: tm.keyring, actor: 'test' };
    pgStore = await provisionOn('postgresql', shared);
    myStore = await provisionOn('mysql', shared);
  });

  afterEach(async () => {
    await Promise.allSettled(managers.splice(0).map((m) => m.close()));
    await cleanup.run();
  });

  afterAll(async () => {
    try {
      await shared.run();
    } finally {
      await master?.close();
      await tm?.destroy();
    }
  });

  it("connects to each store's own PostgreSQL and MariaDB database and runs typed queries; nothing in clear in config_data", async () => {
    for (const store of [pgStore, myStore]) {
      const [raw] = await tm.sql(`select config_data::text as raw from integration_configs where store_id = $1 and is_active`, [store.id]);
      expect(String(raw?.raw)).toMatch(/"kid"/);
      expect(String(raw?.raw)).not.toContain(store.password);
    }

    const cm = await manager();
    for (const [store, dialect] of [
      [pgStore, 'postgres'],
      [myStore, 'mysql'],
    ] as const) {
      const db = await cm.forStore(store.id);
      const sku = `SKU-${store.slug}`;
      await db
        .insertInto('products')
        .values({ sku, slug: `p-${store.slug}`, name: 'Mug', price: '12.50' })
        .execute();
      const product = await db
        .selectFrom('products')
        .select(['id', 'sku', 'name', 'price', 'status'])
        .where('sku', '=', sku)
        .executeTakeFirstOrThrow();
      expect(product).toMatchObject({ sku, name: 'Mug', status: 'draft' });
      expect(Number(product.price)).toBe(12.5);
      expect(typeof product.id).toBe('number');

      // The row is in this store's real database, read back with the test's own connection as the admin.
      const open = dialect === 'postgres' ? openPostgres(storeName(store.slug)) : openMysql(storeName(store.slug));
      const rows = await withStoreDb(open, (s) =>
        s.query(`select name from products where sku = ${dialect === 'postgres' ? '$1' : '?'}`, [sku]),
      );
      expect(rows).toEqual([{ name: 'Mug' }]);

      const counted = await cm.query<{ n: number | string; who: string }>(
        store.id,
        dialect === 'postgres'
          ? 'select count(*)::int as n, current_user as who from products where sku = $1'
          : 'select count(*) as n, current_user() as who from products where sku = ?',
        [sku],
      );
      expect(Number(counted[0]?.n)).toBe(1);
      // As the store's own role/user, not the admin.
      expect(String(counted[0]?.who)).toMatch(new RegExp(`^${storeName(store.slug)}(@|$)`));
    }

    const registered = await cm
      .master()
      .selectFrom('stores')
      .select(['slug', 'database_status'])
      .where('id', 'in', [pgStore.id, myStore.id])
      .execute();
    expect(registered.sort((a, b) => a.slug.localeCompare(b.slug))).toEqual(
      [pgStore, myStore].map((s) => ({ slug: s.slug, database_status: 'active' })).sort((a, b) => a.slug.localeCompare(b.slug)),
    );
    expect(cm.openPools).toBe(2);
  });

  it('opens a master of its own from a URL, and close() ends every pool and refuses further use', async () => {
    const events: string[] = [];
    const cm = await ConnectionManager.open({
      masterUrl: tm.url,
      home: tm.home,
      keyring: tm.keyring,
      onPoolOpen: (id) => events.push(`open ${id}`),
      onPoolClose: (id, reason) => events.push(`close ${id} ${reason}`),
    });
    managers.push(cm);
    expect(await cm.query(pgStore.id, 'select 1 as one')).toEqual([{ one: 1 }]);
    expect(await cm.query(myStore.id, 'select 1 as one')).toEqual([{ one: 1 }]);
    expect((await cm.master().selectFrom('stores').select('id').where('id', '=', pgStore.id).execute()).length).toBe(1);
    await cm.close();
    expect(events.sort()).toEqual(
      [`close ${myStore.id} closed`, `close ${pgStore.id} closed`, `open ${myStore.id}`, `open ${pgStore.id}`].sort(),
    );
    expect(cm.openPools).toBe(0);
    expect(await failure(cm.forStore(pgStore.id))).toBeInstanceOf(StoreopError);
    // The test's own master handle is unaffected by the manager closing the one it opened.
    expect(await master.db.selectFrom('stores').select('id').where('id', '=', pgStore.id).execute()).toHaveLength(1);
  });

  it('100 concurrent forStore calls for one store open exactly one pool', async () => {
    const opened: string[] = [];
    const cm = await manager({ onPoolOpen: (id) => opened.push(id) });
    const dbs = await Promise.all(Array.from({ length: 100 }, () => cm.forStore(myStore.id)));
    expect(new Set(dbs).size).toBe(1);
    expect(opened).toEqual([myStore.id]);
    expect(cm.openPools).toBe(1);
    // And the one pool serves all of them at once.
    const answers = await Promise.all(
      dbs.map((db, i) =>
        db
          .selectFrom('store_settings')
          .select('value')
          .where('key', '=', 'currency')
          .execute()
          .then((r) => [i, r.length]),
      ),
    );
    expect(answers.every(([, n]) => n === 1)).toBe(true);
    expect(opened).toEqual([myStore.id]);
  });

  /** Fifty more stores in the registry, each with its own active config (so its own pool) leading to the PostgreSQL store's database. */
  async function fiftyStores(): Promise<string[]> {
    const config = await readActiveDatabaseConfig(master.db, tm.keyring, pgStore.id);
    expect(config).toBeDefined();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const store = await upsertStore(master.db, { slug: uniqueSlug(), name: `Tenant ${i}` });
      await saveDatabaseConfig(master.db, tm.keyring, store.id, config?.connection as NonNullable<typeof config>['connection']);
      await setDatabaseFacts(master.db, store.id, { status: 'active' });
      ids.push(store.id);
    }
    return ids;
  }

  /** A manager with maxStores 10 that counts the pools open at every moment through its hooks. */
  async function boundedManager() {
    const seen = { open: 0, maxOpen: 0, opened: [] as string[], closed: [] as string[] };
    const cm = await manager({
      maxStores: 10,
      onPoolOpen: (id) => {
        seen.open++;
        seen.maxOpen = Math.max(seen.maxOpen, seen.open);
        seen.opened.push(id);
      },
      onPoolClose: (id, reason) => {
        seen.open--;
        seen.closed.push(`${id} ${reason}`);
      },
    });
    return { cm, seen };
  }

  it('with maxStores 10, 50 stores used in turn never have more than 10 pools open', async () => {
    const ids = await fiftyStores();
    const { cm, seen } = await boundedManager();
    const { opened, closed } = seen;
    for (const round of [1, 2]) {
      for (const id of ids) {
        const rows = await cm.query<{ db: string }>(id, 'select current_database() as db');
        expect(rows).toEqual([{ db: storeName(pgStore.slug) }]);
        expect(cm.openPools, `round ${round}`).toBeLessThanOrEqual(10);
        expect(seen.open).toBeLessThanOrEqual(10);
      }
    }
    expect(seen.maxOpen).toBe(10);
    expect(cm.openPools).toBe(10);
    expect(seen.open).toBe(10);
    // Used in turn, each store's pool had been evicted (least recently used) before its next use.
    expect(opened).toHaveLength(100);
    expect(closed).toHaveLength(90);
    expect(closed.every((c) => c.endsWith(' lru'))).toBe(true);
    // The ten most recently used stay open: using one again opens nothing.
    await cm.forStore(ids[49] as string);
    await cm.forStore(ids[40] as string);
    expect(opened).toHaveLength(100);
  });

  it('with maxStores 10, 50 stores queried all at once queue for pools: every query succeeds, never more than 10 pools', async () => {
    const ids = await fiftyStores();
    const { cm, seen } = await boundedManager();
    // Each query holds its connection a while, so evictions meet pools that are in use.
    const results = await Promise.allSettled(
      ids.map((id) => cm.query<{ db: string }>(id, 'select current_database() as db from (select pg_sleep(0.05)) as slept')),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(failures).toEqual([]);
    for (const r of results) if (r.status === 'fulfilled') expect(r.value).toEqual([{ db: storeName(pgStore.slug) }]);
    expect(seen.maxOpen).toBeLessThanOrEqual(10);
    expect(seen.opened).toHaveLength(50);
    expect(cm.openPools).toBe(10);

    // withStore keeps its pool for the whole callback, across several queries and awaits.
    const burst = await Promise.allSettled(
      ids.map((id) =>
        cm.withStore(id, async (db) => {
          const first = await db.selectFrom('store_settings').select('value').where('key', '=', 'currency').execute();
          await sql`select pg_sleep(0.02)`.execute(db);
          const second = await db.selectFrom('store_settings').select('value').where('key', '=', 'locale').execute();
          return first.length + second.length;
        }),
      ),
    );
    expect(burst.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
    expect(burst.map((r) => (r.status === 'fulfilled' ? r.value : 0))).toEqual(ids.map(() => 2));
    expect(seen.maxOpen).toBeLessThanOrEqual(10);
  });

  it("rotating a MariaDB store's password (config updated) makes the next forStore use the new one", async () => {
    const store = await provisionOn('mysql', cleanup);
    const user = storeName(store.slug);
    const opened: string[] = [];
    const closed: string[] = [];
    const cm = await manager({ revalidateMs: 0, onPoolOpen: (id) => opened.push(id), onPoolClose: (_id, reason) => closed.push(reason) });
    const before = await cm.forStore(store.id);
    expect(await cm.query(store.id, 'select current_user() as who')).toEqual([{ who: `${user}@%` }]);

    const newPassword = `Rotated-${randomUUID()}`;
    await mysqlAdmin([`ALTER USER ?@'%' IDENTIFIED BY ?`], [[user, newPassword]]);
    // MariaDB checks passwords: a fresh pool from the unchanged config is refused now. query() reads the
    // config again and tries new pools for a few seconds (a rotation's window), then reports it, typed.
    await cm.invalidate(store.id);
    const refused = await failure(cm.query(store.id, 'select 1'));
    expect(refused).toMatchObject({ code: 'AuthenticationFailed', retryable: true });
    expect(String((refused as Error).message)).toMatch(/Access denied/);
    expect(String((refused as Error).message)).not.toContain(store.password);
    await until('the refused pools to close', () => closed.length === 6);
    expect(closed).toEqual(['invalidated', ...Array(5).fill('auth-failed')]);
    const stale = await cm.forStore(store.id); // a pool from the unchanged config, not used yet

    const config = await readActiveDatabaseConfig(master.db, tm.keyring, store.id);
    const { changed } = await saveDatabaseConfig(master.db, tm.keyring, store.id, {
      ...(config?.connection as NonNullable<typeof config>['connection']),
      password: newPassword,
    });
    expect(changed).toBe(true);
    const [raw] = await tm.sql(`select config_data::text as raw from integration_configs where store_id = $1 and is_active`, [store.id]);
    expect(String(raw?.raw)).not.toContain(newPassword);

    // No invalidate(): the changed config row alone retires the stale pool.
    const after = await cm.forStore(store.id);
    expect(after).not.toBe(before);
    expect(after).not.toBe(stale);
    expect(await cm.query(store.id, 'select current_user() as who')).toEqual([{ who: `${user}@%` }]);
    expect(opened).toHaveLength(8); // before, five refused, stale, after
    await until('the stale pool to close', () => closed.length === 7);
    expect(closed.at(-1)).toBe('config-changed');
  });

  it('fails with typed errors: StoreNotFound, NoDatabaseConfigured, StoreSuspended, DecryptionFailed', async () => {
    const closed: string[] = [];
    const cm = await manager({ revalidateMs: 0, onPoolClose: (_id, reason) => closed.push(reason) });

    for (const id of [randomUUID(), 'not-a-store-id']) {
      const error = await failure(cm.forStore(id));
      expect(error).toBeInstanceOf(StoreopError);
      expect(error).toMatchObject({ code: 'StoreNotFound', name: 'StoreNotFound' });
      expect((error as Error).message).toContain(id);
    }

    const bare = await upsertStore(master.db, { slug: uniqueSlug(), name: 'No database yet' });
    const none = await failure(cm.forStore(bare.id));
    expect(isStoreopError(none, 'NoDatabaseConfigured')).toBe(true);
    expect(await failure(cm.query(bare.id, 'select 1'))).toMatchObject({ code: 'NoDatabaseConfigured' });

    // A store whose config is deactivated has none either.
    const config = await readActiveDatabaseConfig(master.db, tm.keyring, pgStore.id);
    const detached = await upsertStore(master.db, { slug: uniqueSlug(), name: 'Detached' });
    await saveDatabaseConfig(master.db, tm.keyring, detached.id, config?.connection as NonNullable<typeof config>['connection']);
    expect(await cm.query(detached.id, 'select 1 as one')).toEqual([{ one: 1 }]);
    await deactivateDatabaseConfig(master.db, detached.id);
    expect(await failure(cm.forStore(detached.id))).toMatchObject({ code: 'NoDatabaseConfigured' });

    // Suspended while its pool is open: the next call is refused and the pool closed.
    const suspended = await upsertStore(master.db, { slug: uniqueSlug(), name: 'Suspended' });
    await saveDatabaseConfig(master.db, tm.keyring, suspended.id, config?.connection as NonNullable<typeof config>['connection']);
    expect(await cm.query(suspended.id, 'select 1 as one')).toEqual([{ one: 1 }]);
    await setDatabaseFacts(master.db, suspended.id, { status: 'suspended' });
    const refused = await failure(cm.forStore(suspended.id));
    expect(refused).toBeInstanceOf(StoreopError);
    expect(refused).toMatchObject({ code: 'StoreSuspended' });
    expect((refused as Error).message).toContain(suspended.slug);
    await until("the suspended store's pool to close", () => closed.includes('unavailable'));
    expect(await failure(cm.forStore(suspended.id))).toMatchObject({ code: 'StoreSuspended' });

    // A config under a key this manager does not have.
    const lost = Keyring.generateSpec('k-lost-key');
    const orphan = await upsertStore(master.db, { slug: uniqueSlug(), name: 'Orphan' });
    await saveDatabaseConfig(master.db, Keyring.parse(lost), orphan.id, {
      ...(config?.connection as NonNullable<typeof config>['connection']),
      password: 'orphan-secret-pw',
    });
    const undecryptable = await failure(cm.forStore(orphan.id));
    expect(isStoreopError(undecryptable, 'DecryptionFailed')).toBe(true);
    expect((undecryptable as Error).message).toContain('k-lost-key');
    expect((undecryptable as Error).message).not.toContain('orphan-secret-pw');
    expect((undecryptable as Error).message).not.toContain(lost.split(':')[1]);
  });
});
