// Versioned migrations for what a schema diff cannot express (backfills, renames): ordered, checksummed,
// run once per database. Editing a migration after it was applied is detected and refused.
import { createHash } from 'node:crypto';
import type { DESTRUCTIVE_CHANGES } from '../api/store-schema.js';
import type { SqlDialect } from './dialect.js';

/** A destructive change of its version that a migration performs itself (a StoreSchema's `handles`). */
export interface HandledChange {
  readonly change: (typeof DESTRUCTIVE_CHANGES)[number];
  readonly table: string;
  readonly column?: string;
}

export interface Migration {
  /** Sortable and unique, e.g. "0001". */
  readonly version: string;
  readonly description: string;
  /** Statements per dialect; PGlite runs the PostgreSQL ones. */
  readonly up: Readonly<Record<SqlDialect, readonly string[]>>;
  /** Not part of the checksum: what the statements do, for the plan and the change rules. */
  readonly handles?: readonly HandledChange[];
}

export function migrationChecksum(migration: Migration): string {
  return createHash('sha256')
    .update(JSON.stringify({ version: migration.version, up: migration.up }))
    .digest('hex');
}

/** storeop's own migrations, applied after the declarative schema sync; none are needed yet. */
export const STORE_MIGRATIONS: readonly Migration[] = [];
