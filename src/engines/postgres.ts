// PostgreSQL: create mode makes a login role and a database (or a schema in a shared database) owned by
// it; connect mode only connects. Admin work runs connected to the maintenance database.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type ErrorTarget, StoreopError } from '../errors.js';
import { assertIdentifier, storeNames } from '../naming.js';
import { toStoreopError } from './driver-errors.js';
import type { AnyKysely, Engine, LockOptions, Tenant, TenantOptions } from './engine.js';
import { scramSha256Verifier } from './scram.js';
import type { CreateTarget, DatabaseTarget, ServerEndpoint, TenantConnection } from './target.js';
import { tenantEndpoint } from './target.js';
import { pgAddressAndSsl } from './tls.js';

const MAINTENANCE_DATABASE = 'postgres';
export const DEFAULT_SHARED_DATABASE = 'storeop_stores';
const DEFAULT_CONNECTION_LIMIT = 50;

// int8 as number: ids and counters stay far below 2^53; numeric stays a string (exact money).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function clientConfig(endpoint: ServerEndpoint, database: string): pg.ClientConfig {
  const { host, ssl } = pgAddressAndSsl(endpoint);
  return {
    host,
    port: endpoint.port,
    user: endpoint.user,
    database,
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

async function withClient<T>(endpoint: ServerEndpoint, database: string, doing: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(endpoint, database));
  client.on('error', () => {}); // a dropped idle connection surfaces on the next query instead
  try {
    await client.connect();
    return await fn(client);
  } catch (error) {
    throw toStoreopError(error, errorTarget(endpoint, database), [endpoint.password], doing);
  } finally {
    await client.end().catch(() => {});
  }
}

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

interface Layout {
  isolation: 'database' | 'schema';
  database: string;
  schema: string;
  role: string;
}

function layout(target: CreateTarget, slug: string): Layout {
  const names = storeNames(slug);
  const isolation = target.isolation ?? 'database';
  if (isolation === 'schema') {
    return {
      isolation,
      database: assertIdentifier(target.databaseName ?? DEFAULT_SHARED_DATABASE, 'database name'),
      schema: names.schema,
      role: names.role,
    };
  }
  return {
    isolation,
    database: assertIdentifier(target.databaseName ?? names.database, 'database name'),
    schema: 'public',
    role: names.role,
  };
}

function createTarget(target: DatabaseTarget, what: string): CreateTarget {
  if (target.engine !== 'postgresql' || target.mode !== 'create')
    throw new StoreopError('InvalidSpec', `${what} needs a PostgreSQL target in create mode`);
  return target;
}

/**
 * Whether a CREATE failed because another session created the same object meanwhile: "already exists"
 * (42710 role, 42P04 database) when the other session committed first, or a unique violation (23505) on
 * the catalog index when both inserted the catalog row at once.
 */
function createdConcurrently(error: unknown): boolean {
  return ['42710', '42P04', '23505'].includes(String((error as { code?: unknown }).code));
}

async function ensureRole(client: pg.Client, role: string, password: string, connectionLimit: number): Promise<void> {
  const verifier = literal(scramSha256Verifier(password));
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) {
    try {
      await client.query(`CREATE ROLE ${ident(role)} WITH LOGIN PASSWORD ${verifier} CONNECTION LIMIT ${connectionLimit}`);
      return;
    } catch (error) {
      if (!createdConcurrently(error)) throw error; // created concurrently: adopt it below
    }
  }
  // Re-adopting an existing role: make it match, with the password the caller keeps.
  await client.query(`ALTER ROLE ${ident(role)} WITH LOGIN PASSWORD ${verifier} CONNECTION LIMIT ${connectionLimit}`);
}

/** The advisory-lock key of withAdminLock() (exported so tests can hold the lock to stop a run inside the engine). */
export const adminLockKey = (database: string): string => `storeop:admin:${database}`;

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

/** CREATE DATABASE cannot run in a transaction and fails with 55006 while template1 is in use: retry. */
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
    throw new StoreopError(
      'Conflict',
      `${kind} ${name} belongs to ${owner}, not to the store role ${role}: storeop did not create it and does not drop it`,
      {
        retryable: false,
      },
    );
}

async function createDatabase(client: pg.Client, database: string, owner: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const exists = await client.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [
      database,
    ]);
    const found = exists.rows[0];
    if (found) {
      if (found.owner !== owner) {
        throw new StoreopError(
          'InvalidSpec',
          `database ${database} already exists and belongs to ${found.owner}, not to ${owner}; use connect mode to adopt it`,
          {
            retryable: false,
          },
        );
      }
      return;
    }
    try {
      await client.query(`CREATE DATABASE ${ident(database)} OWNER ${ident(owner)} ENCODING 'UTF8'`);
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (createdConcurrently(error)) continue; // created concurrently: check its owner above
      if (code === '55006' && attempt < 8) {
        await sleep(50 * 2 ** attempt + Math.random() * 50);
        continue;
      }
      throw error;
    }
  }
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

  #endpointOf(target: DatabaseTarget): { endpoint: ServerEndpoint; database: string } {
    if (target.engine !== 'postgresql') throw new StoreopError('InvalidSpec', 'not a PostgreSQL target');
    if (target.mode === 'connect') return { endpoint: target.connection, database: target.connection.database };
    return { endpoint: target.admin, database: target.admin.database ?? MAINTENANCE_DATABASE };
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
    const limit = target.connectionLimit ?? DEFAULT_CONNECTION_LIMIT;
    await withClient(admin, admin.database ?? MAINTENANCE_DATABASE, 'creating the store database', (client) =>
      withAdminLock(client, l.database, async () => {
        await ensureRole(client, l.role, password, limit);
        if (l.isolation === 'database') {
          await createDatabase(client, l.database, l.role);
          await client.query(`REVOKE ALL ON DATABASE ${ident(l.database)} FROM PUBLIC`);
          return;
        }
        await createDatabase(client, l.database, admin.user);
        await client.query(`REVOKE ALL ON DATABASE ${ident(l.database)} FROM PUBLIC`);
        await client.query(`GRANT CONNECT ON DATABASE ${ident(l.database)} TO ${ident(l.role)}`);
        await withClient(admin, l.database, 'creating the store schema', async (shared) => {
          await shared.query(`CREATE SCHEMA IF NOT EXISTS ${ident(l.schema)} AUTHORIZATION ${ident(l.role)}`);
          await shared.query(`ALTER SCHEMA ${ident(l.schema)} OWNER TO ${ident(l.role)}`);
          await shared.query(`REVOKE ALL ON SCHEMA ${ident(l.schema)} FROM PUBLIC`);
          await shared.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
        });
      }),
    );
    return {
      engine: 'postgresql',
      host: target.publicHost ?? admin.host,
      port: target.publicPort ?? admin.port,
      database: l.database,
      schema: l.schema,
      user: l.role,
      password,
      ...(admin.tls ? { tls: admin.tls } : {}),
    };
  }

  async openTenant(connection: TenantConnection, options: TenantOptions = {}): Promise<Tenant> {
    return new PostgresTenant(connection, options);
  }

  async deprovision(target: DatabaseTarget, slug: string): Promise<void> {
    const t = createTarget(target, 'deprovision');
    const l = layout(t, slug);
    const admin = t.admin;
    const maintenance = admin.database ?? MAINTENANCE_DATABASE;
    if (l.isolation === 'schema') {
      const sharedExists = await withClient(admin, maintenance, 'deprovisioning', async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
        return ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [l.database])).rowCount ?? 0) > 0;
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
      if (l.isolation === 'database') {
        await refuseForeignOwner(
          client,
          'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
          'database',
          l.database,
          l.role,
        );
        await client.query(`DROP DATABASE IF EXISTS ${ident(l.database)} WITH (FORCE)`);
      }
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
      await client.query(`DROP ROLE IF EXISTS ${ident(l.role)}`);
    });
  }

  describeCreate(target: DatabaseTarget, slug: string): string[] {
    const t = createTarget(target, 'plan');
    const l = layout(t, slug);
    const role = `CREATE ROLE ${ident(l.role)} WITH LOGIN PASSWORD '<generated>' CONNECTION LIMIT ${t.connectionLimit ?? DEFAULT_CONNECTION_LIMIT};`;
    if (l.isolation === 'database')
      return [
        role,
        `CREATE DATABASE ${ident(l.database)} OWNER ${ident(l.role)} ENCODING 'UTF8';`,
        `REVOKE ALL ON DATABASE ${ident(l.database)} FROM PUBLIC;`,
      ];
    return [
      role,
      `CREATE DATABASE ${ident(l.database)} OWNER ${ident(t.admin.user)} ENCODING 'UTF8'; -- the shared database, unless it exists`,
      `REVOKE ALL ON DATABASE ${ident(l.database)} FROM PUBLIC;`,
      `GRANT CONNECT ON DATABASE ${ident(l.database)} TO ${ident(l.role)};`,
      `CREATE SCHEMA IF NOT EXISTS ${ident(l.schema)} AUTHORIZATION ${ident(l.role)}; -- in ${l.database}`,
      `REVOKE ALL ON SCHEMA ${ident(l.schema)} FROM PUBLIC;`,
    ];
  }

  async setLoginEnabled(target: DatabaseTarget, slug: string, enabled: boolean): Promise<void> {
    const t = createTarget(target, 'suspending a store');
    const l = layout(t, slug);
    await withClient(
      t.admin,
      t.admin.database ?? MAINTENANCE_DATABASE,
      enabled ? 'enabling the store role' : 'disabling the store role',
      async (client) => {
        await client.query(`ALTER ROLE ${ident(l.role)} WITH ${enabled ? 'LOGIN' : 'NOLOGIN'}`);
        if (!enabled) await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [l.role]);
      },
    );
  }
}

class PostgresTenant implements Tenant {
  readonly dialect = 'postgres' as const;
  readonly transactionalDdl = true;
  readonly db: AnyKysely;
  readonly #connection: TenantConnection;

  constructor(connection: TenantConnection, options: TenantOptions) {
    this.#connection = connection;
    const endpoint = tenantEndpoint(connection);
    const pool = new pg.Pool({
      ...clientConfig(endpoint, connection.database),
      max: options.poolSize ?? 2,
      idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
      ...(connection.schema && connection.schema !== 'public' ? { options: `-c search_path=${connection.schema}` } : {}),
    });
    pool.on('error', () => {});
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
