// MySQL/MariaDB: create mode makes a database and a user with privileges on that database only;
// connect mode only connects. DDL commits implicitly here, so the pipeline is resumable instead.
import { createHash } from 'node:crypto';
import { Kysely, MysqlDialect, sql } from 'kysely';
import { createPool, type PoolOptions, type TypeCastField, type TypeCastNext } from 'mysql2';
import mysql from 'mysql2/promise';
import { type ErrorTarget, StoreopError } from '../errors.js';
import { assertIdentifier, storeNames } from '../naming.js';
import { toStoreopError } from './driver-errors.js';
import type { AnyKysely, Engine, LockOptions, Tenant, TenantOptions } from './engine.js';
import type { CreateTarget, DatabaseTarget, ServerEndpoint, TenantConnection } from './target.js';
import { tenantEndpoint } from './target.js';
import { mysqlAddressAndSsl } from './tls.js';

const DEFAULT_CONNECTION_LIMIT = 50;
const HISTORY_TABLE = 'storeop_schema_history';

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

async function withConnection<T>(
  endpoint: ServerEndpoint,
  database: string | undefined,
  doing: string,
  fn: (conn: mysql.Connection) => Promise<T>,
): Promise<T> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection(connectionOptions(endpoint, database));
    return await fn(conn);
  } catch (error) {
    throw toStoreopError(error, errorTarget(endpoint, database), [endpoint.password], doing);
  } finally {
    await conn?.end().catch(() => {});
  }
}

const ident = (name: string) => `\`${name.replaceAll('`', '``')}\``;
/** In GRANT ... ON `db`.*, `_` and `%` are wildcards: escape them so the grant covers this database only. */
const grantPattern = (database: string) => ident(database.replace(/[_%\\]/g, (c) => `\\${c}`));

function createTarget(target: DatabaseTarget, what: string): CreateTarget {
  if (target.engine !== 'mysql' || target.mode !== 'create')
    throw new StoreopError('InvalidSpec', `${what} needs a MySQL target in create mode`);
  return target;
}

function layout(target: CreateTarget, slug: string): { database: string; user: string } {
  const names = storeNames(slug);
  return { database: assertIdentifier(target.databaseName ?? names.database, 'database name'), user: names.mysqlUser };
}

export class MysqlEngine implements Engine {
  readonly dialect = 'mysql' as const;

  async testConnection(target: DatabaseTarget): Promise<string> {
    if (target.engine !== 'mysql') throw new StoreopError('InvalidSpec', 'not a MySQL target');
    const endpoint = target.mode === 'connect' ? target.connection : target.admin;
    const database = target.mode === 'connect' ? target.connection.database : undefined;
    return withConnection(endpoint, database, 'connecting', async (conn) => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version');
      return String(rows[0]?.version ?? 'unknown');
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
    const { database, user } = layout(target, slug);
    const limit = target.connectionLimit ?? DEFAULT_CONNECTION_LIMIT;
    await withConnection(target.admin, undefined, 'creating the store database', async (conn) => {
      if (await hasForeignTables(conn, database)) {
        throw new StoreopError(
          'InvalidSpec',
          `database ${database} already exists with tables storeop did not create; use connect mode to adopt it`,
          {
            target: errorTarget(target.admin, database),
            retryable: false,
          },
        );
      }
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      // MySQL 8 cannot create a user through GRANT: create it, then (re-)set its password and limits.
      await conn.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [user, password]);
      await conn.query(`ALTER USER ?@'%' IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${Number(limit)}`, [user, password]);
      await conn.query(`GRANT ALL PRIVILEGES ON ${grantPattern(database)}.* TO ?@'%'`, [user]);
    });
    return {
      engine: 'mysql',
      host: target.publicHost ?? target.admin.host,
      port: target.publicPort ?? target.admin.port,
      database,
      user,
      password,
      ...(target.admin.tls ? { tls: target.admin.tls } : {}),
    };
  }

  async openTenant(connection: TenantConnection, options: TenantOptions = {}): Promise<Tenant> {
    return new MysqlTenant(connection, options);
  }

  async deprovision(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'deprovision');
    const { database, user } = layout(t, slug);
    await withConnection(t.admin, undefined, 'deprovisioning', async (conn) => {
      // The same test as creation: a database with tables but without storeop's history is not ours to drop.
      if (await hasForeignTables(conn, database))
        throw new StoreopError('Conflict', `database ${database} holds tables storeop did not create: storeop does not drop it`, {
          target: errorTarget(t.admin, database),
          retryable: false,
        });
      await conn.query(`ALTER USER IF EXISTS ?@'%' ACCOUNT LOCK`, [user]);
      await killSessions(conn, user);
      await conn.query(`DROP DATABASE IF EXISTS ${ident(database)}`);
      await conn.query(`DROP USER IF EXISTS ?@'%'`, [user]);
    });
  }

  describeCreate(target: DatabaseTarget, slug: string): string[] {
    const t = createTarget(target, 'plan');
    const { database, user } = layout(t, slug);
    return [
      `CREATE DATABASE IF NOT EXISTS ${ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '<generated>';`,
      `ALTER USER '${user}'@'%' IDENTIFIED BY '<generated>' WITH MAX_USER_CONNECTIONS ${Number(t.connectionLimit ?? DEFAULT_CONNECTION_LIMIT)};`,
      `GRANT ALL PRIVILEGES ON ${grantPattern(database)}.* TO '${user}'@'%';`,
    ];
  }

  async setLoginEnabled(target: DatabaseTarget, slug: string, enabled: boolean): Promise<void> {
    const t = createTarget(target, 'suspending a store');
    const { user } = layout(t, slug);
    await withConnection(t.admin, undefined, enabled ? 'unlocking the store user' : 'locking the store user', async (conn) => {
      await conn.query(`ALTER USER ?@'%' ACCOUNT ${enabled ? 'UNLOCK' : 'LOCK'}`, [user]);
      if (!enabled) await killSessions(conn, user);
    });
  }
}

/** Whether `database` has tables but not storeop's history table: someone else's database. */
async function hasForeignTables(conn: mysql.Connection, database: string): Promise<boolean> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS tables, SUM(table_name = ?) AS ours FROM information_schema.tables WHERE table_schema = ?`,
    [HISTORY_TABLE, database],
  );
  return Number(rows[0]?.tables ?? 0) > 0 && Number(rows[0]?.ours ?? 0) === 0;
}

async function killSessions(conn: mysql.Connection, user: string): Promise<void> {
  const [sessions] = await conn.query<mysql.RowDataPacket[]>('SELECT id FROM information_schema.processlist WHERE user = ?', [user]);
  for (const session of sessions) {
    await conn.query(`KILL ${Number(session.id)}`).catch(() => {}); // it may have ended meanwhile
  }
}

class MysqlTenant implements Tenant {
  readonly dialect = 'mysql' as const;
  readonly transactionalDdl = false;
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
