// Opens the master (platform) database: PostgreSQL from a URL, or an embedded PGlite in ./.storeop/master
// by default. Migrations run on open, safely when two processes start at once.
import { join, resolve } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { openPglite } from '../engines/pglite-registry.js';
import { keepDroppedConnectionsFromCrashing } from '../engines/postgres.js';
import { parseDatabaseUrl } from '../engines/url.js';
import { redactSecrets, StoreopError } from '../errors.js';
import * as platform from './migrations/0001-platform.js';
import * as jobStreaks from './migrations/0002-job-streaks.js';
import * as apiTokenName from './migrations/0003-api-token-name.js';
import * as storeIdentity from './migrations/0004-store-identity.js';
import * as schemaVersions from './migrations/0005-schema-versions.js';
import * as schemaRollouts from './migrations/0006-schema-rollouts.js';
import * as databaseServers from './migrations/0007-database-servers.js';
import * as usage from './migrations/0008-usage.js';
import type { MasterDB } from './types.js';

export interface MasterDatabase {
  db: Kysely<MasterDB>;
  /** Where it lives, with any password masked: for messages and logs. */
  location: string;
  engine: 'postgresql' | 'pglite';
  close(): Promise<void>;
}

export interface MasterOptions {
  /** postgres:// or pglite:// URL; defaults to STOREOP_MASTER_DATABASE_URL, then the embedded default. */
  url?: string | undefined;
  /** storeop's local folder (embedded master DB, encryption key); defaults to STOREOP_HOME or ./.storeop. */
  home?: string | undefined;
  /** Run pending migrations on open (default true). */
  migrate?: boolean;
  /** PostgreSQL master: connections in the pool, never more (default DEFAULT_MASTER_POOL_SIZE). */
  poolSize?: number | undefined;
}

export const DEFAULT_MASTER_POOL_SIZE = 10;

export function storeopHome(home?: string): string {
  return resolve(home ?? process.env.STOREOP_HOME ?? '.storeop');
}

export function masterUrl(options: MasterOptions = {}): string {
  return options.url ?? process.env.STOREOP_MASTER_DATABASE_URL ?? `pglite://${join(storeopHome(options.home), 'master')}`;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export async function openMaster(options: MasterOptions = {}): Promise<MasterDatabase> {
  const url = masterUrl(options);
  const parsed = parseDatabaseUrl(url, 'master database URL');
  let master: MasterDatabase;
  if (parsed.engine === 'pglite') {
    const handle = await openPglite(parsed.dataDir as string);
    master = { db: handle.db as Kysely<MasterDB>, location: `pglite://${parsed.dataDir}`, engine: 'pglite', close: () => handle.release() };
  } else if (parsed.engine === 'postgresql' && parsed.endpoint) {
    const e = parsed.endpoint;
    const pool = new pg.Pool({
      host: e.host,
      port: e.port,
      user: e.user,
      database: e.database ?? 'postgres',
      max: options.poolSize ?? DEFAULT_MASTER_POOL_SIZE,
      application_name: 'storeop-master',
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      types,
      ...(e.password !== undefined ? { password: e.password } : {}),
      ...(e.tls ? { ssl: { rejectUnauthorized: e.tls.rejectUnauthorized ?? true, ...(e.tls.ca ? { ca: e.tls.ca } : {}) } } : {}),
    });
    keepDroppedConnectionsFromCrashing(pool);
    const db = new Kysely<MasterDB>({ dialect: new PostgresDialect({ pool }) });
    master = { db, location: redactSecrets(url, [e.password]), engine: 'postgresql', close: () => db.destroy() };
  } else {
    throw new StoreopError('InvalidSpec', 'the master database must be PostgreSQL (postgres://) or embedded (pglite://)');
  }
  if (options.migrate !== false) {
    try {
      await migrateMaster(master);
    } catch (error) {
      await master.close().catch(() => {});
      throw error;
    }
  }
  return master;
}

const MIGRATIONS = {
  '0001-platform': platform,
  '0002-job-streaks': jobStreaks,
  '0003-api-token-name': apiTokenName,
  '0004-store-identity': storeIdentity,
  '0005-schema-versions': schemaVersions,
  '0006-schema-rollouts': schemaRollouts,
  '0007-database-servers': databaseServers,
  '0008-usage': usage,
};

export async function migrateMaster(master: MasterDatabase): Promise<string[]> {
  const migrator = new Migrator({
    db: master.db,
    provider: { getMigrations: async () => MIGRATIONS },
    migrationTableName: 'storeop_master_migrations',
    migrationLockTableName: 'storeop_master_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StoreopError(
      'ProvisioningFailed',
      `master database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`,
      {
        target: { database: master.location },
      },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
