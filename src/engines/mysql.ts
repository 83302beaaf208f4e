// MySQL/MariaDB: create mode makes a database and a user with privileges on that database only;
// connect mode only connects. DDL commits implicitly here, so the pipeline is resumable instead.
import { createHash } from 'node:crypto';
import { Kysely, MysqlDialect, sql } from 'kysely';
import { createPool, type PoolOptions, type TypeCastField, type TypeCastNext } from 'mysql2';
import mysql from 'mysql2/promise';
import { type ErrorTarget, StoreopError } from '../errors.js';
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
  grantName,
  ident,
  layout,
  type MysqlLayout,
  mysqlAdminStatements,
  mysqlPlacement,
  type Statement,
} from './mysql-place.js';
import type { CreateTarget, DatabaseTarget, ServerEndpoint, TenantConnection } from './target.js';
import { tenantEndpoint } from './target.js';
import { mysqlAddressAndSsl } from './tls.js';

// TINYINT(1) is MySQL's BOOLEAN: return it as a boolean like PostgreSQL does.
const typeCast = (field: TypeCastField, next: TypeCastNext) => {
  if (field.type === 'TINY' && field.length === 1) {
    const value = field.string();
    return value === null ? null : value === '1';
  }
  return next();
};

function connectionOptions(endpoint: ServerEndpoint, database?: string): PoolOptions {
  return {
    ...mysqlAddressAndSsl(endpoint),
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password ?? '',
    ...(database ? { database } : {}),
    connectTimeout: 10_000,
    supportBigNumbers: true,
    bigNumberStrings: false,
    timezone: 'Z',
    typeCast,
  };
}

function errorTarget(endpoint: ServerEndpoint, database?: string): ErrorTarget {
  return { engine: 'mysql', host: endpoint.host, port: endpoint.port, ...(database ? { database } : {}) };
}

/** One admin session (or connect mode's given user), within the per-server bound of admin-limit.ts. */
function withConnection<T>(
  endpoint: ServerEndpoint,
  database: string | undefined,
  doing: string,
  fn: (conn: mysql.Connection) => Promise<T>,
): Promise<T> {
  return withAdminSlot(endpoint.host, endpoint.port, () => withSession(endpoint, database, doing, fn));
}

async function withSession<T>(
  endpoint: ServerEndpoint,
  database: string | undefined,
  doing: string,
  fn: (conn: mysql.Connection) => Promise<T>,
): Promise<T> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection(connectionOptions(endpoint, database));
    // A session killed between two statements emits 'error' on the connection: without a listener that
    // crashes the process; the next statement fails with it instead (mapped to ConnectionLost).
    conn.on('error', () => {});
    return await fn(conn);
  } catch (error) {
    throw toStoreopError(error, errorTarget(endpoint, database), [endpoint.password], doing);
  } finally {
    await conn?.end().catch(() => {});
  }
}

const conflict = (message: string, target?: ErrorTarget) =>
  new StoreopError('Conflict', message, { retryable: false, ...(target ? { target } : {}) });

const run = (conn: mysql.Connection, s: Statement) => conn.query(s.sql, s.params);

/** The GET_LOCK name of withAdminLock() for a database or user (exported so tests can hold it to stop a run inside the engine). */
export const mysqlAdminLockName = (kind: 'database' | 'user', name: string): string =>
  `storeop:admin:${createHash('sha256').update(`${kind}:${name}`).digest('hex').slice(0, 40)}`;

/** How a user storeop created on the server (the store's own, or its read-only one) connects to the store database. */
function userConnection(target: CreateTarget, slug: string, database: string, user: string, password: string): TenantConnection {
  const place = mysqlPlacement(target, slug);
  const tls = target.admin.tls;
  return { engine: 'mysql', host: place.host, port: place.port, database, user, password, ...(tls ? { tls } : {}) };
}

/**
 * Runs the admin work for one store one run at a time, server-wide: GET_LOCK on the database and on the
 * user (a lock name is at most 64 characters, so names are hashed). Always database first, then user.
 */
async function withAdminLock<T>(conn: mysql.Connection, l: MysqlLayout, fn: () => Promise<T>): Promise<T> {
  const names = [mysqlAdminLockName('database', l.database), mysqlAdminLockName('user', l.user)];
  const held: string[] = [];
  try {
    for (const name of names) {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, 120) AS locked', [name]);
      if (Number(rows[0]?.locked) !== 1)
        throw new StoreopError('LockTimeout', 'another provisioning run held the admin lock for more than 120s');
      held.push(name);
    }
    return await fn();
  } finally {
    for (const name of held.reverse()) await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => {});
  }
}

interface DatabaseState {
  tables: number;
  hasHistory: boolean;
  /** The history table's comment: storeMark(slug) of the store that created the database, or '' (older storeop). */
  mark: string;
  /** 'user'@'host' of everybody holding privileges on the database. */
  grantees: string[];
}

async function inspectDatabase(conn: mysql.Connection, database: string): Promise<DatabaseState | undefined> {
  const [schemata] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [database]);
  if (!schemata.length) return undefined;
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT table_name AS name, table_comment AS comment FROM information_schema.tables WHERE table_schema = ?',
    [database],
  );
  const history = tables.find((t) => t.name === HISTORY_TABLE);
  // Database-level grants name the database as written in the GRANT: plain, or with _ and % escaped.
  const [grants] = await conn.query<mysql.RowDataPacket[]>('SELECT DISTINCT User AS user, Host AS host FROM mysql.db WHERE Db IN (?, ?)', [
    database,
    grantName(database),
  ]);
  return {
    tables: tables.length,
    hasHistory: history !== undefined,
    mark: String(history?.comment ?? ''),
    grantees: grants.map((g) => `'${g.user}'@'${g.host}'`),
  };
}

const grantee = (user: string) => `'${user}'@'%'`;

/**
 * Whether the database is this store's to use and drop: created and marked by storeop for this store; or
 * not marked (empty, or made by an older storeop) and nobody but the store's user holds privileges on it.
 * Throws, naming the database and the reason, when it is somebody else's.
 */
function assertOwnDatabase(state: DatabaseState, l: MysqlLayout, target: ErrorTarget, refused: 'InvalidSpec' | 'Conflict'): void {
  if (state.tables > 0 && !state.hasHistory)
    throw new StoreopError(
      refused,
      refused === 'InvalidSpec'
        ? `database ${l.database} already exists with tables storeop did not create; use connect mode to adopt it`
        : `database ${l.database} holds tables storeop did not create: storeop does not drop it`,
      { target, retryable: false },
    );
  if (state.mark === storeMark(l.slug)) return;
  if (state.mark.startsWith('storeop:store='))
    throw conflict(`database ${l.database} belongs to another store (${state.mark}), not to store ${l.slug}`, target);
  const others = state.grantees.filter((g) => g !== grantee(l.user));
  if (others.length)
    throw conflict(
      `database ${l.database} is not marked as store ${l.slug}'s and ${others.join(', ')} hold privileges on it: storeop does not take it over`,
      target,
    );
}

/** Global privileges of the user ('USAGE' is none): a store user never has any. */
async function globalPrivileges(conn: mysql.Connection, user: string): Promise<string[] | undefined> {
  const [users] = await conn.query<mysql.RowDataPacket[]>(`SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'`, [user]);
  if (!users.length) return undefined;
  const [grants] = await conn.query<mysql.RowDataPacket[]>(`SHOW GRANTS FOR ?@'%'`, [user]);
  return grants
    .map((row) => String(Object.values(row)[0]))
    .flatMap((line) => {
      const global = /^GRANT (.+?) ON \*\.\* TO /.exec(line);
      return global?.[1] && global[1] !== 'USAGE' ? [global[1]] : [];
    });
}

/**
 * An existing user of the store's name is the store's only when the store's database vouches for it: marked
 * for this store (the mark is written before the user is created), or an older storeop's database on which
 * this user holds the privileges. A user with global privileges is never adopted.
 */
function assertOwnUser(
  privileges: string[],
  database: DatabaseState | undefined,
  l: MysqlLayout,
  target: ErrorTarget,
  doing: string,
): void {
  const vouched =
    database !== undefined &&
    (database.mark === storeMark(l.slug) || (database.mark === '' && database.grantees.includes(grantee(l.user))));
  if (!vouched)
    throw conflict(
      `user ${grantee(l.user)} already exists and storeop did not create it for store ${l.slug} (no database of the store marks it): storeop refuses ${doing} it`,
      target,
    );
  if (privileges.length)
    throw conflict(`user ${grantee(l.user)} has global privileges (${privileges.join('; ')}): storeop refuses ${doing} it`, target);
}

async function killSessions(conn: mysql.Connection, user: string): Promise<void> {
  const [sessions] = await conn.query<mysql.RowDataPacket[]>('SELECT id FROM information_schema.processlist WHERE user = ?', [user]);
  for (const session of sessions) {
    await conn.query(`KILL ${Number(session.id)}`).catch(() => {}); // it may have ended meanwhile
  }
}

/** The store's read-only user, when it exists and the store's database vouches for it: locked, its sessions ended, dropped. */
async function dropReadOnlyUser(
  conn: mysql.Connection,
  database: DatabaseState | undefined,
  l: MysqlLayout,
  where: ErrorTarget,
): Promise<void> {
  const privileges = await globalPrivileges(conn, l.readOnlyUser);
  if (!privileges) return;
  assertOwnUser(privileges, database, { ...l, user: l.readOnlyUser }, where, 'to drop');
  await conn.query(`ALTER USER ?@'%' ACCOUNT LOCK`, [l.readOnlyUser]);
  await killSessions(conn, l.readOnlyUser);
  await conn.query(`DROP USER ?@'%'`, [l.readOnlyUser]);
}

export class MysqlEngine implements Engine {
  readonly dialect = 'mysql' as const;

  placement(target: DatabaseTarget, slug: string): Placement {
    return mysqlPlacement(target, slug);
  }

  async testConnection(target: DatabaseTarget): Promise<string> {
    if (target.engine !== 'mysql') throw new StoreopError('InvalidSpec', 'not a MySQL target');
    const endpoint = target.mode === 'connect' ? target.connection : target.admin;
    const database = target.mode === 'connect' ? target.connection.database : undefined;
    return withConnection(endpoint, database, 'connecting', async (conn) => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version');
      return String(rows[0]?.version ?? 'unknown');
    });
  }

  async serverHealth(admin: ServerEndpoint): Promise<ServerHealth> {
    return withConnection(admin, undefined, 'checking the server', async (conn) => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT VERSION() AS version, (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon') AS used",
      );
      return { version: String(rows[0]?.version ?? 'unknown'), connectionsUsed: Number(rows[0]?.used ?? 0) };
    });
  }

  async ensureDatabase(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection> {
    if (target.engine !== 'mysql') throw new StoreopError('InvalidSpec', 'not a MySQL target');
    if (target.mode === 'connect') {
      const c = target.connection;
      return {
        engine: 'mysql',
        host: c.host,
        port: c.port,
        database: c.database,
        user: c.user,
        ...(c.password !== undefined ? { password: c.password } : {}),
        ...(c.tls ? { tls: c.tls } : {}),
      };
    }
    const l = layout(target, slug);
    const s = adminSql(target, l, password);
    const where = errorTarget(target.admin, l.database);
    await withConnection(target.admin, undefined, 'creating the store database', (conn) =>
      withAdminLock(conn, l, async () => {
        // Everything is checked before anything changes: a refused run leaves the server as it was.
        const database = await inspectDatabase(conn, l.database);
        if (database) assertOwnDatabase(database, l, where, 'InvalidSpec');
        const privileges = await globalPrivileges(conn, l.user);
        if (privileges) assertOwnUser(privileges, database, l, where, 'to take over');
        await run(conn, s.createDatabase);
        await run(conn, s.createHistory);
        if (database?.mark !== storeMark(l.slug)) await run(conn, s.markDatabase);
        // MySQL 8 cannot create a user through GRANT: create it, then (re-)set its password and limits.
        if (!privileges) await run(conn, s.createUser);
        await run(conn, s.updateUser);
        await run(conn, s.grant);
      }),
    );
    return userConnection(target, slug, l.database, l.user, password);
  }

  async ensureReadOnlyUser(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection> {
    const t = createTarget(target, 'a read-only user');
    const l = layout(t, slug);
    const s = adminSql(t, l, password);
    const where = errorTarget(t.admin, l.database);
    await withConnection(t.admin, undefined, 'creating the read-only user', (conn) =>
      withAdminLock(conn, l, async () => {
        // The store's database, marked for this store, vouches for the read-only user as for the store's own.
        const database = await inspectDatabase(conn, l.database);
        if (database?.mark !== storeMark(l.slug))
          throw new StoreopError('InvalidSpec', `database ${l.database} is not store ${l.slug}'s yet: the read-only user comes after it`, {
            target: where,
          });
        const privileges = await globalPrivileges(conn, l.readOnlyUser);
        if (privileges) assertOwnUser(privileges, database, { ...l, user: l.readOnlyUser }, where, 'to take over');
        else await run(conn, s.createReadOnlyUser);
        await run(conn, s.updateReadOnlyUser);
        await run(conn, s.grantReadOnly);
      }),
    );
    return userConnection(t, slug, l.database, l.readOnlyUser, password);
  }

  async dropReadOnlyUser(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'a read-only user');
    const l = layout(t, slug);
    const where = errorTarget(t.admin, l.database);
    await withConnection(t.admin, undefined, 'dropping the read-only user', (conn) =>
      withAdminLock(conn, l, async () => dropReadOnlyUser(conn, await inspectDatabase(conn, l.database), l, where)),
    );
  }

  async openTenant(connection: TenantConnection, options: TenantOptions = {}): Promise<Tenant> {
    return new MysqlTenant(connection, options);
  }

  /** One session as the store's user: the login proves database, user and password; one query fingerprints. */
  async fingerprint(connection: TenantConnection, tables: readonly string[]): Promise<Fingerprint> {
    return withSession(tenantEndpoint(connection), connection.database, 'checking the store database', async (conn) => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(fingerprintQuery('mysql', tables));
      return parseFingerprint('mysql', rows[0]);
    });
  }

  async deprovision(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'deprovision');
    const l = layout(t, slug);
    const where = errorTarget(t.admin, l.database);
    await withConnection(t.admin, undefined, 'deprovisioning', (conn) =>
      withAdminLock(conn, l, async () => {
        const database = await inspectDatabase(conn, l.database);
        if (database) assertOwnDatabase(database, l, where, 'Conflict');
        await dropReadOnlyUser(conn, database, l, where);
        const privileges = await globalPrivileges(conn, l.user);
        if (privileges) {
          assertOwnUser(privileges, database, l, where, 'to drop');
          await conn.query(`ALTER USER ?@'%' ACCOUNT LOCK`, [l.user]);
          await killSessions(conn, l.user);
          // The user goes first: the marked database is what lets a stopped run recognise the user as ours.
          await conn.query(`DROP USER ?@'%'`, [l.user]);
        }
        if (database) await conn.query(`DROP DATABASE IF EXISTS ${ident(l.database)}`);
      }),
    );
  }

  adminStatements(target: DatabaseTarget, slug: string): string[] {
    return mysqlAdminStatements(target, slug);
  }

  async setLoginEnabled(target: DatabaseTarget, slug: string, enabled: boolean): Promise<void> {
    const t = createTarget(target, 'suspending a store');
    const l = layout(t, slug);
    const where = errorTarget(t.admin, l.database);
    await withConnection(t.admin, undefined, enabled ? 'unlocking the store user' : 'locking the store user', async (conn) => {
      const privileges = await globalPrivileges(conn, l.user);
      if (privileges) assertOwnUser(privileges, await inspectDatabase(conn, l.database), l, where, enabled ? 'to unlock' : 'to lock');
      await conn.query(`ALTER USER ?@'%' ACCOUNT ${enabled ? 'UNLOCK' : 'LOCK'}`, [l.user]);
      if (!enabled) await killSessions(conn, l.user);
    });
  }
}

class MysqlTenant implements Tenant {
  readonly dialect = 'mysql' as const;
  readonly transactionalDdl = false;
  readonly onlineDdl = true;
  readonly db: AnyKysely;
  readonly #connection: TenantConnection;

  constructor(connection: TenantConnection, options: TenantOptions) {
    this.#connection = connection;
    const endpoint = tenantEndpoint(connection);
    const pool = createPool({
      ...connectionOptions(endpoint, connection.database),
      connectionLimit: options.poolSize ?? 2,
      maxIdle: options.poolSize ?? 2,
      idleTimeout: options.idleTimeoutMs ?? 10_000,
    });
    // A killed session emits 'error' on its connection (also when checked out); mysql2 only listens once
    // (to drop it from the pool): a listener of our own keeps a later one from crashing the process. The
    // running query fails on its own with the error (mapped to ConnectionLost).
    pool.on('connection', (c) => c.on('error', () => {}));
    this.db = new Kysely({ dialect: new MysqlDialect({ pool }) });
  }

  async withMigrationLock<T>(fn: (session: AnyKysely) => Promise<T>, options: LockOptions): Promise<T> {
    const c = this.#connection;
    const target: ErrorTarget = { engine: 'mysql', host: c.host, port: c.port, database: c.database };
    // GET_LOCK names are server-wide (64 characters at most): name the lock after this database.
    const lockName = `storeop:${createHash('sha256').update(c.database).digest('hex').slice(0, 40)}`;
    try {
      return await this.db.connection().execute(async (session) => {
        const ddlSeconds = Math.max(1, Math.ceil(options.ddlLockTimeoutMs / 1000));
        await sql`SET SESSION lock_wait_timeout = ${sql.lit(ddlSeconds)}, SESSION innodb_lock_wait_timeout = ${sql.lit(ddlSeconds)}`.execute(
          session,
        );
        const waitSeconds = Math.max(1, Math.ceil(options.waitMs / 1000));
        const got = await sql<{ locked: number | null }>`SELECT GET_LOCK(${lockName}, ${waitSeconds}) AS locked`.execute(session);
        if (Number(got.rows[0]?.locked) !== 1) {
          throw new StoreopError('LockTimeout', `another provisioning run held the migration lock for more than ${waitSeconds}s`, {
            target,
          });
        }
        try {
          return await fn(session);
        } finally {
          await sql`SELECT RELEASE_LOCK(${lockName})`.execute(session).catch(() => {});
        }
      });
    } catch (error) {
      throw toStoreopError(error, target, [c.password], 'provisioning the schema');
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
