// Default rows every new store starts with. Seeding runs once per seed version (recorded in the history),
// inserts only rows that are missing, and never overwrites a row a user has changed.

import { createHash } from 'node:crypto';
import { DEFAULT_SETTINGS } from '../api/store.js';
import type { AnyKysely } from '../engines/engine.js';
import type { SchemaDef } from '../schema/definition.js';
import type { SqlDialect } from '../schema/dialect.js';
import { tableHasRows } from '../schema/introspect.js';
import type { SeedTable } from '../schema/target-schema.js';

export const SEED_VERSION = '2026.11.1';

export interface SeedSettings {
  /** ISO 4217 code, e.g. USD. */
  currency?: string;
  /** BCP 47 tag, e.g. en-US. */
  locale?: string;
  /** Shown in the store-level SEO defaults. */
  displayName?: string;
  /**
   * Seed only tables that hold no rows yet (storeop import: a legacy store's own categories or pages are
   * its data, to which storeop adds nothing).
   */
  onlyEmptyTables?: boolean;
}

const PAGES = [
  { slug: 'home', title: 'Home', body: 'Welcome to our store.' },
  { slug: 'about', title: 'About us', body: 'Tell your customers who you are.' },
  { slug: 'contact', title: 'Contact', body: 'How customers can reach you.' },
  { slug: 'privacy', title: 'Privacy policy', body: 'How you handle customer data.' },
];

async function insertMissing(
  db: AnyKysely,
  dialect: SqlDialect,
  table: string,
  keys: string[],
  rows: Record<string, unknown>[],
  onlyEmptyTables = false,
): Promise<number> {
  if (onlyEmptyTables && (await tableHasRows(db, table))) return 0;
  const query = db.insertInto(table).values(rows);
  const result =
    dialect === 'postgres'
      ? await query.onConflict((oc) => oc.columns(keys).doNothing()).executeTakeFirst()
      : await query.orIgnore().executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}

/** Inserts the default rows that are missing; returns how many rows were inserted. */
export async function seedStore(db: AnyKysely, dialect: SqlDialect, slug: string, settings: SeedSettings): Promise<number> {
  const now = new Date();
  let inserted = 0;
  const onlyEmpty = settings.onlyEmptyTables ?? false;
  inserted += await insertMissing(db, dialect, 'categories', ['slug'], [{ name: 'All products', slug: 'all', position: 0 }], onlyEmpty);
  inserted += await insertMissing(
    db,
    dialect,
    'cms_pages',
    ['slug'],
    PAGES.map((p) => ({ ...p, status: 'published', published_at: now })),
    onlyEmpty,
  );
  const title = settings.displayName ?? slug;
  inserted += await insertMissing(
    db,
    dialect,
    'seo_settings',
    ['scope', 'entity_id'],
    [{ scope: 'store', entity_id: 0, meta_title: title, meta_description: `${title}: online store`, robots: 'index,follow' }],
    onlyEmpty,
  );
  inserted += await insertMissing(
    db,
    dialect,
    'store_settings',
    ['key'],
    [
      { key: 'currency', value: settings.currency ?? DEFAULT_SETTINGS.currency },
      { key: 'locale', value: settings.locale ?? DEFAULT_SETTINGS.locale },
    ],
    onlyEmpty,
  );
  return inserted;
}

/** What a StoreSchema's seed rows are recorded under in the history: equal rows, equal checksum. */
export function seedChecksum(seed: readonly SeedTable[]): string {
  return createHash('sha256').update(JSON.stringify(seed)).digest('hex');
}

/**
 * Inserts a StoreSchema's spec.seed rows (a row whose unique key is already taken is skipped); returns how
 * many were inserted. Values were checked against their columns (schema/from-spec.ts); a timestamp "now" is
 * the time of seeding.
 */
export async function seedRows(
  db: AnyKysely,
  dialect: SqlDialect,
  definition: SchemaDef,
  seed: readonly SeedTable[],
  onlyEmptyTables = false,
): Promise<number> {
  const now = new Date();
  let inserted = 0;
  for (const { table, rows } of seed) {
    if (onlyEmptyTables && (await tableHasRows(db, table))) continue;
    const columns = definition[table]?.columns ?? {};
    const values = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([name, value]) => [name, columns[name]?.kind === 'timestamp' && value === 'now' ? now : value]),
      ),
    );
    const query = db.insertInto(table).values(values);
    const result =
      dialect === 'postgres'
        ? await query.onConflict((oc) => oc.doNothing()).executeTakeFirst()
        : await query.orIgnore().executeTakeFirst();
    inserted += Number(result.numInsertedOrUpdatedRows ?? 0);
  }
  return inserted;
}
