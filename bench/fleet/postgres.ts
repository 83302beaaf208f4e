// The PostgreSQL side of the bench: names (every database and role it makes starts with store_fleet_),
// the master DB, dropping leftovers, checking that deletion dropped everything, and the counters it
// reads from pg_stat_database and pg_stat_user_tables.
import pg from 'pg';

/** Databases and roles of fleet stores are store_<slug>; every bench slug starts with `fleet-`. */
export const DATABASE_PREFIX = 'store_fleet_';

export const BENCH_APPLICATION = 'storeop-fleet-bench';

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: BENCH_APPLICATION });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

const likePattern = (prefix: string) => `${prefix.replaceAll('_', '\\_')}%`;

/** Drops every database and role whose name starts with `prefix` (default: all of the bench's, a killed run's too). */
export async function dropFleetObjects(adminUrl: string, prefix = DATABASE_PREFIX): Promise<{ databases: number; roles: number }> {
  const like = likePattern(prefix);
  return withClient(adminUrl, async (client) => {
    const dbs = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [like]);
    for (const { datname } of dbs.rows) await client.query(`DROP DATABASE IF EXISTS ${quote(datname)} WITH (FORCE)`);
    const roles = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [like]);
    for (const { rolname } of roles.rows) await client.query(`DROP ROLE IF EXISTS ${quote(rolname)}`);
    return { databases: dbs.rowCount ?? 0, roles: roles.rowCount ?? 0 };
  });
}

/**
 * Whether another bench run is connected to the server (its connection sampler stays connected for the whole
 * run): then the store_fleet_* objects may be that run's, not a killed run's, and must be left alone.
 */
export async function otherBenchRunning(adminUrl: string): Promise<boolean> {
  return withClient(adminUrl, async (client) => {
    const others = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [BENCH_APPLICATION],
    );
    return Number(others.rows[0]?.n) > 0;
  });
}

/** Databases and roles whose names start with `prefix` (e.g. store_fleet_ab12_w4_). */
export async function remaining(adminUrl: string, prefix: string): Promise<{ databases: number; roles: number }> {
  const like = likePattern(prefix);
  return withClient(adminUrl, async (client) => {
    const dbs = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_database WHERE datname LIKE $1', [like]);
    const roles = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE $1', [like]);
    return { databases: Number(dbs.rows[0]?.n), roles: Number(roles.rows[0]?.n) };
  });
}

export async function createMasterDatabase(adminUrl: string, name: string): Promise<string> {
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${quote(name)}`));
  return withDatabase(adminUrl, name);
}

export interface DatabaseCounters {
  /** Committed + rolled-back transactions: a lower bound of SQL round trips (one per autocommit statement). */
  transactions: number;
  /** New backends (pg_stat_database.sessions, PostgreSQL 14+). */
  sessions: number;
}

export interface StatSnapshot {
  /** The store databases of this run's prefix, summed. */
  stores: DatabaseCounters;
  master: DatabaseCounters;
  /** The admin database (shared with every other client of the server: other work counts too). */
  admin: DatabaseCounters;
  /** Rows inserted, updated or deleted in the master DB's tables. */
  masterRowWrites: number;
}

export async function statSnapshot(adminUrl: string, masterUrl: string, storePrefix: string): Promise<StatSnapshot> {
  const adminDb = new URL(adminUrl).pathname.slice(1) || 'postgres';
  const masterDb = new URL(masterUrl).pathname.slice(1);
  const like = likePattern(storePrefix);
  const counters = await withClient(adminUrl, async (client) => {
    // Statistics are cached per transaction: a fresh snapshot each call.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const row = async (where: string, param: string) => {
      const r = await client.query<{ t: string; s: string }>(
        `SELECT coalesce(sum(xact_commit + xact_rollback), 0) AS t, coalesce(sum(sessions), 0) AS s FROM pg_stat_database WHERE ${where}`,
        [param],
      );
      return { transactions: Number(r.rows[0]?.t), sessions: Number(r.rows[0]?.s) };
    };
    return {
      stores: await row('datname LIKE $1', like),
      master: await row('datname = $1', masterDb),
      admin: await row('datname = $1', adminDb),
    };
  });
  const masterRowWrites = await withClient(masterUrl, async (client) => {
    const r = await client.query<{ n: string }>('SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables');
    return Number(r.rows[0]?.n);
  });
  return { ...counters, masterRowWrites };
}

export function statDelta(before: StatSnapshot, after: StatSnapshot): StatSnapshot {
  const d = (a: DatabaseCounters, b: DatabaseCounters) => ({
    transactions: b.transactions - a.transactions,
    sessions: b.sessions - a.sessions,
  });
  return {
    stores: d(before.stores, after.stores),
    master: d(before.master, after.master),
    admin: d(before.admin, after.admin),
    masterRowWrites: after.masterRowWrites - before.masterRowWrites,
  };
}
