// A StoreSchema's spec as the pipeline's TargetSchema, after the cross-checks zod cannot make on one field:
// references and index columns exist, no foreign-key cycle, defaults fit their columns, names fit the
// servers' identifier limits, migrations ordered and unique. Pure: no I/O. Every problem names its field.
import type { FieldIssue } from '../api/common.js';
import { DEFAULT_STORE_SCHEMA_NAME, type StoreSchemaSpec } from '../api/store-schema.js';
import { StoreopError } from '../errors.js';
import {
  type ColumnDef,
  foreignKeyName,
  type IndexDef,
  indexName,
  type SchemaDef,
  type TableDef,
  tablesInDependencyOrder,
} from './definition.js';
import type { SqlDialect } from './dialect.js';
import { HISTORY_TABLE } from './history.js';
import type { Migration } from './migrations.js';
import type { SeedTable, SeedValue, TargetSchema } from './target-schema.js';

type ColumnSpec = StoreSchemaSpec['tables'][string]['columns'][string];

/** PostgreSQL truncates identifiers beyond 63 bytes (MySQL refuses beyond 64): a longer generated name would collide. */
const MAX_IDENTIFIER = 63;
const DIALECT_NAMES: Record<SqlDialect, string> = { postgres: 'PostgreSQL and PGlite', mysql: 'MySQL/MariaDB' };

/** The column in the vocabulary of definition.ts, its keys in one order so that equal columns hash equally. */
function columnDef(spec: ColumnSpec): ColumnDef {
  return {
    kind: spec.kind,
    ...(spec.length !== undefined ? { length: spec.length } : {}),
    ...(spec.precision !== undefined ? { precision: spec.precision } : {}),
    ...(spec.kind === 'decimal' || spec.scale !== undefined ? { scale: spec.scale ?? 0 } : {}),
    ...(spec.nullable !== undefined ? { nullable: spec.nullable } : {}),
    ...(spec.default !== undefined ? { default: spec.default } : {}),
    ...(spec.references ? { references: { table: spec.references.table, onDelete: spec.references.onDelete } } : {}),
  };
}

export function definitionFromSpec(spec: Pick<StoreSchemaSpec, 'tables'>): SchemaDef {
  const definition: Record<string, TableDef> = {};
  for (const [table, t] of Object.entries(spec.tables)) {
    const columns = Object.fromEntries(Object.entries(t.columns).map(([name, c]) => [name, columnDef(c)]));
    const indexes = t.indexes?.map((i): IndexDef => ({ columns: [...i.columns], ...(i.unique !== undefined ? { unique: i.unique } : {}) }));
    definition[table] = { columns, ...(indexes ? { indexes } : {}) };
  }
  return definition;
}

/** Whether `value` is a literal the column can hold (undefined when it fits, else why not). */
export function defaultProblem(column: ColumnDef, value: SeedValue, what = 'default'): string | undefined {
  if (value === null) return column.nullable ? undefined : `${what} is null but the column is not nullable`;
  switch (column.kind) {
    case 'id':
      return `an id column takes no ${what}`;
    case 'integer':
    case 'bigint': {
      const limit = column.kind === 'integer' ? 2 ** 31 : 2 ** 53;
      return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < limit
        ? undefined
        : `${what} must be an integer that fits a${column.kind === 'integer' ? 'n integer' : ' bigint'} column`;
    }
    case 'decimal': {
      const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
      const match = /^-?(\d+)(?:\.(\d+))?$/.exec(text);
      const precision = column.precision ?? 12;
      const scale = column.scale ?? 2;
      if (!match) return `${what} must be a decimal number such as "0.00"`;
      const whole = (match[1] ?? '').replace(/^0+(?=\d)/, '');
      const fraction = match[2] ?? '';
      return fraction.length > scale || whole.length > precision - scale
        ? `${what} ${text} does not fit decimal(${precision}, ${scale})`
        : undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${what} must be true or false`;
    case 'string':
    case 'text':
      if (typeof value !== 'string') return `${what} must be a string`;
      return column.kind === 'string' && column.length !== undefined && [...value].length > column.length
        ? `${what} is longer than the column's length ${column.length}`
        : undefined;
    case 'timestamp':
      return value === 'now' || (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/.test(value))
        ? undefined
        : `${what} must be "now" or a date-time such as "2026-01-31 12:00:00"`;
  }
}

function columnProblems(table: string, name: string, column: ColumnDef, tables: StoreSchemaSpec['tables']): FieldIssue[] {
  const path = `spec.tables.${table}.columns.${name}`;
  const problems: FieldIssue[] = [];
  const add = (field: string, message: string) => problems.push({ path: field ? `${path}.${field}` : path, message });
  if (column.kind === 'id' && name !== 'id') add('kind', 'only the column named id may be of kind id (the primary key)');
  if (column.kind === 'id' && column.nullable) add('nullable', 'the id column cannot be nullable');
  if (column.kind === 'string' && column.length === undefined) add('length', 'a string column needs a length');
  if (column.kind !== 'string' && column.length !== undefined) add('length', 'only a string column has a length');
  if (column.kind === 'decimal' && column.precision === undefined) add('precision', 'a decimal column needs a precision');
  if (column.kind !== 'decimal' && (column.precision !== undefined || column.scale !== undefined))
    add(column.precision !== undefined ? 'precision' : 'scale', 'only a decimal column has a precision and scale');
  if (column.kind === 'decimal' && column.precision !== undefined && (column.scale ?? 0) > column.precision)
    add('scale', `scale ${column.scale} is larger than precision ${column.precision}`);
  if (column.default !== undefined) {
    const problem = defaultProblem(column, column.default);
    if (problem) add('default', problem);
  }
  const ref = column.references;
  if (ref) {
    const target = tables[ref.table];
    if (!target) add('references.table', `table ${ref.table} is not in spec.tables`);
    else if (target.columns.id?.kind !== 'id') add('references.table', `table ${ref.table} has no id column to reference`);
    if (column.kind !== 'bigint') add('kind', 'a column that references a table must be of kind bigint (the kind of an id)');
    if (ref.onDelete === 'set null' && !column.nullable) add('references.onDelete', '"set null" needs a nullable column');
    if (foreignKeyName(table, name).length > MAX_IDENTIFIER)
      add('', `the foreign key name ${foreignKeyName(table, name)} is longer than ${MAX_IDENTIFIER} characters`);
  }
  return problems;
}

function tableProblems(table: string, spec: StoreSchemaSpec['tables'][string], tables: StoreSchemaSpec['tables']): FieldIssue[] {
  const path = `spec.tables.${table}`;
  const problems: FieldIssue[] = [];
  if (table === HISTORY_TABLE) problems.push({ path, message: `${HISTORY_TABLE} is storeop's own table` });
  if (spec.columns.id?.kind !== 'id') problems.push({ path: `${path}.columns.id`, message: 'every table needs a column id of kind id' });
  for (const [name, column] of Object.entries(spec.columns)) problems.push(...columnProblems(table, name, columnDef(column), tables));
  const names = new Set<string>();
  spec.indexes?.forEach((index, i) => {
    index.columns.forEach((column, j) => {
      if (!Object.hasOwn(spec.columns, column))
        problems.push({ path: `${path}.indexes.${i}.columns.${j}`, message: `column ${column} is not in ${path}.columns` });
    });
    const name = indexName(table, index);
    if (name.length > MAX_IDENTIFIER)
      problems.push({ path: `${path}.indexes.${i}`, message: `the index name ${name} is longer than ${MAX_IDENTIFIER} characters` });
    if (names.has(name)) problems.push({ path: `${path}.indexes.${i}`, message: `declares index ${name} twice` });
    names.add(name);
  });
  return problems;
}

function cycleProblems(spec: StoreSchemaSpec): FieldIssue[] {
  const known = Object.fromEntries(
    Object.entries(spec.tables).map(([table, t]) => [
      table,
      {
        columns: Object.fromEntries(
          Object.entries(t.columns)
            .filter(([, c]) => !c.references || spec.tables[c.references.table])
            .map(([n, c]) => [n, columnDef(c)]),
        ),
      },
    ]),
  );
  try {
    tablesInDependencyOrder(known);
    return [];
  } catch (error) {
    return [{ path: 'spec.tables', message: `${(error as Error).message}: a foreign key cycle cannot be created table by table` }];
  }
}

function migrationProblems(spec: StoreSchemaSpec): FieldIssue[] {
  const problems: FieldIssue[] = [];
  const seen = new Set<string>();
  spec.migrations.forEach((migration, i) => {
    const path = `spec.migrations.${i}`;
    if (seen.has(migration.version)) problems.push({ path: `${path}.version`, message: `version ${migration.version} is used twice` });
    const previous = spec.migrations[i - 1];
    if (previous && previous.version.localeCompare(migration.version) >= 0)
      problems.push({ path: `${path}.version`, message: `must sort after the migration before it (${previous.version})` });
    seen.add(migration.version);
    if (!migration.up.postgres?.length && !migration.up.mysql?.length)
      problems.push({ path: `${path}.up`, message: 'needs statements for postgres, mysql or both' });
    migration.handles?.forEach((handled, j) => {
      const needsColumn = handled.change !== 'dropTable' && handled.change !== 'dropIndex';
      if (needsColumn && handled.column === undefined)
        problems.push({ path: `${path}.handles.${j}.column`, message: `${handled.change} names a column` });
      const stays = handled.change === 'changeColumnType' || handled.change === 'addRequiredColumn';
      if (stays && handled.column !== undefined && !spec.tables[handled.table]?.columns[handled.column])
        problems.push({
          path: `${path}.handles.${j}`,
          message: `${handled.change} of ${handled.table}.${handled.column}: the column is not in spec.tables`,
        });
    });
  });
  return problems;
}

function seedProblems(spec: StoreSchemaSpec, definition: SchemaDef): FieldIssue[] {
  const problems: FieldIssue[] = [];
  spec.seed?.forEach((seed, i) => {
    const table = definition[seed.table];
    if (!table) {
      problems.push({ path: `spec.seed.${i}.table`, message: `table ${seed.table} is not in spec.tables` });
      return;
    }
    const required = Object.entries(table.columns)
      .filter(([, c]) => c.kind !== 'id' && !c.nullable && c.default === undefined)
      .map(([name]) => name);
    seed.rows.forEach((row, j) => {
      const path = `spec.seed.${i}.rows.${j}`;
      for (const name of required)
        if (!Object.hasOwn(row, name)) problems.push({ path, message: `needs a value for ${seed.table}.${name}` });
      for (const [name, value] of Object.entries(row)) {
        const column = table.columns[name];
        const problem = column ? defaultProblem(column, value, 'value') : `column ${name} is not in ${seed.table}`;
        if (problem) problems.push({ path: `${path}.${name}`, message: problem });
      }
    });
  });
  return problems;
}

/** Every problem of a StoreSchema spec that zod's per-field checks cannot see; empty when it is sound. */
export function specProblems(spec: StoreSchemaSpec): FieldIssue[] {
  const tableIssues = Object.entries(spec.tables).flatMap(([table, t]) => tableProblems(table, t, spec.tables));
  if (Object.keys(spec.tables).length === 0) tableIssues.push({ path: 'spec.tables', message: 'declares no table' });
  return [...tableIssues, ...cycleProblems(spec), ...migrationProblems(spec), ...seedProblems(spec, definitionFromSpec(spec))];
}

/** The dialects a migration has no statements for, and so the engines the schema cannot target. */
function unsupportedDialects(migrations: StoreSchemaSpec['migrations']): TargetSchema['unsupported'] {
  const unsupported: Partial<Record<SqlDialect, string>> = {};
  for (const dialect of ['postgres', 'mysql'] as const) {
    const missing = migrations.filter((m) => !m.up[dialect]?.length).map((m) => m.version);
    if (missing.length)
      unsupported[dialect] =
        `migration(s) ${missing.join(', ')} have no ${dialect} statements, so this schema cannot target ${DIALECT_NAMES[dialect]}`;
  }
  return unsupported;
}

export function migrationsFromSpec(migrations: StoreSchemaSpec['migrations']): Migration[] {
  return migrations.map((m) => ({
    version: m.version,
    description: m.description,
    up: { postgres: m.up.postgres ?? [], mysql: m.up.mysql ?? [] },
    ...(m.handles?.length ? { handles: m.handles.map((h) => ({ ...h })) } : {}),
  }));
}

/**
 * The TargetSchema of a StoreSchema (its metadata.name and validated spec). InvalidSpec naming every field
 * that fails a cross-check. `storeop-default` without spec.seed keeps storeop's default rows.
 */
export function schemaFromSpec(spec: StoreSchemaSpec, name?: string): TargetSchema {
  const problems = specProblems(spec);
  if (problems.length)
    throw new StoreopError('InvalidSpec', problems.map((p) => `${p.path}: ${p.message}`).join('; '), { retryable: false });
  const unsupported = unsupportedDialects(spec.migrations);
  const keepsDefaultRows = name === DEFAULT_STORE_SCHEMA_NAME && spec.seed === undefined;
  return {
    definition: definitionFromSpec(spec),
    version: spec.version,
    migrations: migrationsFromSpec(spec.migrations),
    ...(keepsDefaultRows ? {} : { seed: (spec.seed ?? []).map((s): SeedTable => ({ table: s.table, rows: s.rows })) }),
    ...(Object.keys(unsupported ?? {}).length ? { unsupported } : {}),
  };
}
