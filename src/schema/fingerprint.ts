// A fingerprint of what a store database holds, computed by the server in one query: the managed tables'
// columns (type, nullability, default), indexes and constraints, the history rows, and the store role's
// grants. Two equal fingerprints mean the database is as the run that recorded the first one left it, so a
// periodic check compares fingerprints instead of introspecting and re-applying (see provisioning/verify.ts).
import { CompiledQuery } from 'kysely';
import { assertIdentifier } from '../naming.js';
import type { SqlDialect } from './dialect.js';
import { HISTORY_TABLE } from './history.js';
import type { AnyKysely } from './kysely.js';

export interface Fingerprint {
  /** A digest over the sorted catalog lines: equal when nothing storeop manages changed. */
  value: string;
  serverVersion: string;
}

// Table names come from the schema definition and are validated identifiers: inlined as literals, so the
// query has no parameters and PostgreSQL runs it in one simple-protocol round trip.
const tableList = (tables: readonly string[]) => tables.map((t) => `'${assertIdentifier(t, 'table name')}'`).join(', ');

function postgresQuery(tables: readonly string[]): string {
  return `with t as (
  select c.oid, c.relname from pg_class c
  where c.relnamespace = (select oid from pg_namespace where nspname = current_schema())
    and c.relkind in ('r', 'p') and c.relname in (${tableList(tables)})
), catalog_lines as (
  select 't|' || relname as line from t
  union all
  select 'c|' || t.relname || '|' || a.attname || '|' || format_type(a.atttypid, a.atttypmod) || '|' || a.attnotnull::text
         || '|' || a.attidentity::text || '|' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  from t join pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped
  left join pg_attrdef d on d.adrelid = t.oid and d.adnum = a.attnum
  union all
  select 'i|' || t.relname || '|' || pg_get_indexdef(i.indexrelid) from t join pg_index i on i.indrelid = t.oid
  union all
  select 'k|' || t.relname || '|' || k.conname || '|' || pg_get_constraintdef(k.oid) from t join pg_constraint k on k.conrelid = t.oid
  union all
  select 'h|' || kind || '|' || version || '|' || checksum from ${HISTORY_TABLE}
  union all
  select 'r|' || rolname || '|' || rolcanlogin::text || '|' || rolconnlimit::text || '|' || rolsuper::text || '|' || rolcreatedb::text
         || '|' || rolcreaterole::text from pg_roles where rolname = current_user
  union all
  select 'd|' || coalesce(datacl::text, '') || '|' || coalesce(shobj_description(oid, 'pg_database'), '')
  from pg_database where datname = current_database()
  union all
  select 'n|' || pg_get_userbyid(nspowner) || '|' || coalesce(nspacl::text, '') from pg_namespace where nspname = current_schema()
)
select md5(string_agg(line, E'\\n' order by line)) as fingerprint, current_setting('server_version') as server_version from catalog_lines`;
}

// MySQL 8 cuts GROUP_CONCAT at 1 KB by default, so the lines are combined without concatenation: their
// count and the XOR of a 64-bit prefix of each line's SHA-256 (lines are unique: each names its object).
function mysqlQuery(tables: readonly string[]): string {
  const names = tableList(tables);
  const utf8 = (expression: string) => `convert(${expression} using utf8mb4)`;
  return `select count(*) as line_count,
  cast(bit_xor(cast(conv(left(sha2(line, 256), 16), 16, 10) as unsigned)) as char) as fingerprint,
  version() as server_version
from (
  select ${utf8(`concat_ws('|', 't', table_name, table_type, table_comment)`)} as line
  from information_schema.tables where table_schema = database() and table_name in (${names})
  union all
  select ${utf8(`concat_ws('|', 'c', table_name, column_name, column_type, is_nullable, coalesce(column_default, ''), extra)`)}
  from information_schema.columns where table_schema = database() and table_name in (${names})
  union all
  select ${utf8(`concat_ws('|', 'i', table_name, index_name, non_unique, seq_in_index, column_name)`)}
  from information_schema.statistics where table_schema = database() and table_name in (${names})
  union all
  select ${utf8(`concat_ws('|', 'k', table_name, constraint_name, column_name, coalesce(referenced_table_name, ''), coalesce(referenced_column_name, ''))`)}
  from information_schema.key_column_usage where table_schema = database() and table_name in (${names})
  union all
  select ${utf8(`concat_ws('|', 'h', kind, version, checksum)`)} from ${HISTORY_TABLE}
  union all
  select ${utf8(`concat_ws('|', 'p', grantee, privilege_type, is_grantable)`)}
  from information_schema.schema_privileges where table_schema = database()
) catalog_lines`;
}

/** The one statement that fingerprints the current schema (PostgreSQL) or database (MySQL). */
export function fingerprintQuery(dialect: SqlDialect, tables: readonly string[]): string {
  const managed = [...new Set([...tables, HISTORY_TABLE])].sort();
  return dialect === 'postgres' ? postgresQuery(managed) : mysqlQuery(managed);
}

/** The fingerprint out of the query's one row. */
export function parseFingerprint(dialect: SqlDialect, row: Record<string, unknown> | undefined): Fingerprint {
  if (!row || row.fingerprint === null || row.fingerprint === undefined) throw new Error('the fingerprint query returned no row');
  const value = dialect === 'postgres' ? String(row.fingerprint) : `${Number(row.line_count)}:${String(row.fingerprint)}`;
  return { value, serverVersion: String(row.server_version ?? 'unknown') };
}

/** Fingerprints through a Kysely session (the pipeline's, after it synced the schema). */
export async function readFingerprint(db: AnyKysely, dialect: SqlDialect, tables: readonly string[]): Promise<Fingerprint> {
  const result = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(fingerprintQuery(dialect, tables)));
  return parseFingerprint(dialect, result.rows[0]);
}
