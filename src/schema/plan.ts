// Plan = the live schema diffed against the target. Only safe, additive changes are planned; anything
// destructive or ambiguous becomes a conflict that names table, column, found and expected.
import { createHash } from 'node:crypto';
import {
  addColumnOnlineStatement,
  addColumnStatement,
  addForeignKeyStatement,
  columnType,
  createIndexOnlineStatement,
  createIndexStatement,
  createTableStatement,
  dropIndexStatement,
  type Statement,
} from './ddl.js';
import { type ColumnDef, foreignKeyName, indexName, type SchemaDef, tablesInDependencyOrder } from './definition.js';
import type { SqlDialect } from './dialect.js';
import type { LiveColumn, LiveSchema } from './introspect.js';

export type ChangeKind = 'createTable' | 'addColumn' | 'createIndex' | 'addForeignKey';

export interface PlannedChange {
  kind: ChangeKind;
  table: string;
  /** The column, index or constraint name; the table name for createTable. */
  name: string;
  statement: Statement;
  /**
   * The same change made without blocking writes, for a table that already exists (an index built
   * concurrently / in place, a MySQL column added in place); engines that can run it choose it.
   */
  online?: Statement;
  /** An invalid leftover index of the same name (a failed concurrent build) dropped first: plain and online. */
  repair?: { statement: Statement; online: Statement };
}

export interface PlanOptions {
  /**
   * Columns ("table.column") that a pending migration changes or adds itself (its `handles`): the plan
   * neither adds them nor reports their type as a conflict; the pipeline checks them after the migration.
   */
  leaveToMigrations?: ReadonlySet<string>;
}

export interface SchemaConflict {
  table: string;
  column?: string;
  found: string;
  expected: string;
  reason: string;
}

export interface SchemaPlan {
  dialect: SqlDialect;
  changes: PlannedChange[];
  conflicts: SchemaConflict[];
  existingTables: string[];
  missingTables: string[];
}

export function schemaHash(schema: SchemaDef, version: string): string {
  return createHash('sha256').update(JSON.stringify({ version, schema })).digest('hex');
}

/** Whether a live column can serve as the target column without any change. */
function compatible(found: LiveColumn, expected: ColumnDef, dialect: SqlDialect): boolean {
  const want = columnType(expected, dialect);
  if (found.type === want) return true;
  const varchar = /^varchar\((\d+)\)$/;
  const f = varchar.exec(found.type);
  const w = varchar.exec(want);
  if (f && w) return Number(f[1]) >= Number(w[1]); // a longer varchar holds everything the target does
  if (want === 'text' && ['mediumtext', 'longtext'].includes(found.type)) return true;
  if (want === 'timestamptz' && found.type === 'timestamp') return false;
  return false;
}

export async function planSchema(
  schema: SchemaDef,
  live: LiveSchema,
  dialect: SqlDialect,
  hasRows: (table: string) => Promise<boolean>,
  options: PlanOptions = {},
): Promise<SchemaPlan> {
  const ordered = tablesInDependencyOrder(schema);
  const existingTables = ordered.filter((t) => live.tables.has(t) || live.tableNames.includes(t));
  const missingTables = ordered.filter((t) => !existingTables.includes(t));
  const creates: PlannedChange[] = [];
  const columns: PlannedChange[] = [];
  const indexes: PlannedChange[] = [];
  const foreignKeys: PlannedChange[] = [];
  const conflicts: SchemaConflict[] = [];

  for (const table of ordered) {
    const def = schema[table];
    if (!def) continue;
    const found = live.tables.get(table);
    if (!found) {
      creates.push({ kind: 'createTable', table, name: table, statement: createTableStatement(schema, table, dialect) });
    } else {
      for (const [column, columnDef] of Object.entries(def.columns)) {
        if (options.leaveToMigrations?.has(`${table}.${column}`)) continue;
        const liveColumn = found.columns.get(column);
        if (liveColumn) {
          if (!compatible(liveColumn, columnDef, dialect)) {
            conflicts.push({
              table,
              column,
              found: liveColumn.type,
              expected: columnType(columnDef, dialect),
              reason: 'column has another type; storeop never changes a column type automatically',
            });
          }
          continue;
        }
        if (columnDef.kind === 'id') {
          conflicts.push({ table, column, found: 'missing', expected: 'primary key id', reason: 'table has no id primary key column' });
          continue;
        }
        if (!columnDef.nullable && columnDef.default === undefined && (await hasRows(table))) {
          conflicts.push({
            table,
            column,
            found: 'missing',
            expected: `${columnType(columnDef, dialect)} not null`,
            reason: 'a NOT NULL column without a default cannot be added to a table that has rows',
          });
          continue;
        }
        columns.push({
          kind: 'addColumn',
          table,
          name: column,
          statement: addColumnStatement(schema, table, column, dialect),
          ...(dialect === 'mysql' ? { online: addColumnOnlineStatement(schema, table, column) } : {}),
        });
      }
    }
    for (const index of def.indexes ?? []) {
      const name = indexName(table, index);
      const invalid = found?.invalidIndexes.has(name) ?? false;
      if (found?.indexes.has(name) && !invalid) continue;
      indexes.push({
        kind: 'createIndex',
        table,
        name,
        statement: createIndexStatement(table, index, dialect),
        // An index on a new table is built with the table, in the transaction; on a table with rows, online.
        ...(found ? { online: createIndexOnlineStatement(table, index, dialect) } : {}),
        ...(invalid
          ? {
              repair: {
                statement: dropIndexStatement(name, { concurrently: false }),
                online: dropIndexStatement(name, { concurrently: true }),
              },
            }
          : {}),
      });
    }
    for (const [column, columnDef] of Object.entries(def.columns)) {
      if (!columnDef.references) continue;
      const name = foreignKeyName(table, column);
      if (found?.foreignKeys.has(name)) continue;
      foreignKeys.push({ kind: 'addForeignKey', table, name, statement: addForeignKeyStatement(schema, table, column, dialect) });
    }
  }
  return { dialect, changes: [...creates, ...columns, ...indexes, ...foreignKeys], conflicts, existingTables, missingTables };
}

export function describeConflicts(conflicts: readonly SchemaConflict[]): string {
  return conflicts
    .map((c) => `${c.table}${c.column ? `.${c.column}` : ''}: found ${c.found}, expected ${c.expected} (${c.reason})`)
    .join('; ');
}
