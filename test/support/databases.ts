// Connection settings of the real PostgreSQL and MariaDB servers the tests use, and helpers that give
// each test its own throw-away database so tests never see each other's tables.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const POSTGRES_URL = process.env.STOREOP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_URL = process.env.STOREOP_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';

const HOW_TO_START = {
  PostgreSQL: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set STOREOP_TEST_POSTGRES_URL',
  MariaDB: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd, or set STOREOP_TEST_MYSQL_URL',
};

/** Runs `fn` with a PostgreSQL client of its own connected to `url`, and always closes it. */
export async function withPostgres<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The rows of one query on the PostgreSQL database at `url`. */
export function postgresRows<T extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return withPostgres(url, async (client) => (await client.query<T>(text, params)).rows);
}

/** Fails loudly (never skips) when a test database server is not reachable. */
export async function assertDatabasesReachable(): Promise<void> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(
      `PostgreSQL at ${redact(POSTGRES_URL)} is not reachable (${(error as Error).message}). Start it with: ${HOW_TO_START.PostgreSQL}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  try {
    const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 5000 });
    await conn.query('SELECT 1');
    await conn.end();
  } catch (error) {
    problems.push(`MariaDB at ${redact(MYSQL_URL)} is not reachable (${(error as Error).message}). Start it with: ${HOW_TO_START.MariaDB}`);
  }
  if (problems.length) throw new Error(problems.join('\n'));
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Replaces the database of a server URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TempDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createPostgresDatabase(prefix = 't'): Promise<TempDatabase> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(POSTGRES_URL, name),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export async function createMysqlDatabase(prefix = 't'): Promise<TempDatabase> {
  const name = uniqueName(prefix);
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(MYSQL_URL, name),
    async drop() {
      const conn = await mysql.createConnection({ uri: MYSQL_URL });
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await conn.end();
      }
    },
  };
}
