// Reads the stores and their database configs out of the platform's current database: PostgreSQL,
// MySQL/MariaDB or a SQLite file (Node's built-in node:sqlite, opened read-only). Only SELECTs, with
// every table and column name taken from the validated mapping and quoted; the legacy database is never
// written. Rows come back as they are: turning them into stores (and refusing bad ones) is records.ts.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseDatabaseUrl } from '../engines/url.js';
import { redactCredentials, redactSecrets, StoreopError } from '../errors.js';
import type { Mapping } from './mapping.js';

export interface LegacyConfig {
  type: unknown;
  data: unknown;
  active: unknown;
}

export interface LegacyRow {
  id: string;
  slug: unknown;
  name: unknown;
  owner: unknown;
  plan: unknown;
  databaseType: unknown;
  status: unknown;
  configs: LegacyConfig[];
}

type Dialect = 'postgres' | 'mysql' | 'sqlite';
type Query = (sql: string) => Promise<Record<string, unknown>[]>;

/** Where --from points: a network database or a SQLite file. */
export type LegacyLocation = { kind: 'sqlite'; file: string } | { kind: 'network'; dialect: 'postgres' | 'mysql'; url: string };

export function legacyLocation(url: string): LegacyLocation {
  if (url.startsWith('sqlite://')) {
    const file = resolve(url.slice('sqlite://'.length));
    if (!url.slice('sqlite://'.length))
      throw new StoreopError('InvalidSpec', '--from: sqlite:// needs a file, e.g. sqlite://./platform.db');
    return { kind: 'sqlite', file };
  }
  let parsed: ReturnType<typeof parseDatabaseUrl>;
  try {
    parsed = parseDatabaseUrl(url, '--from');
  } catch {
    throw new StoreopError('InvalidSpec', '--from must be a postgres://, mysql:// or sqlite:// URL that names the database', {
      retryable: false,
    });
  }
  if (parsed.engine === 'pglite' || !parsed.endpoint?.database)
    throw new StoreopError('InvalidSpec', '--from must be a postgres://, mysql:// or sqlite:// URL that names the database', {
      retryable: false,
    });
  return { kind: 'network', dialect: parsed.engine === 'mysql' ? 'mysql' : 'postgres', url };
}

function quote(dialect: Dialect, name: string): string {
  const q = dialect === 'mysql' ? '`' : '"';
  return name
    .split('.')
    .map((part) => `${q}${part}${q}`)
    .join('.');
}

/**
 * node:sqlite, without the "experimental" warning Node 22 prints when it loads: a user importing from a
 * SQLite file would otherwise see it before every run. Other warnings pass.
 */
async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('SQLite is an experimental feature')) return;
    (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return await import('node:sqlite');
  } finally {
    process.emitWarning = emit;
  }
}

async function withQuery<T>(location: LegacyLocation, fn: (query: Query, dialect: Dialect) => Promise<T>): Promise<T> {
  if (location.kind === 'sqlite') {
    if (!existsSync(location.file))
      throw new StoreopError('InvalidSpec', `--from: no such SQLite file ${location.file}`, { retryable: false });
    const { DatabaseSync } = await loadSqlite();
    const db = new DatabaseSync(location.file, { readOnly: true });
    try {
      return await fn(async (sql) => db.prepare(sql).all() as Record<string, unknown>[], 'sqlite');
    } finally {
      db.close();
    }
  }
  if (location.dialect === 'postgres') {
    const client = new pg.Client({ connectionString: location.url, connectionTimeoutMillis: 15_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return await fn(async (sql) => (await client.query(sql)).rows, 'postgres');
    } finally {
      await client.end().catch(() => {});
    }
  }
  const connection = await mysql.createConnection({
    uri: location.url,
    connectTimeout: 15_000,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    return await fn(async (sql) => (await connection.query(sql))[0] as Record<string, unknown>[], 'mysql');
  } finally {
    await connection.end().catch(() => {});
  }
}

/** Every store of the legacy database with its config rows, in slug order. */
export async function readLegacyStores(url: string, mapping: Mapping): Promise<LegacyRow[]> {
  const location = legacyLocation(url);
  try {
    return await withQuery(location, async (query, dialect) => {
      const q = (name: string) => quote(dialect, name);
      const s = mapping.stores.columns;
      const optional = (column: string | null, as: string) => (column ? `${q(column)} AS ${q(as)}` : `NULL AS ${q(as)}`);
      const stores = await query(
        `SELECT ${q(s.id)} AS ${q('id')}, ${q(s.slug)} AS ${q('slug')}, ${q(s.name)} AS ${q('name')}, ${optional(s.owner, 'owner')}, ` +
          `${optional(s.plan, 'plan')}, ${q(s.databaseType)} AS ${q('database_type')}, ${optional(s.status, 'status')} ` +
          `FROM ${q(mapping.stores.table)}`,
      );
      const c = mapping.configs.columns;
      const configs = await query(
        `SELECT ${q(c.storeId)} AS ${q('store_id')}, ${optional(c.type, 'type')}, ${q(c.data)} AS ${q('data')}, ${optional(c.active, 'active')} ` +
          `FROM ${q(mapping.configs.table)}`,
      );
      const byStore = new Map<string, LegacyConfig[]>();
      for (const row of configs) {
        const key = String(row.store_id);
        byStore.set(key, [...(byStore.get(key) ?? []), { type: row.type, data: row.data, active: row.active }]);
      }
      return stores
        .map(
          (row): LegacyRow => ({
            id: String(row.id),
            slug: row.slug,
            name: row.name,
            owner: row.owner,
            plan: row.plan,
            databaseType: row.database_type,
            status: row.status,
            configs: byStore.get(String(row.id)) ?? [],
          }),
        )
        .sort((a, b) => String(a.slug).localeCompare(String(b.slug)));
    });
  } catch (error) {
    if (error instanceof StoreopError) throw error;
    // A driver's message may quote the URL: only its shape-redacted form, never the legacy password.
    const password = location.kind === 'network' ? passwordOf(location.url) : undefined;
    const message = redactSecrets(redactCredentials((error as Error).message), [password]);
    throw new StoreopError('ConnectionFailed', `cannot read the stores from --from: ${message}`, {
      retryable: true,
    });
  }
}

function passwordOf(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
