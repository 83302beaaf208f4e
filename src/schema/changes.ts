// The change rules between two versions of a StoreSchema (expand/contract). Additive changes (a new table,
// a nullable column or one with a default, a new index or foreign key) roll out by themselves; a
// destructive one (a type change, a dropped column, table or index, a new NOT NULL column without
// default) is refused unless a migration of the new version declares it in `handles` and performs it.
// Pure: the controller puts refusals in status, `storeop apply` and `storeop schema plan` print them.
import type { DESTRUCTIVE_CHANGES, StoreSchemaSpec } from '../api/store-schema.js';
import { columnType } from './ddl.js';
import { type ColumnDef, indexName, type SchemaDef } from './definition.js';
import { definitionFromSpec } from './from-spec.js';

export type DestructiveChange = (typeof DESTRUCTIVE_CHANGES)[number];
export type AdditiveChange = 'addTable' | 'addColumn' | 'addIndex';

export interface SchemaChange {
  kind: AdditiveChange | DestructiveChange;
  table: string;
  column?: string;
  /** The index's name (dropIndex, addIndex). */
  index?: string;
  destructive: boolean;
  /** The migration of the new version that declares it (destructive changes only). */
  handledBy?: string;
  /** Destructive and declared by no migration of the new version: the version is refused. */
  refused: boolean;
  /** One line: "products.price: decimal(12, 2) -> decimal(14, 2)". */
  description: string;
}

/** How a column is written in both dialects; two columns with the same shape need no change. */
function shape(column: ColumnDef): string {
  const reference = column.references ? ` references ${column.references.table} on delete ${column.references.onDelete}` : '';
  const defaultValue = column.default !== undefined ? ` default ${JSON.stringify(column.default)}` : '';
  return `${columnType(column, 'postgres')}${column.nullable ? ' null' : ' not null'}${defaultValue}${reference}`;
}

function columnChanges(table: string, from: Readonly<Record<string, ColumnDef>>, to: Readonly<Record<string, ColumnDef>>): SchemaChange[] {
  const changes: SchemaChange[] = [];
  const change = (kind: SchemaChange['kind'], column: string, description: string, destructive: boolean) =>
    changes.push({ kind, table, column, destructive, refused: false, description: `${table}.${column}: ${description}` });
  for (const [column, def] of Object.entries(to)) {
    const before = from[column];
    if (!before) {
      const required = !def.nullable && def.default === undefined && def.kind !== 'id';
      if (required) change('addRequiredColumn', column, `new NOT NULL column without a default (${shape(def)})`, true);
      else change('addColumn', column, `new column ${shape(def)}`, false);
    } else if (shape(before) !== shape(def)) {
      change('changeColumnType', column, `${shape(before)} -> ${shape(def)}`, true);
    }
  }
  for (const column of Object.keys(from)) if (!Object.hasOwn(to, column)) change('dropColumn', column, 'dropped', true);
  return changes;
}

function indexChanges(table: string, from: SchemaDef[string] | undefined, to: SchemaDef[string] | undefined): SchemaChange[] {
  const names = (t: SchemaDef[string] | undefined) => new Set((t?.indexes ?? []).map((i) => indexName(table, i)));
  const before = names(from);
  const after = names(to);
  const added = [...after].filter((n) => !before.has(n));
  const dropped = from && to ? [...before].filter((n) => !after.has(n)) : []; // a dropped table takes its indexes along
  return [
    ...added.map(
      (index): SchemaChange => ({ kind: 'addIndex', table, index, destructive: false, refused: false, description: `new index ${index}` }),
    ),
    ...dropped.map(
      (index): SchemaChange => ({
        kind: 'dropIndex',
        table,
        index,
        destructive: true,
        refused: false,
        description: `index ${index} dropped`,
      }),
    ),
  ];
}

/** Every difference between two definitions, additive and destructive, none yet judged against migrations. */
export function diffDefinitions(from: SchemaDef, to: SchemaDef): SchemaChange[] {
  const changes: SchemaChange[] = [];
  for (const [table, def] of Object.entries(to)) {
    const before = from[table];
    if (!before) changes.push({ kind: 'addTable', table, destructive: false, refused: false, description: `new table ${table}` });
    else changes.push(...columnChanges(table, before.columns, def.columns));
    changes.push(...indexChanges(table, before, def));
  }
  for (const table of Object.keys(from)) {
    if (!Object.hasOwn(to, table))
      changes.push({ kind: 'dropTable', table, destructive: true, refused: false, description: `table ${table} dropped` });
  }
  return changes;
}

/** The migrations that `to` adds: what "a migration of the new version" means. */
function newMigrations(from: StoreSchemaSpec | undefined, to: StoreSchemaSpec): StoreSchemaSpec['migrations'] {
  const known = new Set((from?.migrations ?? []).map((m) => m.version));
  return to.migrations.filter((m) => !known.has(m.version));
}

/**
 * Every difference from one version to the next (`from` undefined: the first version, all additive), each
 * destructive one marked handled (by the new migration that declares it) or refused.
 */
export function classifyChanges(from: StoreSchemaSpec | undefined, to: StoreSchemaSpec): SchemaChange[] {
  const changes = diffDefinitions(from ? definitionFromSpec(from) : {}, definitionFromSpec(to));
  const migrations = newMigrations(from, to);
  return changes.map((change) => {
    if (!change.destructive) return change;
    const migration = migrations.find((m) =>
      (m.handles ?? []).some(
        (h) => h.change === change.kind && h.table === change.table && (h.column === undefined || h.column === change.column),
      ),
    );
    return migration ? { ...change, handledBy: migration.version } : { ...change, refused: true };
  });
}

export function refusedChanges(changes: readonly SchemaChange[]): SchemaChange[] {
  return changes.filter((c) => c.refused);
}

/** One line for status and the CLI: what is refused and how to make it acceptable. */
export function describeRefusals(version: string, refused: readonly SchemaChange[]): string {
  return `version ${version} is refused: ${refused.map((c) => `${c.kind} ${c.description}`).join('; ')}; a destructive change needs a migration of this version that declares it in handles (change, table, column) and performs it`;
}
