// DDL for the store schema, emitted per dialect from the one definition through Kysely's schema builder.
import { type ColumnDefinitionBuilder, type Compilable, type CompiledQuery, sql } from 'kysely';
import { type ColumnDef, foreignKeyName, type IndexDef, indexName, type SchemaDef } from './definition.js';
import { ddlBuilder, type SqlDialect } from './dialect.js';

export interface Statement {
  sql: string;
  /** What the statement does, for plans and progress ("create table products"). */
  description: string;
}

function compile(query: Compilable | CompiledQuery, description: string): Statement {
  const compiled = 'compile' in query ? query.compile() : query;
  if (compiled.parameters.length > 0) throw new Error(`DDL must not carry parameters: ${compiled.sql}`);
  return { sql: compiled.sql, description };
}

/** The column type as storeop writes it in DDL, and as introspection must find it (normalised). */
export function columnType(column: ColumnDef, dialect: SqlDialect): string {
  switch (column.kind) {
    case 'id':
    case 'bigint':
      return 'bigint';
    case 'integer':
      return 'integer';
    case 'string':
      return `varchar(${column.length ?? 255})`;
    case 'text':
      return 'text';
    case 'decimal':
      return `decimal(${column.precision ?? 12}, ${column.scale ?? 2})`;
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return dialect === 'postgres' ? 'timestamptz' : 'datetime(3)';
  }
}

function applyColumn(builder: ColumnDefinitionBuilder, column: ColumnDef, dialect: SqlDialect): ColumnDefinitionBuilder {
  let b = builder;
  if (column.kind === 'id') {
    b = b.primaryKey();
    return dialect === 'postgres' ? b.generatedByDefaultAsIdentity() : b.autoIncrement();
  }
  if (!column.nullable) b = b.notNull();
  if (column.default === 'now') {
    b = b.defaultTo(dialect === 'postgres' ? sql`now()` : sql`current_timestamp(3)`);
  } else if (column.default !== undefined) {
    b = b.defaultTo(sql.lit(column.default));
  }
  return b;
}

export function createTableStatement(schema: SchemaDef, table: string, dialect: SqlDialect): Statement {
  const def = schema[table];
  if (!def) throw new Error(`unknown table ${table}`);
  let builder = ddlBuilder(dialect).schema.createTable(table);
  for (const [name, column] of Object.entries(def.columns)) {
    builder = builder.addColumn(name, sql.raw(columnType(column, dialect)), (c) => applyColumn(c, column, dialect));
  }
  if (dialect === 'mysql') builder = builder.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_unicode_ci`);
  return compile(builder, `create table ${table}`);
}

export function addColumnStatement(schema: SchemaDef, table: string, column: string, dialect: SqlDialect): Statement {
  const def = schema[table]?.columns[column];
  if (!def) throw new Error(`unknown column ${table}.${column}`);
  const builder = ddlBuilder(dialect)
    .schema.alterTable(table)
    .addColumn(column, sql.raw(columnType(def, dialect)), (c) => applyColumn(c, def, dialect));
  return compile(builder, `add column ${table}.${column}`);
}

export function createIndexStatement(table: string, index: IndexDef, dialect: SqlDialect): Statement {
  const name = indexName(table, index);
  let builder = ddlBuilder(dialect)
    .schema.createIndex(name)
    .on(table)
    .columns([...index.columns]);
  if (index.unique) builder = builder.unique();
  return compile(builder, `create ${index.unique ? 'unique index' : 'index'} ${name}`);
}

/**
 * An index on a table that already has rows, built without blocking writes: CONCURRENTLY on PostgreSQL (not
 * inside a transaction), ALGORITHM=INPLACE, LOCK=NONE on MySQL/MariaDB.
 */
export function createIndexOnlineStatement(table: string, index: IndexDef, dialect: SqlDialect): Statement {
  const plain = createIndexStatement(table, index, dialect);
  if (dialect === 'mysql') return { sql: `${plain.sql} algorithm=inplace lock=none`, description: `${plain.description} (online)` };
  const columns = sql.join(index.columns.map((c) => sql.id(c)));
  const query = sql`create ${sql.raw(index.unique ? 'unique index' : 'index')} concurrently ${sql.id(indexName(table, index))} on ${sql.table(table)} (${columns})`;
  return compile(query.compile(ddlBuilder(dialect)), `${plain.description} concurrently`);
}

/** MySQL/MariaDB: a column added to a table that has rows without blocking writes (where the server allows). */
export function addColumnOnlineStatement(schema: SchemaDef, table: string, column: string): Statement {
  const plain = addColumnStatement(schema, table, column, 'mysql');
  return { sql: `${plain.sql}, algorithm=inplace, lock=none`, description: `${plain.description} (online)` };
}

/** PostgreSQL: drops the invalid index a failed CREATE INDEX CONCURRENTLY left, so it can be built again. */
export function dropIndexStatement(name: string, options: { concurrently: boolean }): Statement {
  const query = sql`drop index ${sql.raw(options.concurrently ? 'concurrently ' : '')}if exists ${sql.id(name)}`;
  return compile(query.compile(ddlBuilder('postgres')), `drop invalid index ${name}`);
}

export function addForeignKeyStatement(schema: SchemaDef, table: string, column: string, dialect: SqlDialect): Statement {
  const reference = schema[table]?.columns[column]?.references;
  if (!reference) throw new Error(`${table}.${column} references nothing`);
  const name = foreignKeyName(table, column);
  const builder = ddlBuilder(dialect)
    .schema.alterTable(table)
    .addForeignKeyConstraint(name, [column], reference.table, ['id'], (fk) => fk.onDelete(reference.onDelete));
  return compile(builder, `add foreign key ${name}`);
}
