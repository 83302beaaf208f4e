// PostgreSQL: create mode makes a login role and a database (or a schema in a shared database) owned by
// it; connect mode only connects. Admin work runs connected to the maintenance database.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type ErrorTarget, StoreopError } from '../errors.js';
import { assertIdentifier } from '../naming.js';
import { type Fingerprint, fingerprintQuery, parseFingerprint } from '../schema/fingerprint.js';
import { HISTORY_TABLE } from '../schema/history.js';
import { withAdminSlot } from './admin-limit.js';
import { toStoreopError } from './driver-errors.js';
import {
  type AnyKysely,
  type Engine,
  type LockOptions,
  type Placement,
  type ServerHealth,
  storeMark,
  type Tenant,
  type TenantOptions,
} from './engine.js';
import {
  adminSql,
  createTarget,
  type Layout,
  layout,
  postgresAdminStatements,
  postgresPlacement,
  SHARED_DATABASE_MARK,
} from './postgres-place.js';
import { type DatabaseSession, dropReadOnlyRole, ensureReadOnlyRole } from './postgres-readonly.js';
import type { CreateTarget, DatabaseTarget, ServerEndpoint, TenantConnection } from './target.js';
import { tenantEndpoint } from './target.js';
import { pgAddressAndSsl } from './tls.js';

const MAINTENANCE_DATABASE = 'postgres';

export { DEFAULT_SHARED_DATABASE } from './postgres-place.js';

// int8 as number: ids and counters stay far below 2^53; numeric stays a string (exact money).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** application_name of storeop's sessions, so that pg_stat_activity tells admin work from store connections. */
const ADMIN_APPLICATION = 'storeop-admin';
const STORE_APPLICATION = 'storeop';

function clientConfig(endpoint: ServerEndpoint, database: string, application = STORE_APPLICATION): pg.ClientConfig {
  const { host, ssl } = pgAddressAndSsl(endpoint);
  return {
    host,
    port: endpoint.port,
    user: endpoint.user,
    database,
    application_name: application,
    connectionTimeoutMillis: 10_000,
    types,
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(ssl ? { ssl } : {}),
  };
}

function errorTarget(endpoint: ServerEndpoint, database?: string, schema?: string): ErrorTarget {
  return {
    engine: 'postgresql',
    host: endpoint.host,
    port: endpoint.port,
    ...(database ? { database } : {}),
    ...(schema ? { schema } : {}),
  };
}

/** One admin session (or connect mode's given user), within the per-server bound of admin-limit.ts. */
function withClient<T>(endpoint: ServerEndpoint, database: string, doing: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withAdminSlot(endpoint.host, endpoint.port, () =>
    withSession(clientConfig(endpoint, database, ADMIN_APPLICATION), endpoint, doing, fn),
  );
}

/** Admin sessions in one of the server's databases (the store's own, for grants). */
const inDatabaseOf =
  (admin: ServerEndpoint): DatabaseSession =>
  (database, doing, fn) =>
    withClient(admin, database, doing, fn);

async function withSession<T>(
  config: pg.ClientConfig,
  endpoint: ServerEndpoint,
  doing: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(config);
  client.on('error', () => {}); // a dropped idle connection surfaces on the next query instead
  try {
    await client.connect();
    return await fn(client);
  } catch (error) {
    throw toStoreopError(error, errorTarget(endpoint, config.database), [endpoint.password], doing);
  } finally {
    await client.end().catch(() => {});
  }
}

/** How the store's own role connects: its database, with the store's schema first on the search path. */
function tenantClientConfig(connection: TenantConnection): pg.ClientConfig {
  return {
    ...clientConfig(tenantEndpoint(connection), connection.database),
    ...(connection.schema && connection.schema !== 'public' ? { options: `-c search_path=${connection.schema}` } : {}),
  };
}

/**
 * pg-pool listens for errors only on idle clients: a backend terminated while a client is checked out
 * (mid-query, or between the statements of a transaction) makes that client emit 'error' with nobody
 * listening, which takes the whole process down. Every client gets a listener of its own when the pool
 * connects it; the failed query rejects on its own (57P01 or "Connection terminated unexpectedly", which
 * toStoreopError() maps to ConnectionLost), the client is no longer queryable, and the pool discards it on
 * release, so the next call gets a fresh connection.
 */
export function keepDroppedConnectionsFromCrashing(pool: pg.Pool): void {
  pool.on('error', () => {}); // an idle client dropped: the pool has already removed it
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
}

const ident = (name: string) => pg.escapeIdentifier(name);

/**
 * Whether a CREATE failed because another session created the same object meanwhile: "already exists"
 * (42710 role, 42P04 database, 42P06 schema) when the other session committed first, or a unique violation
 * (23505) on the catalog index when both inserted the catalog row at once.
 */
function createdConcurrently(error: unknown): boolean {
  return ['42710', '42P04', '42P06', '23505'].includes(String((error as { code?: unknown }).code));
}

/** Runs `fn` again (from its checks) when it lost a race to create an object: the next pass sees the object. */
async function retryingRaces<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!createdConcurrently(error) || attempt >= 3) throw error;
    }
  }
}

const conflict = (message: string) => new StoreopError('Conflict', message, { retryable: false });

interface RoleState {
  mark: string | null;
  /** The attributes a store role never has (SUPERUSER, CREATEDB, ...). */
  privileges: string[];
}

async function inspectRole(client: pg.Client, role: string): Promise<RoleState | undefined> {
  const found = await client.query<Record<string, unknown>>(
    `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, shobj_description(oid, 'pg_authid') AS mark
     FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  const row = found.rows[0];
  if (!row) return undefined;
  const attributes = {
    rolsuper: 'SUPERUSER',
    rolcreatedb: 'CREATEDB',
    rolcreaterole: 'CREATEROLE',
    rolreplication: 'REPLICATION',
    rolbypassrls: 'BYPASSRLS',
  };
  return {
    mark: (row.mark as string | null) ?? null,
    privileges: Object.entries(attributes)
      .filter(([column]) => row[column] === true)
      .map(([, name]) => name),
  };
}

interface DatabaseState {
  owner: string;
  mark: string | null;
}

async function inspectDatabase(client: pg.Client, database: string): Promise<DatabaseState | undefined> {
  const found = await client.query<DatabaseState>(
    `SELECT pg_get_userbyid(datdba) AS owner, shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1`,
    [database],
  );
  return found.rows[0];
}

/** A store's own database: owned by the store role, and unmarked (a run stopped before marking it) or marked for this store. */
function assertOwnDatabase(state: DatabaseState, l: Layout): void {
  if (state.owner !== l.role)
    throw new StoreopError(
      'InvalidSpec',
      `database ${l.database} already exists and belongs to ${state.owner}, not to ${l.role}; use connect mode to adopt it`,
      { retryable: false },
    );
  if (state.mark !== null && state.mark !== storeMark(l.slug))
    throw conflict(`database ${l.database} is marked '${state.mark}', not '${storeMark(l.slug)}': it belongs to another store`);
}

/** A shared database holds store schemas only when storeop created it or an admin marked it for that. */
function refuseSharedDatabase(database: string): never {
  throw conflict(
    `database ${database} exists and is not a shared store database: storeop did not create it and it is not marked (COMMENT ON DATABASE ${ident(database)} IS '${SHARED_DATABASE_MARK}'), so storeop does not put store schemas in it`,
  );
}

/** Whether `schema` of `database` holds storeop's history table: the trace of a store an older storeop made. */
async function holdsHistory(admin: ServerEndpoint, database: string, schema: string): Promise<boolean> {
  return withClient(admin, database, 'checking the store database', async (c) => {
    const found = await c.query<{ found: boolean }>('SELECT to_regclass(format($1, $2::text, $3::text)) IS NOT NULL AS found', [
      '%I.%I',
      schema,
      HISTORY_TABLE,
    ]);
    return found.rows[0]?.found === true;
  });
}

/**
 * Whether an unmarked role was made by an older storeop for this store (before roles were marked): it owns
 * the store's database (database isolation) or schema (schema isolation, in a shared store database), and
 * that holds storeop's history table.
 */
async function madeByOlderStoreop(client: pg.Client, admin: ServerEndpoint, l: Layout): Promise<boolean> {
  const database = await inspectDatabase(client, l.database);
  if (!database) return false;
  if (l.isolation === 'database')
    return database.owner === l.role && database.mark === null && (await holdsHistory(admin, l.database, 'public'));
  return (
    (await isSharedDatabase(client, admin, l.database, database)) &&
    (await schemaOwner(admin, l)) === l.role &&
    (await holdsHistory(admin, l.database, l.schema))
  );
}

/**
 * Whether a database may hold store schemas: marked as a shared store database, or made by an older storeop
 * before databases were marked: closed to PUBLIC and holding store schemas (a schema owned by the role of
 * its name, with storeop's history table), which nobody but storeop or the server admin makes.
 */
async function isSharedDatabase(client: pg.Client, admin: ServerEndpoint, database: string, state: DatabaseState): Promise<boolean> {
  if (state.mark === SHARED_DATABASE_MARK) return true;
  if (state.mark !== null) return false;
  const closed = await client.query<{ closed: boolean }>(
    `SELECT datacl IS NOT NULL AND NOT EXISTS (SELECT 1 FROM aclexplode(datacl) a WHERE a.grantee = 0) AS closed
     FROM pg_database WHERE datname = $1`,
    [database],
  );
  if (closed.rows[0]?.closed !== true) return false;
  return withClient(admin, database, 'checking the shared database', async (c) => {
    const stores = await c.query(
      `SELECT 1 FROM pg_namespace n JOIN pg_class t ON t.relnamespace = n.oid
       WHERE t.relname = $1 AND n.nspname LIKE 'store\\_%' AND pg_get_userbyid(n.nspowner) = n.nspname LIMIT 1`,
      [HISTORY_TABLE],
    );
    return (stores.rowCount ?? 0) > 0;
  });
}

interface RoleCheck {
  state: RoleState | undefined;
  /** An older storeop's role: ours, still to be marked. */
  unmarked: boolean;
}

/**
 * An existing role of the store's name is the store's only when storeop marked it for this store (CREATE ROLE
 * and its COMMENT commit together) or an older storeop made it; to be changed, it must also hold no
 * server-wide power. Anything else is somebody else's role, refused before it is touched.
 */
async function checkRole(
  client: pg.Client,
  admin: ServerEndpoint,
  l: Layout,
  doing: string,
  options: { powerless: boolean },
): Promise<RoleCheck> {
  const state = await inspectRole(client, l.role);
  if (!state) return { state, unmarked: false };
  const mark = storeMark(l.slug);
  const unmarked = state.mark !== mark && state.mark === null && (await madeByOlderStoreop(client, admin, l));
  if (state.mark !== mark && !unmarked)
    throw conflict(
      `role ${l.role} already exists and storeop did not create it for store ${l.slug} (its comment is not '${mark}'): storeop refuses ${doing} it`,
    );
  if (options.powerless && state.privileges.length)
    throw conflict(`role ${l.role} has ${state.privileges.join(', ')}: storeop refuses ${doing} a role with server-wide powers`);
  return { state, unmarked };
}

/** The admin's view of the store role: checked (if it exists), then created with its mark in one transaction, or updated. */
async function ensureRole(client: pg.Client, role: RoleCheck, s: ReturnType<typeof adminSql>): Promise<void> {
  if (role.state) {
    await client.query(s.updateRole);
    if (role.unmarked) await client.query(s.markRole);
    return;
  }
  // CREATE ROLE is transactional: a run killed before COMMENT leaves no unmarked role behind.
  await inTransaction(client, [s.createRole, s.markRole]);
}

/** Runs `statements` all or none. */
async function inTransaction(client: pg.Client, statements: string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The advisory-lock key of withAdminLock() (exported so tests can hold the lock to stop a run inside the engine). */
export const adminLockKey = (database: string): string => `storeop:admin:${database}`;

/** How a role storeop created (the store's own, or its read-only one) connects to the store's database and schema. */
function roleConnection(target: CreateTarget, slug: string, l: Layout, role: string, password: string): TenantConnection {
  const place = postgresPlacement(target, slug);
  const tls = target.admin.tls;
  const { database, schema } = l;
  return { engine: 'postgresql', host: place.host, port: place.port, database, schema, user: role, password, ...(tls ? { tls } : {}) };
}

/**
 * Runs the admin work on one database (a store's own, or the shared one of schema isolation) one run at a
 * time: concurrent CREATE/ALTER ROLE, GRANT or ALTER SCHEMA on the same catalog rows fail with "tuple
 * concurrently updated". Admin sessions connect to the maintenance database, so an advisory lock there is
 * server-wide for them.
 */
async function withAdminLock<T>(client: pg.Client, database: string, fn: () => Promise<T>): Promise<T> {
  const key = adminLockKey(database);
  await client.query(`SET lock_timeout = '120s'`);
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => {});
  }
}

/**
 * Deprovisioning drops only what storeop created: the store's database or schema is always owned by the
 * store's role, so one owned by anybody else (a name clash, a spec pointed elsewhere) is refused, not dropped.
 */
async function refuseForeignOwner(
  client: pg.Client,
  ownerQuery: string,
  kind: 'database' | 'schema',
  name: string,
  role: string,
): Promise<void> {
  const found = await client.query<{ owner: string }>(ownerQuery, [name]);
  const owner = found.rows[0]?.owner;
  if (owner !== undefined && owner !== role)
    throw conflict(`${kind} ${name} belongs to ${owner}, not to the store role ${role}: storeop did not create it and does not drop it`);
}

/** CREATE DATABASE cannot run in a transaction and fails with 55006 while template1 is in use: retry that. */
async function createDatabase(client: pg.Client, statement: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(statement);
      return;
    } catch (error) {
      if ((error as { code?: string }).code === '55006' && attempt < 8) {
        await sleep(50 * 2 ** attempt + Math.random() * 50);
        continue;
      }
      throw error; // "already exists" included: retryingRaces() checks the new database from the start
    }
  }
}

async function schemaOwner(admin: ServerEndpoint, l: Layout): Promise<string | undefined> {
  return withClient(admin, l.database, 'checking the store schema', async (shared) => {
    const found = await shared.query<{ owner: string }>('SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1', [
      l.schema,
    ]);
    return found.rows[0]?.owner;
  });
}

/** Database isolation: checks the role and the database first, then creates, marks or updates them. */
async function ensureStoreDatabase(client: pg.Client, t: CreateTarget, l: Layout, password: string): Promise<void> {
  const s = adminSql(t, l, password);
  const role = await checkRole(client, t.admin, l, 'to take over', { powerless: true });
  const database = await inspectDatabase(client, l.database);
  if (database) assertOwnDatabase(database, l);
  await ensureRole(client, role, s);
  if (!database) await createDatabase(client, s.createDatabase);
  // CREATE DATABASE is not transactional: a database of the store role without the mark is still this store's.
  if (database?.mark !== storeMark(l.slug)) await client.query(s.markDatabase);
  await client.query(s.closeDatabase);
}

/** Schema isolation: the shared database must be storeop's (or marked); the store's schema is created, never taken over. */
async function ensureStoreSchema(client: pg.Client, t: CreateTarget, l: Layout, password: string): Promise<void> {
  const s = adminSql(t, l, password);
  const database = await inspectDatabase(client, l.database);
  const shared = database ? await isSharedDatabase(client, t.admin, l.database, database) : false;
  if (database && !shared) refuseSharedDatabase(l.database);
  const role = await checkRole(client, t.admin, l, 'to take over', { powerless: true });
  const owner = database ? await schemaOwner(t.admin, l) : undefined;
  if (owner !== undefined && owner !== l.role)
    throw conflict(
      `schema ${l.schema} in ${l.database} belongs to ${owner}, not to the store role ${l.role}: storeop does not take it over`,
    );
  await ensureRole(client, role, s);
  if (!database) {
    // Harden the new database before marking it: a run stopped earlier leaves an unmarked database, refused
    // above, rather than a marked one that is still open to everybody.
    await createDatabase(client, s.createDatabase);
    await withClient(t.admin, l.database, 'closing the shared database', (shared) => shared.query(s.closePublicSchema));
    await inTransaction(client, [s.closeDatabase, s.markDatabase]);
  } else if (database.mark === null) {
    await client.query(s.markDatabase); // an older storeop's shared database: already closed, now marked
  }
  await client.query(s.grantConnect);
  await withClient(t.admin, l.database, 'creating the store schema', async (shared) => {
    if (owner === undefined) await shared.query(s.createSchema);
    await shared.query(s.closeSchema);
  });
}

export class PostgresEngine implements Engine {
  readonly dialect = 'postgres' as const;

  async testConnection(target: DatabaseTarget): Promise<string> {
    const { endpoint, database } = this.#endpointOf(target);
    return withClient(endpoint, database, 'connecting', async (client) => {
      const result = await client.query<{ server_version: string }>('SHOW server_version');
      return result.rows[0]?.server_version ?? 'unknown';
    });
  }

  async serverHealth(admin: ServerEndpoint): Promise<ServerHealth> {
    return withClient(admin, admin.database ?? MAINTENANCE_DATABASE, 'checking the server', async (client) => {
      const result = await client.query<{ version: string; used: number }>(
        `SELECT current_setting('server_version') AS version,
                (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used`,
      );
      const row = result.rows[0];
      return { version: row?.version ?? 'unknown', connectionsUsed: Number(row?.used ?? 0) };
    });
  }

  #endpointOf(target: DatabaseTarget): { endpoint: ServerEndpoint; database: string } {
    if (target.engine !== 'postgresql') throw new StoreopError('InvalidSpec', 'not a PostgreSQL target');
    if (target.mode === 'connect') return { endpoint: target.connection, database: target.connection.database };
    return { endpoint: target.admin, database: target.admin.database ?? MAINTENANCE_DATABASE };
  }

  placement(target: DatabaseTarget, slug: string): Placement {
    return postgresPlacement(target, slug);
  }

  async ensureDatabase(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection> {
    if (target.engine !== 'postgresql') throw new StoreopError('InvalidSpec', 'not a PostgreSQL target');
    if (target.mode === 'connect') {
      const c = target.connection;
      const schema = assertIdentifier(target.schema ?? 'public', 'schema');
      return {
        engine: 'postgresql',
        host: c.host,
        port: c.port,
        database: c.database,
        schema,
        user: c.user,
        ...(c.password !== undefined ? { password: c.password } : {}),
        ...(c.tls ? { tls: c.tls } : {}),
      };
    }
    const l = layout(target, slug);
    const admin = target.admin;
    await withClient(admin, admin.database ?? MAINTENANCE_DATABASE, 'creating the store database', (client) =>
      withAdminLock(client, l.database, () =>
        retryingRaces(() => (l.isolation === 'database' ? ensureStoreDatabase : ensureStoreSchema)(client, target, l, password)),
      ),
    );
    return roleConnection(target, slug, l, l.role, password);
  }

  async ensureReadOnlyUser(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection> {
    const t = createTarget(target, 'a read-only role');
    const l = layout(t, slug);
    const admin = t.admin;
    const role = await withClient(admin, admin.database ?? MAINTENANCE_DATABASE, 'creating the read-only role', (client) =>
      withAdminLock(client, l.database, () => ensureReadOnlyRole(client, inDatabaseOf(admin), t, l, password)),
    );
    return roleConnection(t, slug, l, role, password);
  }

  async dropReadOnlyUser(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'a read-only role');
    const l = layout(t, slug);
    await withClient(t.admin, t.admin.database ?? MAINTENANCE_DATABASE, 'dropping the read-only role', (client) =>
      withAdminLock(client, l.database, async () =>
        dropReadOnlyRole(client, inDatabaseOf(t.admin), l, (await inspectDatabase(client, l.database)) !== undefined),
      ),
    );
  }

  async openTenant(connection: TenantConnection, options: TenantOptions = {}): Promise<Tenant> {
    return new PostgresTenant(connection, options);
  }

  /** One session as the store's role: the login proves database, role and password; one query fingerprints. */
  async fingerprint(connection: TenantConnection, tables: readonly string[]): Promise<Fingerprint> {
    return withSession(tenantClientConfig(connection), tenantEndpoint(connection), 'checking the store database', async (client) => {
      const result = await client.query<Record<string, unknown>>(fingerprintQuery('postgres', tables));
      return parseFingerprint('postgres', result.rows[0]);
    });
  }

  async deprovision(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'deprovision');
    const l = layout(t, slug);
    const admin = t.admin;
    const maintenance = admin.database ?? MAINTENANCE_DATABASE;
    // The read-only role first, while the database that holds its grants still exists.
    await withClient(admin, maintenance, 'dropping the read-only role', async (client) =>
      dropReadOnlyRole(client, inDatabaseOf(admin), l, (await inspectDatabase(client, l.database)) !== undefined),
    );
    if (l.isolation === 'schema') {
      const sharedExists = await withClient(admin, maintenance, 'deprovisioning', async (client) => {
        await checkRole(client, admin, l, 'to drop', { powerless: false });
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
        return (await inspectDatabase(client, l.database)) !== undefined;
      });
      if (sharedExists) {
        await withClient(admin, l.database, 'dropping the store schema', async (client) => {
          await refuseForeignOwner(
            client,
            'SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1',
            'schema',
            l.schema,
            l.role,
          );
          await client.query(`DROP SCHEMA IF EXISTS ${ident(l.schema)} CASCADE`);
          const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [l.role]);
          if (role.rowCount) {
            await client.query(`REVOKE ALL ON DATABASE ${ident(l.database)} FROM ${ident(l.role)}`);
            await client.query(`DROP OWNED BY ${ident(l.role)}`);
          }
        });
      }
    }
    await withClient(admin, maintenance, 'deprovisioning', async (client) => {
      await checkRole(client, admin, l, 'to drop', { powerless: false });
      if (l.isolation === 'database') {
        await refuseForeignOwner(
          client,
          'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
          'database',
          l.database,
          l.role,
        );
        const database = await inspectDatabase(client, l.database);
        if (database) assertOwnDatabase(database, l);
        await client.query(`DROP DATABASE IF EXISTS ${ident(l.database)} WITH (FORCE)`);
      }
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
      await client.query(`DROP ROLE IF EXISTS ${ident(l.role)}`);
    });
  }

  adminStatements(target: DatabaseTarget, slug: string): string[] {
    return postgresAdminStatements(target, slug);
  }

  async setLoginEnabled(target: DatabaseTarget, slug: string, enabled: boolean): Promise<void> {
    const t = createTarget(target, 'suspending a store');
    const l = layout(t, slug);
    await withClient(
      t.admin,
      t.admin.database ?? MAINTENANCE_DATABASE,
      enabled ? 'enabling the store role' : 'disabling the store role',
      async (client) => {
        await checkRole(client, t.admin, l, enabled ? 'to enable' : 'to disable', { powerless: false });
        await client.query(`ALTER ROLE ${ident(l.role)} WITH ${enabled ? 'LOGIN' : 'NOLOGIN'}`);
        if (!enabled) await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
      },
    );
  }
}

class PostgresTenant implements Tenant {
  readonly dialect = 'postgres' as const;
  readonly transactionalDdl = true;
  readonly onlineDdl = true;
  readonly db: AnyKysely;
  readonly #connection: TenantConnection;

  constructor(connection: TenantConnection, options: TenantOptions) {
    this.#connection = connection;
    const pool = new pg.Pool({
      ...tenantClientConfig(connection),
      max: options.poolSize ?? 2,
      idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
    });
    keepDroppedConnectionsFromCrashing(pool);
    this.db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  }

  async withMigrationLock<T>(fn: (session: AnyKysely) => Promise<T>, options: LockOptions): Promise<T> {
    const target: ErrorTarget = {
      engine: 'postgresql',
      host: this.#connection.host,
      port: this.#connection.port,
      database: this.#connection.database,
      ...(this.#connection.schema ? { schema: this.#connection.schema } : {}),
    };
    try {
      return await this.db.connection().execute(async (session) => {
        await sql`SELECT set_config('lock_timeout', ${`${options.ddlLockTimeoutMs}ms`}, false), set_config('statement_timeout', '300s', false)`.execute(
          session,
        );
        // Advisory locks are per database; the key also covers the schema so schema-isolated stores do not contend.
        const key = sql`hashtextextended('storeop:' || current_schema(), 0)`;
        const deadline = Date.now() + options.waitMs;
        for (;;) {
          const got = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${key}) AS locked`.execute(session);
          if (got.rows[0]?.locked) break;
          if (Date.now() > deadline) {
            throw new StoreopError(
              'LockTimeout',
              `another provisioning run held the migration lock for more than ${Math.round(options.waitMs / 1000)}s`,
              { target },
            );
          }
          await sleep(50 + Math.random() * 100);
        }
        try {
          return await fn(session);
        } finally {
          await sql`SELECT pg_advisory_unlock(${key})`.execute(session).catch(() => {});
        }
      });
    } catch (error) {
      throw toStoreopError(error, target, [this.#connection.password], 'provisioning the schema');
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
