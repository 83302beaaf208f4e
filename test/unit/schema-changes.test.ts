// The change rules between two StoreSchema versions: every difference listed, additive ones accepted,
// destructive ones refused (naming table, column and change) unless a new migration declares them.
import { describe, expect, it } from 'vitest';
import { type StoreSchemaSpec, storeSchemaSpec } from '../../src/api/store-schema.js';
import { classifyChanges, describeRefusals, refusedChanges } from '../../src/schema/changes.js';

const v1 = (): StoreSchemaSpec =>
  storeSchemaSpec.parse({
    version: '1',
    tables: {
      products: {
        columns: {
          id: { kind: 'id' },
          sku: { kind: 'string', length: 64 },
          title: { kind: 'string', length: 255, nullable: true },
          price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
        },
        indexes: [{ columns: ['sku'], unique: true }, { columns: ['title'] }],
      },
      notes: { columns: { id: { kind: 'id' }, body: { kind: 'text' } } },
    },
    migrations: [{ version: '0001', description: 'first', up: { postgres: ['select 1'], mysql: ['select 1'] } }],
  });

const summary = (from: StoreSchemaSpec | undefined, to: StoreSchemaSpec) =>
  classifyChanges(from, to).map(
    (c) =>
      `${c.refused ? 'REFUSED ' : ''}${c.kind} ${c.table}${c.column ? `.${c.column}` : ''}${c.index ? ` ${c.index}` : ''}${c.handledBy ? ` by ${c.handledBy}` : ''}`,
  );

describe('classifyChanges', () => {
  it('finds nothing between a version and itself, and only additions from nothing', () => {
    expect(classifyChanges(v1(), v1())).toEqual([]);
    expect(summary(undefined, v1())).toEqual([
      'addTable products',
      'addIndex products uq_products_sku',
      'addIndex products idx_products_title',
      'addTable notes',
    ]);
  });

  it('accepts a new table, a nullable column, a column with a default and a new index as additive', () => {
    const v2 = v1();
    v2.version = '2';
    Object.assign(v2.tables.products?.columns ?? {}, {
      subtitle: { kind: 'string', length: 100, nullable: true },
      gift_wrap: { kind: 'boolean', default: false },
    });
    v2.tables.products?.indexes?.push({ columns: ['gift_wrap'] });
    v2.tables.tags = { columns: { id: { kind: 'id' }, name: { kind: 'string', length: 50 } } };
    const changes = classifyChanges(v1(), v2);
    expect(summary(v1(), v2)).toEqual([
      'addColumn products.subtitle',
      'addColumn products.gift_wrap',
      'addIndex products idx_products_gift_wrap',
      'addTable tags',
    ]);
    expect(changes.every((c) => !c.destructive && !c.refused)).toBe(true);
  });

  it('refuses a type change, dropped column, table and index, and a new NOT NULL column without default, naming each', () => {
    const v2 = v1();
    v2.version = '2';
    const products = v2.tables.products as NonNullable<StoreSchemaSpec['tables'][string]>;
    products.columns.price = { kind: 'decimal', precision: 14, scale: 2, default: '0.00' };
    delete products.columns.title;
    products.indexes = [{ columns: ['sku'], unique: true }];
    products.columns.vendor = { kind: 'string', length: 100 };
    delete v2.tables.notes;
    const changes = classifyChanges(v1(), v2);
    expect(summary(v1(), v2)).toEqual([
      'REFUSED changeColumnType products.price',
      'REFUSED addRequiredColumn products.vendor',
      'REFUSED dropColumn products.title',
      'REFUSED dropIndex products idx_products_title',
      'REFUSED dropTable notes',
    ]);
    expect(changes.find((c) => c.kind === 'changeColumnType')?.description).toBe(
      'products.price: decimal(12, 2) not null default "0.00" -> decimal(14, 2) not null default "0.00"',
    );
    expect(describeRefusals('2', refusedChanges(changes))).toMatch(
      /^version 2 is refused: changeColumnType products\.price: .*; dropTable table notes dropped; a destructive change needs a migration/,
    );
  });

  it('accepts a destructive change that a migration of the new version declares, and not one an old migration declared', () => {
    const v2 = v1();
    v2.version = '2';
    delete v2.tables.products?.columns.title;
    v2.tables.products = {
      ...(v2.tables.products as NonNullable<StoreSchemaSpec['tables'][string]>),
      indexes: [{ columns: ['sku'], unique: true }],
    };
    v2.migrations.push({
      version: '0002',
      description: 'drop title',
      up: { postgres: ['alter table products drop column title'], mysql: ['alter table products drop column title'] },
      handles: [
        { change: 'dropColumn', table: 'products', column: 'title' },
        { change: 'dropIndex', table: 'products' },
      ],
    });
    expect(summary(v1(), v2)).toEqual(['dropColumn products.title by 0002', 'dropIndex products idx_products_title by 0002']);

    // The same declaration on the already-applied migration 0001 does not count: it ran for version 1.
    const v3 = v1();
    v3.version = '3';
    delete v3.tables.notes;
    const old = v3.migrations[0] as NonNullable<StoreSchemaSpec['migrations'][number]>;
    const from = v1();
    (from.migrations[0] as typeof old).handles = [{ change: 'dropTable', table: 'notes' }];
    old.handles = [{ change: 'dropTable', table: 'notes' }];
    expect(summary(from, v3)).toEqual(['REFUSED dropTable notes']);
  });
});
