// Issue 12, findings 3, 4 and 7: storeop adopts, changes and drops only the roles, users and databases it
// created for the store, against the real PostgreSQL and MariaDB servers. Every refusal is checked to have
// changed nothing: no password reset, no grant revoked, no database or schema created or dropped.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import type { CreateTarget } from '../../src/engines/target.js';
import { isStoreopError, type StoreopError } from '../../src/errors.js';
import { provision } from '../../src/provisioning/pipeline.js';
import {
  dropPostgresDatabase,
  dropStoreLeftovers,
  HISTORY_TABLE,
  mysqlAdmin,
  mysqlCreateTarget,
  openMysql,
  postgresAdmin,
  postgresCreateTarget,
  storeName,
  withStoreDb,
} from '../support/store-db.js';

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const FOREIGN_PASSWORD = `their-${randomBytes(12).toString('hex')}`;
const postgres = engineFor('postgresql');
const mariadb = engineFor('mysql');
const q = pg.escapeIdentifier;

/** A slug (and so role, user and database names) no other engineer's test uses. */
const engSlug = () => `eng-${randomBytes(5).toString('hex')}`;

async function refusal(promise: Promise<unknown>): Promise<StoreopError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal, but it succeeded');
    },
    (e: unknown) => e,
  );
  expect(isStoreopError(error), String(error)).toBe(true);
  const e = error as StoreopError;
  expect(e.retryable).toBe(false);
  for (const secret of [PASSWORD, FOREIGN_PASSWORD]) expect(`${e.message} ${JSON.stringify(e)}`).not.toContain(secret);
  return e;
}

// What every test leaves behind is dropped with the tests' own SQL, whatever the engine did.
const leftovers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const drop of leftovers.splice(0).reverse()) await drop().catch(() => {});
});
function forget(engine: 'postgresql' | 'mysql', slug: string): void {
  leftovers.push(() => dropStoreLeftovers(engine, slug));
}

// --- PostgreSQL roles (finding 3) ---

interface PgRoleRow {
  rolpassword: string | null;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  rolcanlogin: boolean;
  mark: string | null;
}

const pgRole = (role: string) =>
  postgresAdmin(
    async (c) =>
      (
        await c.query<PgRoleRow>(
          `select rolpassword, rolcreatedb, rolcreaterole, rolcanlogin, shobj_description(oid, 'pg_authid') as mark
           from pg_authid where rolname = $1`,
          [role],
        )
      ).rows[0],
  );
const pgDatabase = (database: string) =>
  postgresAdmin(
    async (c) =>
      (
        await c.query<{ owner: string; mark: string | null }>(
          `select pg_get_userbyid(datdba) as owner, shobj_description(oid, 'pg_database') as mark from pg_database where datname = $1`,
          [database],
        )
      ).rows[0],
  );

describe('PostgreSQL: an existing role of the store name is adopted only when storeop marked it for this store', () => {
  it('refuses a role somebody else created, before touching its password or attributes, and creates no database', async () => {
    const slug = engSlug();
    const role = storeName(slug);
    forget('postgresql', slug);
    await postgresAdmin((c) => c.query(`create role ${q(role)} login createdb createrole password '${FOREIGN_PASSWORD}'`));
    const before = await pgRole(role);

    const error = await refusal(postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`role ${role} already exists and storeop did not create it for store ${slug}`);

    expect(await pgRole(role)).toEqual(before); // same password hash, still CREATEDB and CREATEROLE
    expect(before?.rolcreatedb).toBe(true);
    expect(await pgDatabase(role)).toBeUndefined();
  });

  it('refuses a role marked for this store once it has CREATEDB or CREATEROLE (or SUPERUSER, REPLICATION, BYPASSRLS)', async () => {
    const slug = engSlug();
    const role = storeName(slug);
    forget('postgresql', slug);
    await postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD);
    await postgresAdmin((c) => c.query(`alter role ${q(role)} createdb createrole`));
    const before = await pgRole(role);

    const error = await refusal(postgres.ensureDatabase(postgresCreateTarget(), slug, `${PASSWORD}-new`));
    expect(error.code).toBe('Conflict');
    expect(error.message).toBe(`role ${role} has CREATEDB, CREATEROLE: storeop refuses to take over a role with server-wide powers`);
    expect(await pgRole(role)).toEqual(before);
  });

  it("refuses a role marked for another store (a slug's role reached through another store's spec)", async () => {
    const slug = engSlug();
    const role = storeName(slug);
    forget('postgresql', slug);
    await postgresAdmin(async (c) => {
      await c.query(`create role ${q(role)} login password '${FOREIGN_PASSWORD}'`);
      await c.query(`comment on role ${q(role)} is 'storeop:store=eng-someone-else'`);
    });
    const before = await pgRole(role);
    const error = await refusal(postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(await pgRole(role)).toEqual(before);
  });

  it('checks the database before creating the role: a foreign database of the store name leaves no role behind', async () => {
    const slug = engSlug();
    const name = storeName(slug);
    forget('postgresql', slug);
    await postgresAdmin((c) => c.query(`create database ${q(name)}`)); // owned by the admin, not by a store role

    const error = await refusal(postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD));
    expect(error.code).toBe('InvalidSpec');
    expect(error.message).toContain(`database ${name} already exists and belongs to postgres`);
    expect(await pgRole(name)).toBeUndefined();
  });

  it('marks what it creates, and adopts its own role and its unmarked database after a run stopped half-way', async () => {
    const slug = engSlug();
    const name = storeName(slug);
    forget('postgresql', slug);
    await postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD);
    expect((await pgRole(name))?.mark).toBe(`storeop:store=${slug}`);
    expect(await pgDatabase(name)).toEqual({ owner: name, mark: `storeop:store=${slug}` });

    // A run killed between CREATE DATABASE and COMMENT ON DATABASE: the store role's database, unmarked.
    await postgresAdmin((c) => c.query(`comment on database ${q(name)} is null`));
    await postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD);
    expect(await pgDatabase(name)).toEqual({ owner: name, mark: `storeop:store=${slug}` });
  });

  it("adopts and marks the role and database an older storeop made (unmarked, the database holding storeop's history)", async () => {
    const slug = engSlug();
    const name = storeName(slug);
    forget('postgresql', slug);
    await provision({ slug, target: postgresCreateTarget(), seed: false });
    await postgresAdmin(async (c) => {
      await c.query(`comment on role ${q(name)} is null`);
      await c.query(`comment on database ${q(name)} is null`);
    });
    await postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD);
    expect((await pgRole(name))?.mark).toBe(`storeop:store=${slug}`);
    expect(await pgDatabase(name)).toEqual({ owner: name, mark: `storeop:store=${slug}` });
  });

  it("refuses an unmarked role that owns a database of the store name without storeop's history in it", async () => {
    const slug = engSlug();
    const name = storeName(slug);
    forget('postgresql', slug);
    await postgresAdmin(async (c) => {
      await c.query(`create role ${q(name)} login password '${FOREIGN_PASSWORD}'`);
      await c.query(`create database ${q(name)} owner ${q(name)}`);
    });
    const before = await pgRole(name);
    const error = await refusal(postgres.ensureDatabase(postgresCreateTarget(), slug, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(await pgRole(name)).toEqual(before);
    expect(await pgDatabase(name)).toEqual({ owner: name, mark: null });
  });

  it('neither suspends nor drops a role it did not create', async () => {
    const slug = engSlug();
    const role = storeName(slug);
    forget('postgresql', slug);
    await postgresAdmin((c) => c.query(`create role ${q(role)} login password '${FOREIGN_PASSWORD}'`));

    const suspend = await refusal(postgres.setLoginEnabled(postgresCreateTarget(), slug, false));
    expect(suspend.code).toBe('Conflict');
    expect((await pgRole(role))?.rolcanlogin).toBe(true);
    const drop = await refusal(postgres.deprovision(postgresCreateTarget(), slug));
    expect(drop.code).toBe('Conflict');
    expect(drop.message).toContain(`role ${role} already exists and storeop did not create it for store ${slug}`);
    expect(await pgRole(role)).toBeDefined();
  });
});

// --- PostgreSQL schema isolation (finding 7) ---

interface SharedState {
  publicConnect: boolean;
  otherConnect: boolean;
  otherCreateOnPublic: boolean;
  schemas: string[];
}

/** What others may do in `database`: PUBLIC's CONNECT, a bystander role's CONNECT and CREATE on public. */
async function sharedState(database: string, bystander: string, slug: string): Promise<SharedState> {
  const connect = await postgresAdmin(async (c) => {
    const r = await c.query<{ pub: boolean; other: boolean }>(
      `select coalesce(datacl is null or exists (select 1 from aclexplode(datacl) a where a.grantee = 0 and a.privilege_type = 'CONNECT'), false) as pub,
              has_database_privilege($2, datname, 'CONNECT') as other
       from pg_database where datname = $1`,
      [database, bystander],
    );
    return r.rows[0] as { pub: boolean; other: boolean };
  });
  const inside = await postgresAdmin(async (c) => {
    const create = await c.query<{ ok: boolean }>(`select has_schema_privilege($1, 'public', 'CREATE') as ok`, [bystander]);
    const schemas = await c.query<{ nspname: string }>('select nspname from pg_namespace where nspname = $1', [storeName(slug)]);
    return { create: create.rows[0]?.ok ?? false, schemas: schemas.rows.map((r) => r.nspname) };
  }, database);
  return { publicConnect: connect.pub, otherConnect: connect.other, otherCreateOnPublic: inside.create, schemas: inside.schemas };
}

/** A database an admin made for something else: PUBLIC may connect, and a bystander role may create in public. */
async function somebodysDatabase(): Promise<{ database: string; bystander: string }> {
  const database = `eng_shared_${randomBytes(5).toString('hex')}`;
  const bystander = `eng_app_${randomBytes(5).toString('hex')}`;
  leftovers.push(() => postgresAdmin((c) => c.query(`drop role if exists ${q(bystander)}`)));
  leftovers.push(() => dropPostgresDatabase(database));
  await postgresAdmin(async (c) => {
    await c.query(`create role ${q(bystander)} login`);
    await c.query(`create database ${q(database)}`);
  });
  await postgresAdmin((c) => c.query(`grant create on schema public to public`), database);
  return { database, bystander };
}

const schemaTarget = (databaseName: string): CreateTarget => postgresCreateTarget({ isolation: 'schema', databaseName });

describe('PostgreSQL schema isolation takes over no database', () => {
  it('refuses an existing database storeop did not create and nobody marked, and revokes nothing in it', async () => {
    const slug = engSlug();
    forget('postgresql', slug);
    const { database, bystander } = await somebodysDatabase();
    const before = await sharedState(database, bystander, slug);
    expect(before).toEqual({ publicConnect: true, otherConnect: true, otherCreateOnPublic: true, schemas: [] });

    const error = await refusal(postgres.ensureDatabase(schemaTarget(database), slug, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`database ${database} exists and is not a shared store database`);
    expect(await sharedState(database, bystander, slug)).toEqual(before);
    expect(await pgRole(storeName(slug))).toBeUndefined();
  });

  it.each(['postgres', 'template0', 'template1'])('refuses the system database %s before connecting', async (database) => {
    const slug = engSlug();
    const unreachable = { host: '127.0.0.1', port: 1, user: 'nobody' }; // any SQL attempted would fail as ConnectionFailed
    const error = await refusal(
      postgres.ensureDatabase(
        { engine: 'postgresql', mode: 'create', isolation: 'schema', databaseName: database, admin: unreachable },
        slug,
        PASSWORD,
      ),
    );
    expect(error.code).toBe('InvalidSpec');
    expect(error.message).toContain(`databaseName ${database} is a system database`);
  });

  it('uses a database an admin marked as a shared store database, without revoking what others were granted', async () => {
    const slug = engSlug();
    forget('postgresql', slug);
    const { database, bystander } = await somebodysDatabase();
    await postgresAdmin((c) => c.query(`comment on database ${q(database)} is 'storeop:shared-store-database'`));

    const connection = await postgres.ensureDatabase(schemaTarget(database), slug, PASSWORD);
    expect(connection).toMatchObject({ database, schema: storeName(slug), user: storeName(slug) });
    expect(await sharedState(database, bystander, slug)).toEqual({
      publicConnect: true,
      otherConnect: true,
      otherCreateOnPublic: true,
      schemas: [storeName(slug)],
    });
    await postgres.deprovision(schemaTarget(database), slug);
  });

  it('recognises the shared database of an older storeop (unmarked, closed, holding store schemas) and marks it', async () => {
    const first = engSlug();
    const second = engSlug();
    forget('postgresql', first);
    forget('postgresql', second);
    const database = `eng_shared_${randomBytes(5).toString('hex')}`;
    leftovers.push(() => dropPostgresDatabase(database));
    await provision({ slug: first, target: schemaTarget(database), seed: false });
    await postgresAdmin(async (c) => {
      await c.query(`comment on database ${q(database)} is null`);
      await c.query(`comment on role ${q(storeName(first))} is null`);
    });

    await postgres.ensureDatabase(schemaTarget(database), first, PASSWORD);
    await postgres.ensureDatabase(schemaTarget(database), second, PASSWORD);
    expect(await pgDatabase(database)).toEqual({ owner: 'postgres', mark: 'storeop:shared-store-database' });
    expect((await pgRole(storeName(first)))?.mark).toBe(`storeop:store=${first}`);
    await postgres.deprovision(schemaTarget(database), second);
    await postgres.deprovision(schemaTarget(database), first);
  });

  it('creates, closes and marks a shared database of its own, and refuses a foreign schema of the store name in it', async () => {
    const slug = engSlug();
    const squatter = engSlug();
    forget('postgresql', slug);
    forget('postgresql', squatter);
    const database = `eng_shared_${randomBytes(5).toString('hex')}`;
    const bystander = `eng_app_${randomBytes(5).toString('hex')}`;
    leftovers.push(() => postgresAdmin((c) => c.query(`drop role if exists ${q(bystander)}`)));
    leftovers.push(() => dropPostgresDatabase(database));
    await postgresAdmin((c) => c.query(`create role ${q(bystander)} login`));

    await postgres.ensureDatabase(schemaTarget(database), slug, PASSWORD);
    expect(await pgDatabase(database)).toEqual({ owner: 'postgres', mark: 'storeop:shared-store-database' });
    expect(await sharedState(database, bystander, slug)).toEqual({
      publicConnect: false,
      otherConnect: false,
      otherCreateOnPublic: false,
      schemas: [storeName(slug)],
    });

    // A schema of another store's name that the admin made by hand is not handed to that store's role.
    await postgresAdmin((c) => c.query(`create schema ${q(storeName(squatter))}`), database);
    const error = await refusal(postgres.ensureDatabase(schemaTarget(database), squatter, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`schema ${storeName(squatter)} in ${database} belongs to postgres`);
    const owner = await postgresAdmin(
      async (c) =>
        (await c.query('select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = $1', [storeName(squatter)])).rows[0]
          ?.owner,
      database,
    );
    expect(owner).toBe('postgres');
    await postgres.deprovision(schemaTarget(database), slug);
  });
});

// --- MariaDB databases and users (finding 4) ---

const mysqlRows = (text: string, params: unknown[] = []) => withStoreDb(openMysql('mysql'), (db) => db.query(text, params));
const mysqlUser = async (user: string) =>
  (await mysqlRows(`select authentication_string as hash from mysql.user where user = ? and host = '%'`, [user]))[0];
const mysqlGrantees = async (database: string) =>
  (await mysqlRows('select distinct user from mysql.db where db in (?, ?)', [database, database.replace(/_/g, '\\_')])).map((r) =>
    String(r.user),
  );

describe("MariaDB: one store never takes over another store's database, nor a user it did not create", () => {
  it("refuses a store whose databaseName is another store's database, and deleting it leaves that database alone", async () => {
    const owner = engSlug();
    const intruder = engSlug();
    forget('mysql', owner);
    forget('mysql', intruder);
    const database = storeName(owner);
    await mariadb.ensureDatabase(mysqlCreateTarget(), owner, PASSWORD);
    await mysqlAdmin([`create table \`${database}\`.orders (id int)`, `insert into \`${database}\`.orders values (1)`]);
    const comment = await mysqlRows('select table_comment as c from information_schema.tables where table_schema = ? and table_name = ?', [
      database,
      HISTORY_TABLE,
    ]);
    expect(comment).toEqual([{ c: `storeop:store=${owner}` }]);

    const target = mysqlCreateTarget({ databaseName: database });
    const error = await refusal(mariadb.ensureDatabase(target, intruder, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`database ${database} belongs to another store (storeop:store=${owner}), not to store ${intruder}`);
    expect(await mysqlUser(storeName(intruder))).toBeUndefined();
    expect(await mysqlGrantees(database)).toEqual([storeName(owner)]);

    const drop = await refusal(mariadb.deprovision(target, intruder));
    expect(drop.code).toBe('Conflict');
    expect(Number((await mysqlRows(`select count(*) as n from \`${database}\`.orders`))[0]?.n)).toBe(1);
  });

  it('refuses a user of the store name that storeop did not create, before changing its password, and creates no database', async () => {
    const slug = engSlug();
    const user = storeName(slug);
    forget('mysql', slug);
    await mysqlAdmin([`create user ?@'%' identified by ?`], [[user, FOREIGN_PASSWORD]]);
    const before = await mysqlUser(user);

    const error = await refusal(mariadb.ensureDatabase(mysqlCreateTarget(), slug, PASSWORD));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`user '${user}'@'%' already exists and storeop did not create it for store ${slug}`);
    expect(await mysqlUser(user)).toEqual(before);
    expect(await mysqlRows('select 1 from information_schema.schemata where schema_name = ?', [user])).toEqual([]);

    const suspend = await refusal(mariadb.setLoginEnabled(mysqlCreateTarget(), slug, false));
    expect(suspend.code).toBe('Conflict');
    const drop = await refusal(mariadb.deprovision(mysqlCreateTarget(), slug));
    expect(drop.code).toBe('Conflict');
    expect(await mysqlUser(user)).toEqual(before);
  });

  it('refuses its own user once it has global privileges', async () => {
    const slug = engSlug();
    const user = storeName(slug);
    forget('mysql', slug);
    await mariadb.ensureDatabase(mysqlCreateTarget(), slug, PASSWORD);
    await mysqlAdmin([`grant create user on *.* to ?@'%'`], [[user]]);
    const before = await mysqlUser(user);
    const error = await refusal(mariadb.ensureDatabase(mysqlCreateTarget(), slug, `${PASSWORD}-new`));
    expect(error.code).toBe('Conflict');
    expect(error.message).toContain(`user '${user}'@'%' has global privileges (CREATE USER)`);
    expect(await mysqlUser(user)).toEqual(before);
  });

  it("adopts a database an older storeop made (history without the mark, privileges only for the store's user) and marks it", async () => {
    const slug = engSlug();
    const database = storeName(slug);
    forget('mysql', slug);
    await mariadb.ensureDatabase(mysqlCreateTarget(), slug, PASSWORD);
    await mysqlAdmin([`alter table \`${database}\`.\`${HISTORY_TABLE}\` comment = ''`]);
    await mariadb.ensureDatabase(mysqlCreateTarget(), slug, PASSWORD);
    const comment = await mysqlRows('select table_comment as c from information_schema.tables where table_schema = ? and table_name = ?', [
      database,
      HISTORY_TABLE,
    ]);
    expect(comment).toEqual([{ c: `storeop:store=${slug}` }]);
    await mariadb.deprovision(mysqlCreateTarget(), slug);
    expect(await mysqlUser(database)).toBeUndefined();
    expect(await mysqlRows('select 1 from information_schema.schemata where schema_name = ?', [database])).toEqual([]);
  });
});

describe('dry-run prints the statements the engine runs', () => {
  it('lists the marks with the CREATE statements, and never a password', () => {
    const slug = 'eng-plan';
    const pgStatements = postgres.adminStatements?.(postgresCreateTarget({ isolation: 'schema', databaseName: 'eng_shared' }), slug) ?? [];
    expect(pgStatements).toContain(`COMMENT ON ROLE "store_eng_plan" IS 'storeop:store=eng-plan';`);
    expect(pgStatements).toContain(`COMMENT ON DATABASE "eng_shared" IS 'storeop:shared-store-database';`);
    const myStatements = mariadb.adminStatements?.(mysqlCreateTarget(), slug) ?? [];
    expect(myStatements).toContain("ALTER TABLE `store_eng_plan`.`storeop_schema_history` COMMENT = 'storeop:store=eng-plan';");
    expect(myStatements).toContain("CREATE USER 'store_eng_plan'@'%' IDENTIFIED BY '<generated>';");
  });
});
