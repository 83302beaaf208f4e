// What the pipeline makes a store database hold: one version of a schema definition, the migrations that
// come with it, and the rows a new store starts with. Built from storeop's own schema or from a StoreSchema.
import type { SchemaDef } from './definition.js';
import type { SqlDialect } from './dialect.js';
import type { Migration } from './migrations.js';

export type SeedValue = string | number | boolean | null;

/** Rows inserted once into a new store database (a row that is already there is left alone). */
export interface SeedTable {
  readonly table: string;
  readonly rows: readonly Readonly<Record<string, SeedValue>>[];
}

export interface TargetSchema {
  definition: SchemaDef;
  version: string;
  migrations: readonly Migration[];
  /** A StoreSchema's spec.seed; absent: storeop's default rows (the built-in schema's categories, pages, settings). */
  seed?: readonly SeedTable[];
  /**
   * Dialects this schema cannot target, each with the reason (a migration without statements for it);
   * the pipeline refuses such a store before it changes anything.
   */
  unsupported?: Readonly<Partial<Record<SqlDialect, string>>>;
}
