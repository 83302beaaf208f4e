// STAND-IN until part 1 of issue 13 (branch wt-schema) lands: the same names as its src/schema/from-spec.ts,
// default-spec.ts and changes.ts, with just enough behaviour for the rollout. Replaced by imports of those
// modules at the merge; nothing here is meant to stay.
import { type StoreSchemaSpec, storeSchemaSpec } from '../../api/store-schema.js';
import type { TargetSchema } from '../../provisioning/pipeline.js';
import type { SchemaDef } from '../../schema/definition.js';
import { STORE_MIGRATIONS } from '../../schema/migrations.js';
import { STORE_SCHEMA_VERSION, storeSchema } from '../../schema/store-schema.js';

export function schemaFromSpec(spec: StoreSchemaSpec): TargetSchema {
  return {
    definition: spec.tables as SchemaDef,
    version: spec.version,
    migrations: spec.migrations.map((m) => ({
      version: m.version,
      description: m.description,
      up: { postgres: m.up.postgres ?? [], mysql: m.up.mysql ?? [] },
    })),
  };
}

export function defaultStoreSchemaSpec(): StoreSchemaSpec {
  return storeSchemaSpec.parse({
    version: STORE_SCHEMA_VERSION,
    tables: JSON.parse(JSON.stringify(storeSchema)),
    migrations: STORE_MIGRATIONS.map((m) => ({ version: m.version, description: m.description, up: { ...m.up } })),
  });
}

export interface SchemaChange {
  change: string;
  table: string;
  column?: string;
  destructive: boolean;
}

/** Changes from one version's tables to the next; the destructive ones not handled by a migration are refused. */
export function classifyChanges(from: StoreSchemaSpec | undefined, to: StoreSchemaSpec): SchemaChange[] {
  if (!from) return [];
  const changes: SchemaChange[] = [];
  for (const [table, def] of Object.entries(from.tables)) {
    const next = to.tables[table];
    if (!next) {
      changes.push({ change: 'dropTable', table, destructive: true });
      continue;
    }
    for (const [column, col] of Object.entries(def.columns)) {
      const after = next.columns[column];
      if (!after) changes.push({ change: 'dropColumn', table, column, destructive: true });
      else if (after.kind !== col.kind) changes.push({ change: 'changeColumnType', table, column, destructive: true });
    }
    for (const [column, col] of Object.entries(next.columns)) {
      if (def.columns[column]) continue;
      const required = !col.nullable && col.default === undefined && col.kind !== 'id';
      changes.push({ change: required ? 'addRequiredColumn' : 'addColumn', table, column, destructive: required });
    }
  }
  const handled = to.migrations.flatMap((m) => m.handles ?? []);
  return changes.map((c) =>
    handled.some((h) => h.change === c.change && h.table === c.table && (h.column ?? undefined) === c.column)
      ? { ...c, destructive: false }
      : c,
  );
}

export function refusedChanges(changes: readonly SchemaChange[]): SchemaChange[] {
  return changes.filter((c) => c.destructive);
}

export function describeRefusals(version: string, refused: readonly SchemaChange[]): string {
  const list = refused.map((c) => `${c.change} ${c.table}${c.column ? `.${c.column}` : ''}`).join(', ');
  return `version ${version} is refused: ${list} without a migration that handles it (declare it in spec.migrations[].handles)`;
}
