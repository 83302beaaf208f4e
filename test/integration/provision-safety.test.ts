// What must never happen: a slug reaching SQL unchecked, one store reading another's data, a password in
// an error message.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import type { DatabaseTarget } from '../../src/engines/target.js';
import { isStoreopError } from '../../src/errors.js';
import { provision } from '../../src/provisioning/pipeline.js';
import type { Progress } from '../../src/provisioning/progress.js';
import { createMysqlDatabase, type TempDatabase, uniqueName } from '../support/databases.js';
import {
  type CreateCase,
  dropPostgresDatabase,
  mysqlAdmin,
  mysqlCase,
  mysqlEndpoint,
  openMysql,
  openPostgres,
  postgresAdmin,
  postgresDatabaseCase,
  postgresEndpoint,
  postgresSchemaCase,
  StoreCleanup,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const sharedDatabase = uniqueName('t_shared');
const pgliteRoot = mkdtempSync(join(tmpdir(), 'storeop-pglite-'));
afterAll(async () => {
  await dropPostgresDatabase(sharedDatabase);
  rmSync(pgliteRoot, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded');
    },
    (error: unknown) => error,
  );
}

describe('invalid slugs', () => {
  // Nothing listens on port 1: if any SQL were attempted, the error would be ConnectionFailed.
  const unreachable = { host: '127.0.0.1', port: 1, user: 'nobody', password: 'never-used' };
  const targets: Record<string, DatabaseTarget> = {
    'PostgreSQL create': { engine: 'postgresql', mode: 'create', admin: unreachable },
    'PostgreSQL create, schema isolation': { engine: 'postgresql', mode: 'create', isolation: 'schema', admin: unreachable },
    'PostgreSQL connect': { engine: 'postgresql', mode: 'connect', connection: { ...unreachable, database: 'shop' } },
    'MariaDB create': { engine: 'mysql', mode: 'create', admin: unreachable },
    'MariaDB connect': { engine: 'mysql', mode: 'connect', connection: { ...unreachable, database: 'shop' } },
    PGlite: { engine: 'pglite', mode: 'create', dataDir: join(pgliteRoot, 'never-created') },
  };
  const slugs = [
    'a"; DROP DATABASE x; --',
    "b'; DROP USER root; --",
    'UPPER',
    'x',
    'has space',
    'under_score',
    '-leading',
    `s${'x'.repeat(41)}`,
    '',
  ];

  it.each(Object.entries(targets))('are rejected with InvalidSpec before any SQL runs (%s)', async (_name, target) => {
    for (const slug of slugs) {
      const events: Progress[] = [];
      const error = await failure(
        provision({
          slug,
          target,
          onProgress: (p) => {
            events.push(p);
          },
        }),
      );
      expect(isStoreopError(error, 'InvalidSpec'), `${JSON.stringify(slug)}: ${error}`).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(slug));
      expect(events).toEqual([]); // not even the "connecting" step began
      if (target.mode === 'create' && target.engine !== 'pglite') {
        expect(await failure(engineFor(target.engine).deprovision(target, slug))).toMatchObject({ code: 'InvalidSpec' });
      }
    }
    expect(readdirSync(pgliteRoot)).toEqual([]);
    // The same target with a valid slug does try to connect: the check above is the slug's, not the port's.
    if (target.engine !== 'pglite') {
      expect(await failure(provision({ slug: 'valid-slug', target }))).toMatchObject({ code: 'ConnectionFailed' });
    }
  });
});

describe('store isolation', () => {
  const cleanup = new StoreCleanup();
  afterEach(() => cleanup.run());

  /** Provisions two stores; returns their slugs and the credentials storeop made for each. */
  async function twoStores(c: CreateCase) {
    const stores = [];
    for (const slug of [uniqueSlug(), uniqueSlug()]) {
      const result = await provision({ slug, target: cleanup.track(c.target(slug), slug), seed: false });
      stores.push({ slug, name: storeName(slug), user: result.connection.user, password: result.connection.password ?? '' });
    }
    return stores as [(typeof stores)[number], (typeof stores)[number]];
  }

  it("PostgreSQL, database isolation: a store's role cannot connect to another store's database", async () => {
    const [a, b] = await twoStores(postgresDatabaseCase());
    const asA = { user: a.user, password: a.password };
    // Its own database works (pg_hba may trust anyone here: the privilege check is what is under test).
    const own = await withStoreDb(openPostgres(a.name, 'public', asA), (db) => db.query('select count(*)::int as n from products'));
    expect(own).toEqual([{ n: 0 }]);

    const error = await failure(openPostgres(b.name, 'public', asA));
    expect(error).toMatchObject({
      code: '42501',
      message: expect.stringMatching(new RegExp(`permission denied for database "?${b.name}"?`)),
    });
    expect(await failure(openPostgres(a.name, 'public', { user: b.user, password: b.password }))).toMatchObject({ code: '42501' });
  });

  it("PostgreSQL, schema isolation: a store's role cannot read another store's schema", async () => {
    const [a, b] = await twoStores(postgresSchemaCase(sharedDatabase));
    await withStoreDb(openPostgres(sharedDatabase, a.name, { user: a.user, password: a.password }), async (db) => {
      expect(await db.query('select count(*)::int as n from products')).toEqual([{ n: 0 }]);
      for (const table of ['products', 'storeop_schema_history']) {
        const error = await failure(db.query(`select * from ${b.name}.${table}`));
        expect(error).toMatchObject({ code: '42501', message: expect.stringContaining(`permission denied for schema ${b.name}`) });
      }
    });
  });

  it("MariaDB: a store's user cannot use or read another store's database", async () => {
    const [a, b] = await twoStores(mysqlCase());
    const asA = { user: a.user, password: a.password };
    expect(await failure(openMysql(b.name, asA))).toMatchObject({ errno: 1044 }); // ER_DBACCESS_DENIED_ERROR

    await withStoreDb(openMysql(a.name, asA), async (db) => {
      expect(await db.query('select count(*) as n from products')).toEqual([{ n: 0 }]);
      expect(await failure(db.query(`select * from ${b.name}.products`))).toMatchObject({ errno: 1142 }); // ER_TABLEACCESS_DENIED_ERROR
      expect(await failure(db.query(`use ${b.name}`))).toMatchObject({ errno: 1044 });
      const visible = await db.query('select schema_name as name from information_schema.schemata where schema_name like ?', [
        'store\\_t\\_%',
      ]);
      expect(visible.map((r) => r.name)).toEqual([a.name]);
    });
  });
});

describe('errors never contain a password', () => {
  const password = 'WrongPass-123';
  const databases: TempDatabase[] = [];
  const users: string[] = [];
  afterEach(async () => {
    for (const user of users.splice(0)) await mysqlAdmin([`drop user if exists ?@'%'`], [[user]]);
    for (const db of databases.splice(0)) await db.drop();
  });

  function expectNoPassword(error: unknown): void {
    for (const text of [(error as Error).message, String(error), (error as Error).stack ?? '', JSON.stringify(error)]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(encodeURIComponent(password));
    }
  }

  it('MariaDB connect mode with a wrong password: AuthenticationFailed, without the password', async () => {
    const database = await createMysqlDatabase('t_auth');
    databases.push(database);
    const user = uniqueName('t_user');
    users.push(user);
    await mysqlAdmin(
      [`create user ?@'%' identified by ?`, `grant all privileges on \`${database.name}\`.* to ?@'%'`],
      [[user, 'RightPass-456'], [user]],
    );
    const target = (pass: string): DatabaseTarget => ({
      engine: 'mysql',
      mode: 'connect',
      connection: { ...mysqlEndpoint(), user, password: pass, database: database.name },
    });

    const error = await failure(provision({ slug: 'auth-shop', target: target(password) }));
    expect(isStoreopError(error, 'AuthenticationFailed'), String(error)).toBe(true);
    expect((error as Error).message).toContain(user);
    expectNoPassword(error);

    // The same user with its real password gets through: the failure above was the password alone.
    await expect(provision({ slug: 'auth-shop', target: target('RightPass-456'), seed: false })).resolves.toMatchObject({ changed: true });
  });

  it('MariaDB create mode with a wrong admin password: AuthenticationFailed, without the password', async () => {
    const slug = uniqueSlug();
    const target: DatabaseTarget = { engine: 'mysql', mode: 'create', admin: { ...mysqlEndpoint(), password } };
    const error = await failure(provision({ slug, target }));
    expect(isStoreopError(error, 'AuthenticationFailed'), String(error)).toBe(true);
    expectNoPassword(error);
    expect((await mysqlCase().exists(slug)).database).toBe(false);
  });

  it('PostgreSQL connect mode to a missing database: DatabaseNotFound, without the password', async () => {
    const target: DatabaseTarget = {
      engine: 'postgresql',
      mode: 'connect',
      connection: { ...postgresEndpoint(), password, database: uniqueName('t_missing') },
    };
    const error = await failure(provision({ slug: 'missing-shop', target }));
    expect(isStoreopError(error, 'DatabaseNotFound'), String(error)).toBe(true);
    expectNoPassword(error);
  });
});

describe('deprovisioning drops only what storeop created', () => {
  it('PostgreSQL schema isolation: a schema of the store name owned by another role is refused and kept', async () => {
    const slug = uniqueSlug();
    const schema = storeName(slug);
    const target = postgresSchemaCase(sharedDatabase).target(slug);
    // storeop creates the shared database on first use; provision another store so it exists.
    const cleanup = new StoreCleanup();
    try {
      const neighbour = uniqueSlug();
      await provision({
        slug: neighbour,
        target: cleanup.track(postgresSchemaCase(sharedDatabase).target(neighbour), neighbour),
        seed: false,
      });
      await postgresAdmin(async (c) => {
        await c.query(`create schema ${pg.escapeIdentifier(schema)}`); // owned by the admin, not by the store role
        await c.query(`create table ${pg.escapeIdentifier(schema)}.keep_me (id int)`);
      }, sharedDatabase);

      const error = await failure(engineFor('postgresql').deprovision(target, slug));
      expect(isStoreopError(error, 'Conflict'), String(error)).toBe(true);
      expect((error as Error).message).toContain(`schema ${schema} belongs to`);
      const kept = await postgresAdmin(
        async (c) =>
          (await c.query('select count(*)::int as n from information_schema.tables where table_schema = $1', [schema])).rows[0].n,
        sharedDatabase,
      );
      expect(kept).toBe(1);
    } finally {
      await postgresAdmin((c) => c.query(`drop schema if exists ${pg.escapeIdentifier(schema)} cascade`), sharedDatabase);
      await cleanup.run();
    }
  });

  it('MariaDB: a database of the store name with tables storeop did not create is refused and kept', async () => {
    const slug = uniqueSlug();
    const database = storeName(slug);
    await mysqlAdmin([`create database \`${database}\``, `create table \`${database}\`.keep_me (id int)`]);
    try {
      const error = await failure(engineFor('mysql').deprovision(mysqlCase().target(slug), slug));
      expect(isStoreopError(error, 'Conflict'), String(error)).toBe(true);
      expect((error as Error).message).toContain(`database ${database} holds tables storeop did not create`);
      expect((await mysqlCase().exists(slug)).database).toBe(true);
    } finally {
      await mysqlAdmin([`drop database if exists \`${database}\``]);
    }
  });
});
