// Reads what a live store database holds, through the catalogs, with queries narrowed to the current
// schema (PostgreSQL) or database (MySQL) and to the tables storeop manages.
import { type Kysely, sql } from 'kysely';
import type { SqlDialect } from './dialect.js';

export interface LiveColumn {
  /** Normalised to the spelling `columnType()` uses: varchar(n), decimal(p, s), timestamptz, ... */
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

export interface LiveTable {
  columns: Map<string, LiveColumn>;
  indexes: Set<string>;
  /** PostgreSQL: indexes a failed CREATE INDEX CONCURRENTLY left invalid (unused by queries; to rebuild). */
  invalidIndexes: Set<string>;
  foreignKeys: Set<string>;
}

export interface LiveSchema {
  /** Every base table in the schema/database, managed or not. */
  tableNames: string[];
  tables: Map<string, LiveTable>;
}

type Row = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: introspection runs on any database
type AnyDb = Kysely<any>;

const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function normalizePostgresType(row: Row): string {
  const dataType = String(row.data_type);
  switch (dataType) {
    case 'character varying':
      return row.character_maximum_length == null ? 'varchar' : `varchar(${num(row.character_maximum_length)})`;
    case 'numeric':
      return row.numeric_precision == null ? 'decimal' : `decimal(${num(row.numeric_precision)}, ${num(row.numeric_scale) ?? 0})`;
    case 'timestamp with time zone':
      return 'timestamptz';
    case 'timestamp without time zone':
      return 'timestamp';
    default:
      return dataType;
  }
}

export function normalizeMysqlType(row: Row): string {
  const dataType = String(row.data_type).toLowerCase();
  const columnType = String(row.column_type).toLowerCase();
  switch (dataType) {
    case 'int':
      return 'integer';
    case 'tinyint':
      return columnType.startsWith('tinyint(1)') ? 'boolean' : 'tinyint';
    case 'varchar':
      return `varchar(${num(row.character_maximum_length)})`;
    case 'decimal':
      return `decimal(${num(row.numeric_precision)}, ${num(row.numeric_scale) ?? 0})`;
    case 'bigint':
    case 'text':
      return dataType;
    default:
      return columnType;
  }
}

function table(live: LiveSchema, name: string): LiveTable {
  let t = live.tables.get(name);
  if (!t) {
    t = { columns: new Map(), indexes: new Set(), invalidIndexes: new Set(), foreignKeys: new Set() };
    live.tables.set(name, t);
  }
  return t;
}

export async function introspect(db: AnyDb, dialect: SqlDialect, managedTables: readonly string[]): Promise<LiveSchema> {
  return dialect === 'postgres' ? introspectPostgres(db, managedTables) : introspectMysql(db, managedTables);
}

async function introspectPostgres(db: AnyDb, managed: readonly string[]): Promise<LiveSchema> {
  const tableRows = await sql<Row>`
    select c.relname as table_name from pg_class c
    where c.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and c.relkind in ('r', 'p')`.execute(db);
  const live: LiveSchema = { tableNames: tableRows.rows.map((r) => String(r.table_name)).sort(), tables: new Map() };
  const present = managed.filter((t) => live.tableNames.includes(t));
  if (present.length === 0) return live;
  const names = sql.join(present.map((t) => sql.lit(t)));
  const columns = await sql<Row>`
    select table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
           is_nullable, column_default, is_identity
    from information_schema.columns
    where table_schema = current_schema() and table_name in (${names})`.execute(db);
  for (const r of columns.rows) {
    table(live, String(r.table_name)).columns.set(String(r.column_name), {
      type: normalizePostgresType(r),
      nullable: r.is_nullable === 'YES',
      hasDefault: r.column_default != null || r.is_identity === 'YES',
    });
  }
  const indexes = await sql<Row>`
    select t.relname as table_name, i.relname as index_name, x.indisvalid as valid
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
    where t.relnamespace = (select oid from pg_namespace where nspname = current_schema()) and t.relname in (${names})`.execute(db);
  for (const r of indexes.rows) {
    const t = table(live, String(r.table_name));
    t.indexes.add(String(r.index_name));
    if (r.valid === false) t.invalidIndexes.add(String(r.index_name));
  }
  const fks = await sql<Row>`
    select t.relname as table_name, c.conname as constraint_name
    from pg_constraint c join pg_class t on t.oid = c.conrelid
    where c.contype = 'f' and c.connamespace = (select oid from pg_namespace where nspname = current_schema()) and t.relname in (${names})`.execute(
    db,
  );
  for (const r of fks.rows) table(live, String(r.table_name)).foreignKeys.add(String(r.constraint_name));
  return live;
}

async function introspectMysql(db: AnyDb, managed: readonly string[]): Promise<LiveSchema> {
  const tableRows = await sql<Row>`
    select table_name as table_name from information_schema.tables
    where table_schema = database() and table_type = 'BASE TABLE'`.execute(db);
  const live: LiveSchema = { tableNames: tableRows.rows.map((r) => String(r.table_name)).sort(), tables: new Map() };
  const present = managed.filter((t) => live.tableNames.includes(t));
  if (present.length === 0) return live;
  const names = sql.join(present.map((t) => sql.lit(t)));
  const columns = await sql<Row>`
    select table_name as table_name, column_name as column_name, data_type as data_type, column_type as column_type,
           character_maximum_length as character_maximum_length, numeric_precision as numeric_precision,
           numeric_scale as numeric_scale, is_nullable as is_nullable, column_default as column_default, extra as extra
    from information_schema.columns
    where table_schema = database() and table_name in (${names})`.execute(db);
  for (const r of columns.rows) {
    const columnDefault = str(r.column_default);
    table(live, String(r.table_name)).columns.set(String(r.column_name), {
      type: normalizeMysqlType(r),
      nullable: r.is_nullable === 'YES',
      // MariaDB reports an absent default as the text NULL.
      hasDefault: (columnDefault !== null && columnDefault !== 'NULL') || String(r.extra).includes('auto_increment'),
    });
  }
  const indexes = await sql<Row>`
    select distinct table_name as table_name, index_name as index_name from information_schema.statistics
    where table_schema = database() and table_name in (${names})`.execute(db);
  for (const r of indexes.rows) table(live, String(r.table_name)).indexes.add(String(r.index_name));
  const fks = await sql<Row>`
    select table_name as table_name, constraint_name as constraint_name from information_schema.table_constraints
    where constraint_schema = database() and constraint_type = 'FOREIGN KEY' and table_name in (${names})`.execute(db);
  for (const r of fks.rows) table(live, String(r.table_name)).foreignKeys.add(String(r.constraint_name));
  return live;
}

export async function tableHasRows(db: AnyDb, tableName: string): Promise<boolean> {
  const result = await sql<Row>`select 1 as one from ${sql.table(tableName)} limit 1`.execute(db);
  return result.rows.length > 0;
}
