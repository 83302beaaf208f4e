// One store service behind three drivers: the same cases through `storeop apply` (and `storeop delete`),
// the standalone API (`storeop api`) and the controller (`storeop run`), on PostgreSQL and MariaDB. Each
// case checks from outside: the driver's answer, the master DB and the server catalogs read with the
// test's own SQL. The cases of one driver and engine share a store where a lifecycle continues.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEveryStep } from '../support/cleanup.js';
import {
  dropStoreLeftovers,
  holdAdminLock,
  mysqlEndpoint,
  openMysql,
  openPostgres,
  postgresAdmin,
  postgresEndpoint,
  storeName,
  withStoreDb,
} from '../support/store-db.js';
import { DRIVERS, type Driver, type DriverName, type StoreCase } from '../support/store-drivers.js';

type Engine = 'postgresql' | 'mysql';
const TIMEOUT = 600_000;

const svcSlug = () => `svc-${randomBytes(4).toString('hex')}`;

function storeCase(engine: Engine, name: string, database: Record<string, unknown> = {}, extra: Partial<StoreCase> = {}): StoreCase {
  const endpoint = engine === 'postgresql' ? postgresEndpoint() : mysqlEndpoint();
  return {
    name,
    displayName: `Parity ${name}`,
    database: {
      engine,
      server: { host: endpoint.host, port: endpoint.port, adminSecretRef: { name: 'svc-admin' } },
      ...database,
    },
    secrets: { 'svc-admin': { username: endpoint.user, password: endpoint.password ?? '' } },
    ...extra,
  };
}

/** The server's view of a store: its database, and whether its role/user may log in. */
async function serverFacts(
  engine: Engine,
  slug: string,
  database = storeName(slug),
): Promise<{ database: boolean; login: boolean | null }> {
  const role = storeName(slug);
  if (engine === 'postgresql') {
    return postgresAdmin(async (c) => {
      const db = await c.query('select 1 from pg_database where datname = $1', [database]);
      const r = await c.query<{ rolcanlogin: boolean }>('select rolcanlogin from pg_roles where rolname = $1', [role]);
      return { database: (db.rowCount ?? 0) > 0, login: r.rows[0]?.rolcanlogin ?? null };
    });
  }
  return withStoreDb(openMysql('mysql'), async (db) => {
    const schemata = await db.query('select 1 from information_schema.schemata where schema_name = ?', [database]);
    const hosts = await db.query('select Host as host from mysql.user where User = ?', [role]);
    // MariaDB keeps the lock in mysql.global_priv; SHOW CREATE USER spells it out on both servers.
    const created = await Promise.all(
      hosts.map(async (h) => Object.values((await db.query('SHOW CREATE USER ?@?', [role, String(h.host)]))[0] ?? {})),
    );
    return { database: schemata.length > 0, login: hosts.length ? created.every((c) => !/ACCOUNT LOCK/i.test(String(c[0]))) : null };
  });
}

async function storeSettings(engine: Engine, slug: string): Promise<Record<string, string>> {
  const open = engine === 'postgresql' ? openPostgres(storeName(slug)) : openMysql(storeName(slug));
  const rows = await withStoreDb(open, (db) => db.query('select * from store_settings'));
  return Object.fromEntries(rows.map((r) => [String(r.key), String(r.value)]));
}

describe.each(['apply', 'api', 'controller'] as DriverName[])('driver %s', (driverName) => {
  describe.each(['postgresql', 'mysql'] as Engine[])('on %s', (engine) => {
    let driver: Driver;
    const slugs: string[] = [];
    const slug = () => {
      const s = svcSlug();
      slugs.push(s);
      return s;
    };

    beforeAll(async () => {
      driver = await DRIVERS[driverName]();
    }, 180_000);

    afterAll(async () => {
      await runEveryStep('could not clean up the parity stores', [
        () => driver?.close(),
        ...slugs.map((s) => () => dropStoreLeftovers(engine, s)),
        ...slugs.map(
          (s) => () => (engine === 'postgresql' ? postgresAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${storeName(s)}_b"`)) : undefined),
        ),
      ]);
    }, 300_000);

    const row = async (s: string) =>
      (
        await driver.sql<{ source: string; name: string; database_status: string; database_identity: unknown; deletion_policy: string }>(
          'select source, name, database_status, database_identity, deletion_policy from stores where slug = $1',
          [s],
        )
      )[0];
    const jobs = (s: string) =>
      driver.sql<{ id: string; status: string }>(
        'select j.id, j.status from provisioning_jobs j join stores s on s.id = j.store_id where s.slug = $1 order by j.created_at',
        [s],
      );

    const main = { slug: '' };

    it(
      'applies every default alike and records the identity of the database in the master DB',
      async () => {
        main.slug = slug();
        const store = storeCase(engine, main.slug);
        const first = await driver.apply(store);
        expect(first.ok, first.message).toBe(true);
        expect(await storeSettings(engine, main.slug)).toMatchObject({ currency: 'USD', locale: 'en-US' });
        expect(await row(main.slug)).toMatchObject({
          source: driver.source(store),
          name: store.displayName,
          database_status: 'active',
          deletion_policy: 'Retain',
          database_identity: {
            engine,
            mode: 'create',
            'server.host': '127.0.0.1',
            'server.port': engine === 'postgresql' ? 5432 : 3306,
            databaseName: null,
            isolation: 'database',
          },
        });
        expect(await serverFacts(engine, main.slug)).toEqual({ database: true, login: true });
      },
      TIMEOUT,
    );

    it(
      'refuses a change of an immutable field, naming it, with nothing touched',
      async () => {
        const store = storeCase(engine, main.slug, { databaseName: `${storeName(main.slug)}_b` });
        const before = { row: await row(main.slug), jobs: await jobs(main.slug) };
        const refused = await driver.apply(store);
        expect(refused.ok, refused.message).toBe(false);
        expect(refused.message).toContain('databaseName');
        expect(await serverFacts(engine, main.slug, `${storeName(main.slug)}_b`)).toMatchObject({ database: false });
        expect(await row(main.slug)).toEqual(before.row);
        expect(await jobs(main.slug)).toEqual(before.jobs);
        expect(await serverFacts(engine, main.slug)).toEqual({ database: true, login: true });
      },
      TIMEOUT,
    );

    it(
      'suspends the store (login disabled, marked suspended) and resumes it',
      async () => {
        const suspended = await driver.apply(storeCase(engine, main.slug, {}, { suspend: true }));
        expect(suspended.ok, suspended.message).toBe(true);
        expect(await row(main.slug)).toMatchObject({ database_status: 'suspended' });
        expect(await serverFacts(engine, main.slug)).toEqual({ database: true, login: false });

        const resumed = await driver.apply(storeCase(engine, main.slug, {}, { suspend: false }));
        expect(resumed.ok, resumed.message).toBe(true);
        expect(await row(main.slug)).toMatchObject({ database_status: 'active' });
        expect(await serverFacts(engine, main.slug)).toEqual({ database: true, login: true });
      },
      TIMEOUT,
    );

    it(
      'deletes with Retain: the store is detached, its database and role kept',
      async () => {
        const deleted = await driver.delete(storeCase(engine, main.slug));
        expect(deleted.ok, deleted.message).toBe(true);
        expect(await row(main.slug)).toMatchObject({ database_status: 'detached', database_identity: null });
        expect(await serverFacts(engine, main.slug)).toEqual({ database: true, login: true });
      },
      TIMEOUT,
    );

    it(
      'deletes with Delete: the database and role are dropped',
      async () => {
        const s = slug();
        const store = storeCase(engine, s, { deletionPolicy: 'Delete' });
        const applied = await driver.apply(store);
        expect(applied.ok, applied.message).toBe(true);
        expect(await row(s)).toMatchObject({ deletion_policy: 'Delete', database_status: 'active' });
        expect(await serverFacts(engine, s)).toEqual({ database: true, login: true });
        const deleted = await driver.delete(store);
        expect(deleted.ok, deleted.message).toBe(true);
        expect(await serverFacts(engine, s)).toEqual({ database: false, login: null });
        expect(await row(s)).toMatchObject({ database_status: 'detached' });
      },
      TIMEOUT,
    );

    it(
      'refuses a slug that is not valid (a dot, more than 41 characters) without writing a master row',
      async () => {
        for (const name of [`svc.${randomBytes(3).toString('hex')}`, `svc-${'x'.repeat(38)}`]) {
          const refused = await driver.apply(storeCase(engine, name));
          expect(refused.ok, refused.message).toBe(false);
          expect(refused.message, name).toMatch(/slug|metadata\.name/);
          expect(await driver.sql('select slug from stores where slug = $1', [name])).toEqual([]);
        }
      },
      TIMEOUT,
    );

    it(
      'refuses a slug another source already declared, leaving its row as it was and creating nothing',
      async () => {
        const s = slug();
        await driver.sql("insert into stores (name, slug, source) values ('Someone else', $1, 'someone-else')", [s]);
        const refused = await driver.apply(storeCase(engine, s));
        expect(refused.ok, refused.message).toBe(false);
        expect(refused.message).toContain(s);
        expect(await row(s)).toMatchObject({ name: 'Someone else', source: 'someone-else', database_identity: null });
        expect(await jobs(s)).toEqual([]);
        expect(await serverFacts(engine, s)).toEqual({ database: false, login: null });
      },
      TIMEOUT,
    );

    it(
      'finishes a store whose run was killed mid-way on the next run, leaving no job open',
      async () => {
        const s = slug();
        const store = storeCase(engine, s);
        // The engine's admin lock, held here, stops the run inside the engine: the kill lands mid-way however
        // fast the machine is (a run that finished between two polls could never be seen running).
        const lock = await holdAdminLock(engine, storeName(s));
        try {
          await driver.applyAndKill(store, async () => (await jobs(s)).some((j) => j.status === 'running') && (await lock.waiters()) > 0);
        } finally {
          await lock.close();
        }
        const next = await driver.apply(store);
        expect(next.ok, next.message).toBe(true);
        expect(await storeSettings(engine, s)).toMatchObject({ currency: 'USD', locale: 'en-US' });
        expect(await row(s)).toMatchObject({ database_status: 'active' });
        const all = await jobs(s);
        expect(all.length).toBeGreaterThan(0);
        expect(all.filter((j) => j.status === 'queued' || j.status === 'running')).toEqual([]);
        expect(all.at(-1)?.status).toBe('succeeded');
      },
      TIMEOUT,
    );
  });
});
