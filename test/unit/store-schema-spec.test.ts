// StoreSchema spec -> TargetSchema: the cross-checks name the field they fail on, the built-in schema makes
// the round trip unchanged, and manifests/base/storeop-default-schema.yaml is what `npm run generate` writes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type StoreSchema, type StoreSchemaSpec, storeSchemaSpec } from '../../src/api/store-schema.js';
import { ManifestError, parseManifests } from '../../src/apply/manifests.js';
import { isStoreopsOwn } from '../../src/controller/rollout/publish-default.js';
import { isStoreopError } from '../../src/errors.js';
import { expectationKey, STORE_TARGET_SCHEMA } from '../../src/provisioning/pipeline.js';
import { defaultStoreSchemaSpec } from '../../src/schema/default-spec.js';
import { schemaFromSpec, specProblems } from '../../src/schema/from-spec.js';
import { schemaHash } from '../../src/schema/plan.js';
import { DEFAULT_SCHEMA_MANIFEST, defaultSchemaManifest } from '../../src/schema/publish.js';
import { repoRoot } from '../support/paths.js';

const base = (): StoreSchemaSpec =>
  storeSchemaSpec.parse({
    version: '1',
    tables: {
      products: {
        columns: {
          id: { kind: 'id' },
          sku: { kind: 'string', length: 64 },
          price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
        },
        indexes: [{ columns: ['sku'], unique: true }],
      },
    },
  });

function problemsOf(edit: (spec: StoreSchemaSpec) => void): string[] {
  const spec = base();
  edit(spec);
  return specProblems(spec).map((p) => `${p.path}: ${p.message}`);
}

describe('schemaFromSpec', () => {
  it('turns a sound spec into the definition, version, migrations and seed the pipeline takes', () => {
    const spec = base();
    spec.migrations = [{ version: '0001', description: 'backfill', up: { postgres: ['select 1'], mysql: ['select 1'] } }];
    spec.seed = [{ table: 'products', rows: [{ sku: 'gift', price: '5.00' }] }];
    const target = schemaFromSpec(spec);
    expect(target.version).toBe('1');
    expect(target.definition.products?.columns.price).toEqual({ kind: 'decimal', precision: 12, scale: 2, default: '0.00' });
    expect(target.migrations).toEqual([{ version: '0001', description: 'backfill', up: { postgres: ['select 1'], mysql: ['select 1'] } }]);
    expect(target.seed).toEqual([{ table: 'products', rows: [{ sku: 'gift', price: '5.00' }] }]);
    expect(target.unsupported).toBeUndefined();
  });

  it.each([
    [
      'an index on a missing column',
      (s: StoreSchemaSpec) => s.tables.products?.indexes?.push({ columns: ['nope'] }),
      'spec.tables.products.indexes.1.columns.0: column nope is not in spec.tables.products.columns',
    ],
    [
      'a reference to a missing table',
      (s: StoreSchemaSpec) =>
        Object.assign(s.tables.products?.columns ?? {}, {
          shop_id: { kind: 'bigint', references: { table: 'shops', onDelete: 'restrict' } },
        }),
      'spec.tables.products.columns.shop_id.references.table: table shops is not in spec.tables',
    ],
    [
      'a string without length',
      (s: StoreSchemaSpec) => Object.assign(s.tables.products?.columns ?? {}, { name: { kind: 'string' } }),
      'spec.tables.products.columns.name.length: a string column needs a length',
    ],
    [
      'scale above precision',
      (s: StoreSchemaSpec) => Object.assign(s.tables.products?.columns ?? {}, { rate: { kind: 'decimal', precision: 4, scale: 6 } }),
      'spec.tables.products.columns.rate.scale: scale 6 is larger than precision 4',
    ],
    [
      'a default of the wrong kind',
      (s: StoreSchemaSpec) => Object.assign(s.tables.products?.columns ?? {}, { stock: { kind: 'integer', default: 'many' } }),
      'spec.tables.products.columns.stock.default: default must be an integer that fits an integer column',
    ],
    [
      'a decimal default too wide',
      (s: StoreSchemaSpec) =>
        Object.assign(s.tables.products?.columns ?? {}, { fee: { kind: 'decimal', precision: 4, scale: 2, default: '123.45' } }),
      'spec.tables.products.columns.fee.default: default 123.45 does not fit decimal(4, 2)',
    ],
    [
      'a boolean default given as a string',
      (s: StoreSchemaSpec) => Object.assign(s.tables.products?.columns ?? {}, { active: { kind: 'boolean', default: 'yes' } }),
      'spec.tables.products.columns.active.default: default must be true or false',
    ],
    [
      'a string default longer than the column',
      (s: StoreSchemaSpec) => Object.assign(s.tables.products?.columns ?? {}, { code: { kind: 'string', length: 2, default: 'abc' } }),
      "spec.tables.products.columns.code.default: default is longer than the column's length 2",
    ],
    [
      'a table without id',
      (s: StoreSchemaSpec) => Object.assign(s.tables, { tags: { columns: { name: { kind: 'text' } } } }),
      'spec.tables.tags.columns.id: every table needs a column id of kind id',
    ],
    [
      'migrations out of order',
      (s: StoreSchemaSpec) =>
        s.migrations.push(
          { version: '0002', description: 'b', up: { postgres: ['select 1'] } },
          { version: '0001', description: 'a', up: { postgres: ['select 1'] } },
        ),
      'spec.migrations.1.version: must sort after the migration before it (0002)',
    ],
    [
      'a migration version used twice',
      (s: StoreSchemaSpec) =>
        s.migrations.push(
          { version: '0001', description: 'a', up: { postgres: ['select 1'] } },
          { version: '0001', description: 'b', up: { postgres: ['select 1'] } },
        ),
      'spec.migrations.1.version: version 0001 is used twice',
    ],
    [
      'a seed row without a required column',
      (s: StoreSchemaSpec) => {
        s.seed = [{ table: 'products', rows: [{ price: '1.00' }] }];
      },
      'spec.seed.0.rows.0: needs a value for products.sku',
    ],
    [
      'a seed row for an unknown column',
      (s: StoreSchemaSpec) => {
        s.seed = [{ table: 'products', rows: [{ sku: 'a', colour: 'red' }] }];
      },
      'spec.seed.0.rows.0.colour: column colour is not in products',
    ],
  ])('refuses %s, naming the field', (_, edit, expected) => {
    expect(problemsOf(edit)).toContain(expected);
  });

  it('refuses a foreign key cycle between tables (a self-reference is fine)', () => {
    const problems = problemsOf((s) => {
      Object.assign(s.tables, {
        a: { columns: { id: { kind: 'id' }, b_id: { kind: 'bigint', nullable: true, references: { table: 'b', onDelete: 'set null' } } } },
        b: { columns: { id: { kind: 'id' }, a_id: { kind: 'bigint', nullable: true, references: { table: 'a', onDelete: 'set null' } } } },
        c: {
          columns: { id: { kind: 'id' }, parent_id: { kind: 'bigint', nullable: true, references: { table: 'c', onDelete: 'set null' } } },
        },
      });
    });
    expect(problems).toEqual([expect.stringMatching(/^spec\.tables: foreign key cycle: a -> b -> a/)]);
  });

  it('throws one InvalidSpec that lists every problem', () => {
    const spec = base();
    Object.assign(spec.tables.products?.columns ?? {}, { name: { kind: 'string' }, stock: { kind: 'integer', default: 1.5 } });
    let error: unknown;
    try {
      schemaFromSpec(spec);
    } catch (e) {
      error = e;
    }
    expect(isStoreopError(error, 'InvalidSpec')).toBe(true);
    expect((error as Error).message).toMatch(
      /spec\.tables\.products\.columns\.name\.length: .*; spec\.tables\.products\.columns\.stock\.default: /,
    );
  });

  it('says which engines a schema cannot target when a migration has statements for one dialect only', () => {
    const spec = base();
    spec.migrations = [{ version: '0001', description: 'pg only', up: { postgres: ['select 1'] } }];
    expect(schemaFromSpec(spec).unsupported).toEqual({
      mysql: 'migration(s) 0001 have no mysql statements, so this schema cannot target MySQL/MariaDB',
    });
  });
});

describe('storeop-default', () => {
  it('makes the round trip built-in -> spec -> TargetSchema with the same definition, hash and expectation', () => {
    const target = schemaFromSpec(defaultStoreSchemaSpec(), 'storeop-default');
    expect(target.definition).toEqual(STORE_TARGET_SCHEMA.definition);
    expect(target.version).toBe(STORE_TARGET_SCHEMA.version);
    // Byte for byte: stores provisioned from the built-in schema see no change when they move to storeop-default.
    expect(schemaHash(target.definition, target.version)).toBe(schemaHash(STORE_TARGET_SCHEMA.definition, STORE_TARGET_SCHEMA.version));
    expect(expectationKey(target, true)).toBe(expectationKey(STORE_TARGET_SCHEMA, true));
    expect(target.seed).toBeUndefined(); // storeop's default rows
  });

  it(`matches ${DEFAULT_SCHEMA_MANIFEST} (run \`npm run generate\` after changing src/schema)`, () => {
    const onDisk = readFileSync(join(repoRoot, DEFAULT_SCHEMA_MANIFEST), 'utf8');
    expect(onDisk).toBe(defaultSchemaManifest());
    expect(storeSchemaSpec.parse(parse(onDisk).spec)).toEqual(defaultStoreSchemaSpec());
  });

  it("carries the marks of storeop's own object, so the operator of a later release updates what kustomize applied", () => {
    expect(isStoreopsOwn(parse(readFileSync(join(repoRoot, DEFAULT_SCHEMA_MANIFEST), 'utf8')) as StoreSchema)).toBe(true);
  });

  it('is listed in manifests/base/kustomization.yaml, so `kubectl apply -k` publishes it', () => {
    const kustomization = parse(readFileSync(join(repoRoot, 'manifests/base/kustomization.yaml'), 'utf8'));
    expect(kustomization.resources).toContain('storeop-default-schema.yaml');
  });
});

describe('StoreSchema documents in manifests (storeop apply, storeop schema)', () => {
  const parse = (text: string) => {
    try {
      return parseManifests([{ origin: 'schema.yaml', text }]);
    } catch (error) {
      if (error instanceof ManifestError) return error.problems;
      throw error;
    }
  };

  it('reads the example manifest', () => {
    const set = parse(readFileSync(join(repoRoot, 'manifests/examples/storeschema.yaml'), 'utf8'));
    expect(Array.isArray(set) ? set : set.schemas.map((s) => `${s.name} ${s.spec.version}`)).toEqual(['catalogue 2.0.0']);
  });

  it('refuses unknown fields and failed cross-checks, each with document, kind, name and field', () => {
    const problems = parse(`apiVersion: storeop.dev/v1alpha1
kind: StoreSchema
metadata: { name: shop }
spec:
  version: "1"
  tables:
    products:
      columns:
        id: { kind: id }
        sku: { kind: string, lenght: 64 }
---
apiVersion: storeop.dev/v1alpha1
kind: StoreSchema
metadata: { name: other }
spec:
  version: "1"
  tables:
    products:
      columns:
        id: { kind: id }
        price: { kind: decimal, precision: 4, scale: 2, default: "100.00" }
      indexes: [{ columns: [sku] }]
`);
    expect(problems).toEqual([
      'schema.yaml: document 1 (StoreSchema shop): spec.tables.products.columns.sku.lenght: unknown field',
      'schema.yaml: document 2 (StoreSchema other): spec.tables.products.columns.price.default: default 100.00 does not fit decimal(4, 2)',
      'schema.yaml: document 2 (StoreSchema other): spec.tables.products.indexes.0.columns.0: column sku is not in spec.tables.products.columns',
    ]);
  });
});
