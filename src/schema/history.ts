// The history table in every store database: what storeop applied there, when, and how long it took.
import { type CreateTableBuilder, type SchemaModule, sql } from 'kysely';
import type { SqlDialect } from './dialect.js';
import type { AnyKysely } from './kysely.js';

export const HISTORY_TABLE = 'storeop_schema_history';

export type HistoryKind = 'schema' | 'migration' | 'seed';

export interface HistoryEntry {
  kind: HistoryKind;
  version: string;
  checksum: string;
  description: string;
  applied_at: Date;
  duration_ms: number;
}

export async function ensureHistoryTable(db: AnyKysely, dialect: SqlDialect): Promise<void> {
  await createHistoryTable(db.schema, dialect).execute();
}

/**
 * CREATE TABLE IF NOT EXISTS of the history table, as a builder: the MySQL engine compiles it to create the
 * table as the admin (in `schema.withSchema(database)`) and marks the table with the owning store.
 */
// biome-ignore lint/suspicious/noExplicitAny: the builder's column types are not tracked
export function createHistoryTable(schema: SchemaModule, dialect: SqlDialect): CreateTableBuilder<any, any> {
  return schema
    .createTable(HISTORY_TABLE)
    .ifNotExists()
    .addColumn('id', 'bigint', (c) =>
      dialect === 'postgres' ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
    )
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('version', 'varchar(64)', (c) => c.notNull())
    .addColumn('checksum', 'varchar(64)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('applied_at', dialect === 'postgres' ? 'timestamptz' : sql`datetime(3)`, (c) =>
      c.notNull().defaultTo(dialect === 'postgres' ? sql`now()` : sql`current_timestamp(3)`),
    )
    .addColumn('duration_ms', 'integer', (c) => c.notNull());
}

export async function readHistory(db: AnyKysely): Promise<HistoryEntry[]> {
  const rows = await db
    .selectFrom(HISTORY_TABLE)
    .select(['kind', 'version', 'checksum', 'description', 'applied_at', 'duration_ms'])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, duration_ms: Number(r.duration_ms) }) as HistoryEntry);
}

export async function recordHistory(db: AnyKysely, entry: Omit<HistoryEntry, 'applied_at'>): Promise<void> {
  await db.insertInto(HISTORY_TABLE).values(entry).execute();
}
