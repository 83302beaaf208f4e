// The store database schema: one definition, from which storeop emits PostgreSQL, MySQL/MariaDB and
// PGlite DDL and the app gets `Kysely<StoreDB>` row types. Bump STORE_SCHEMA_VERSION on every change.
import { id, money, type SchemaDef, timestamps } from './definition.js';

export const STORE_SCHEMA_VERSION = '2026.11.1';

const slug = { kind: 'string', length: 191 } as const;
const name = { kind: 'string', length: 255 } as const;
const optionalText = { kind: 'text', nullable: true } as const;
const optionalTime = { kind: 'timestamp', nullable: true } as const;
const position = { kind: 'integer', default: 0 } as const;
const active = { kind: 'boolean', default: true } as const;
const url = { kind: 'string', length: 2048, nullable: true } as const;

export const storeSchema = {
  categories: {
    columns: {
      id,
      parent_id: { kind: 'bigint', nullable: true, references: { table: 'categories', onDelete: 'set null' } },
      name,
      slug,
      description: optionalText,
      position,
      is_active: active,
      ...timestamps,
    },
    indexes: [{ columns: ['slug'], unique: true }, { columns: ['parent_id'] }],
  },
  products: {
    columns: {
      id,
      category_id: { kind: 'bigint', nullable: true, references: { table: 'categories', onDelete: 'set null' } },
      sku: { kind: 'string', length: 64 },
      slug,
      name,
      description: optionalText,
      status: { kind: 'string', length: 20, default: 'draft' },
      price: money(),
      compare_at_price: money({ nullable: true }),
      cost: money({ nullable: true }),
      weight_grams: { kind: 'integer', nullable: true },
      is_active: active,
      ...timestamps,
    },
    indexes: [
      { columns: ['sku'], unique: true },
      { columns: ['slug'], unique: true },
      { columns: ['category_id'] },
      { columns: ['status'] },
    ],
  },
  customers: {
    columns: {
      id,
      email: { kind: 'string', length: 191 },
      first_name: { kind: 'string', length: 100, nullable: true },
      last_name: { kind: 'string', length: 100, nullable: true },
      phone: { kind: 'string', length: 32, nullable: true },
      accepts_marketing: { kind: 'boolean', default: false },
      ...timestamps,
    },
    indexes: [{ columns: ['email'], unique: true }],
  },
  orders: {
    columns: {
      id,
      order_number: { kind: 'string', length: 32 },
      customer_id: { kind: 'bigint', nullable: true, references: { table: 'customers', onDelete: 'set null' } },
      status: { kind: 'string', length: 20, default: 'pending' },
      currency: { kind: 'string', length: 3, default: 'USD' },
      subtotal: money(),
      discount_total: money(),
      tax_total: money(),
      shipping_total: money(),
      total: money(),
      placed_at: optionalTime,
      notes: optionalText,
      ...timestamps,
    },
    indexes: [{ columns: ['order_number'], unique: true }, { columns: ['customer_id', 'created_at'] }, { columns: ['status'] }],
  },
  order_items: {
    columns: {
      id,
      order_id: { kind: 'bigint', references: { table: 'orders', onDelete: 'cascade' } },
      product_id: { kind: 'bigint', nullable: true, references: { table: 'products', onDelete: 'set null' } },
      sku: { kind: 'string', length: 64 },
      name,
      quantity: { kind: 'integer', default: 1 },
      unit_price: money(),
      total: money(),
      ...timestamps,
    },
    indexes: [{ columns: ['order_id'] }, { columns: ['product_id'] }],
  },
  inventory: {
    columns: {
      id,
      product_id: { kind: 'bigint', references: { table: 'products', onDelete: 'cascade' } },
      location: { kind: 'string', length: 64, default: 'default' },
      quantity: { kind: 'integer', default: 0 },
      reserved: { kind: 'integer', default: 0 },
      reorder_level: { kind: 'integer', default: 0 },
      ...timestamps,
    },
    indexes: [{ columns: ['product_id', 'location'], unique: true }],
  },
  attributes: {
    columns: {
      id,
      product_id: { kind: 'bigint', references: { table: 'products', onDelete: 'cascade' } },
      name: { kind: 'string', length: 100 },
      value: { kind: 'string', length: 255 },
      position,
      ...timestamps,
    },
    indexes: [{ columns: ['product_id', 'name'] }],
  },
  prices: {
    columns: {
      id,
      product_id: { kind: 'bigint', references: { table: 'products', onDelete: 'cascade' } },
      currency: { kind: 'string', length: 3 },
      amount: money(),
      compare_at_amount: money({ nullable: true }),
      min_quantity: { kind: 'integer', default: 1 },
      starts_at: optionalTime,
      ends_at: optionalTime,
      ...timestamps,
    },
    indexes: [{ columns: ['product_id', 'currency', 'min_quantity'], unique: true }],
  },
  discounts: {
    columns: {
      id,
      code: { kind: 'string', length: 64 },
      description: optionalText,
      discount_type: { kind: 'string', length: 20, default: 'percentage' },
      value: money(),
      min_order_amount: money({ nullable: true }),
      usage_limit: { kind: 'integer', nullable: true },
      times_used: { kind: 'integer', default: 0 },
      starts_at: optionalTime,
      ends_at: optionalTime,
      is_active: active,
      ...timestamps,
    },
    indexes: [{ columns: ['code'], unique: true }],
  },
  cms_pages: {
    columns: {
      id,
      slug,
      title: name,
      body: optionalText,
      status: { kind: 'string', length: 20, default: 'draft' },
      published_at: optionalTime,
      ...timestamps,
    },
    indexes: [{ columns: ['slug'], unique: true }, { columns: ['status'] }],
  },
  media_library: {
    columns: {
      id,
      product_id: { kind: 'bigint', nullable: true, references: { table: 'products', onDelete: 'set null' } },
      file_name: name,
      url: { kind: 'string', length: 2048 },
      mime_type: { kind: 'string', length: 127 },
      size_bytes: { kind: 'bigint', default: 0 },
      alt_text: { kind: 'string', length: 255, nullable: true },
      ...timestamps,
    },
    indexes: [{ columns: ['product_id'] }],
  },
  seo_settings: {
    columns: {
      id,
      // 'store' (entity_id 0), 'product', 'category' or 'page'; entity_id is never NULL so the pair is unique.
      scope: { kind: 'string', length: 20 },
      entity_id: { kind: 'bigint', default: 0 },
      meta_title: { kind: 'string', length: 255, nullable: true },
      meta_description: optionalText,
      canonical_url: url,
      robots: { kind: 'string', length: 64, default: 'index,follow' },
      og_image_url: url,
      ...timestamps,
    },
    indexes: [{ columns: ['scope', 'entity_id'], unique: true }],
  },
  store_settings: {
    columns: {
      id,
      key: { kind: 'string', length: 100 },
      value: { kind: 'text' },
      ...timestamps,
    },
    indexes: [{ columns: ['key'], unique: true }],
  },
} as const satisfies SchemaDef;

export type StoreTableName = keyof typeof storeSchema;
export const STORE_TABLES = Object.keys(storeSchema) as StoreTableName[];
