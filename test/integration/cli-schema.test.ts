// StoreSchemas without a cluster, through the CLI as its own process on a real PostgreSQL: `storeop apply -f`
// admits a version and provisions the Stores that name it; refuses a destructive change no migration
// declares (nothing runs); `storeop schema plan` lists per-store changes and a hand-made conflicting column;
// `storeop schema types` prints row types that type-check against Kysely queries (tsc on a temp project).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { engineFor } from '../../src/engines/index.js';
import { runEveryStep } from '../support/cleanup.js';
import { type CliRun, runStoreop } from '../support/cli.js';
import { nodeBinary, repoRoot } from '../support/paths.js';
import { openPgliteFolder, openPostgres, postgresCreateTarget, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';

const RUN_TIMEOUT_MS = 180_000;
const run = promisify(execFile);

function storeop(args: string[], cwd: string): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith('STOREOP_')) env[key] = value;
  return runStoreop(args, { cwd, env, timeoutMs: RUN_TIMEOUT_MS });
}

const describeRun = (r: CliRun) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

const schemaName = `catalogue-${uniqueSlug()}`;
const slugs = [uniqueSlug(), uniqueSlug()] as const;

type Columns = Record<string, Record<string, unknown>>;

function schemaDoc(version: string, columns: Columns, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreSchema',
    metadata: { name: schemaName },
    spec: {
      version,
      tables: {
        products: {
          columns: { id: { kind: 'id' }, sku: { kind: 'string', length: 64 }, ...columns },
          indexes: [{ columns: ['sku'], unique: true }],
        },
      },
      ...extra,
    },
  };
}

const V1_COLUMNS: Columns = { price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' } };

const fleet = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin' }, stringData: { username: 'postgres', password: 'unused' } },
  ...slugs.map((slug) => ({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: slug },
    spec: {
      displayName: `Shop ${slug}`,
      schemaRef: { name: schemaName },
      database: { engine: 'postgresql', mode: 'create', server: { host: '127.0.0.1', port: 5432, adminSecretRef: { name: 'pg-admin' } } },
    },
  })),
];

describe('StoreSchemas through storeop apply and storeop schema', () => {
  let dir: string;
  let home: string;

  const write = (file: string, docs: object[]) => {
    writeFileSync(join(dir, file), docs.map((d) => stringify(d)).join('---\n'));
    return join(dir, file);
  };
  const products = (slug: string) =>
    withStoreDb(openPostgres(storeName(slug)), (db) =>
      db.query(`select column_name from information_schema.columns where table_name = 'products' order by ordinal_position`),
    ).then((rows) => rows.map((r) => r.column_name));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'storeop-schema-cli-'));
    home = join(dir, 'home');
    const v1 = write('v1.yaml', [
      schemaDoc('1.0.0', V1_COLUMNS, { seed: [{ table: 'products', rows: [{ sku: 'gift-card' }] }] }),
      ...fleet,
    ]);
    const applied = await storeop(['apply', '-f', v1, '--home', home], dir);
    expect(applied.code, describeRun(applied)).toBe(0);
    expect(applied.stdout).toContain(`StoreSchema ${schemaName} version 1.0.0 admitted: 2 additive change(s)`);
  });

  afterAll(async () => {
    await runEveryStep('schema CLI cleanup failed', [
      ...slugs.map((slug) => () => engineFor('postgresql').deprovision(postgresCreateTarget(), slug)),
      () => rmSync(dir, { recursive: true, force: true }),
    ]);
  });

  it('provisions the Stores that name the schema with it: its tables and seed rows, not the built-in ones', async () => {
    for (const slug of slugs) {
      expect(await products(slug)).toEqual(['id', 'sku', 'price']);
      await withStoreDb(openPostgres(storeName(slug)), async (db) => {
        expect(await db.query('select sku from products')).toEqual([{ sku: 'gift-card' }]);
        expect(await db.query(`select 1 from information_schema.tables where table_name = 'categories'`)).toEqual([]);
      });
    }
    const versions = await withStoreDb(openPgliteFolder(join(home, 'master')), (db) =>
      db.query('select schema_name, version from store_schema_versions'),
    );
    expect(versions).toEqual([{ schema_name: schemaName, version: '1.0.0' }]);
  });

  it('refuses a version that drops a column without a migration that declares it, and changes nothing', async () => {
    const dropped = write('dropped.yaml', [schemaDoc('2.0.0', {}), ...fleet]);
    const refused = await storeop(['apply', '-f', dropped, '--home', home], dir);
    expect(refused.code, describeRun(refused)).toBe(1);
    expect(refused.stderr).toContain(
      `(StoreSchema ${schemaName}): version 2.0.0 is refused: dropColumn products.price: dropped; a destructive change needs a migration of this version that declares it in handles`,
    );
    expect(refused.stderr).toContain('nothing was changed');
    for (const slug of slugs) expect(await products(slug)).toEqual(['id', 'sku', 'price']);
    const versions = await withStoreDb(openPgliteFolder(join(home, 'master')), (db) =>
      db.query('select version from store_schema_versions'),
    );
    expect(versions).toEqual([{ version: '1.0.0' }]);
  });

  it('storeop schema plan lists each store’s changes, and the store with a hand-made column of another type as a conflict', async () => {
    const [plain, conflicting] = slugs;
    await withStoreDb(openPostgres(storeName(conflicting)), (db) => db.query('alter table products add column gift_wrap integer'));
    const v2 = write('v2.yaml', [
      schemaDoc(
        '2.0.0',
        { ...V1_COLUMNS, gift_wrap: { kind: 'boolean', default: false } },
        {
          migrations: [
            {
              version: '0001',
              description: 'gift cards are wrapped',
              up: {
                postgres: ["update products set gift_wrap = true where sku like 'gift-%'"],
                mysql: ["update products set gift_wrap = true where sku like 'gift-%'"],
              },
            },
          ],
        },
      ),
    ]);
    const planned = await storeop(['schema', 'plan', '-f', v2, '--home', home], dir);
    expect(planned.code, describeRun(planned)).toBe(1);
    const out = planned.stdout;
    expect(out).toContain(`StoreSchema ${schemaName} version 2.0.0 (the master DB admitted 1.0.0 last)`);
    expect(out).toContain('  addColumn products.gift_wrap: new column boolean not null default false');
    expect(out).toContain(`2 store(s) use StoreSchema ${schemaName}:`);
    expect(out).toMatch(
      new RegExp(
        `  store ${plain} \\(postgresql, 127\\.0\\.0\\.1:5432, database ${storeName(plain)}, at version 1\\.0\\.0\\): 1 change\\(s\\), 1 migration\\(s\\)\\n    alter table "products" add column "gift_wrap" boolean default false not null;\\n    update products set gift_wrap = true where sku like 'gift-%';\\n`,
      ),
    );
    expect(out).toMatch(
      new RegExp(
        `  store ${conflicting} \\(.*, at version 1\\.0\\.0\\): CONFLICTS, it would stop and change nothing: products\\.gift_wrap: found integer, expected boolean`,
      ),
    );
    // A plan changes nothing.
    expect(await products(plain)).toEqual(['id', 'sku', 'price']);
  });

  it('storeop schema types prints StoreDB row types that type-check against Kysely queries', async () => {
    const v2 = write('types.yaml', [
      schemaDoc('2.0.0', {
        ...V1_COLUMNS,
        gift_wrap: { kind: 'boolean', default: false },
        note: { kind: 'text', nullable: true },
        sold_at: { kind: 'timestamp', nullable: true },
      }),
    ]);
    const types = await storeop(['schema', 'types', '-f', v2], dir);
    expect(types.code, describeRun(types)).toBe(0);
    expect(types.stdout).toContain('export interface StoreDB {\n  products: ProductsTable;\n}');

    const project = mkdtempSync(join(tmpdir(), 'storeop-types-'));
    try {
      symlinkSync(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
      writeFileSync(join(project, 'store-db.ts'), types.stdout);
      writeFileSync(
        join(project, 'app.ts'),
        `import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { StoreDB } from './store-db.js';

const db = new Kysely<StoreDB>({ dialect: new PostgresDialect({ pool: new pg.Pool() }) });
export async function wrapped(): Promise<Array<{ sku: string; price: string; gift_wrap: boolean; note: string | null }>> {
  return db.selectFrom('products').select(['sku', 'price', 'gift_wrap', 'note']).where('gift_wrap', '=', true).execute();
}
export async function add(): Promise<void> {
  await db.insertInto('products').values({ sku: 'mug', sold_at: new Date() }).execute();
}
// @ts-expect-error: the schema has no such table
export const wrong = db.selectFrom('categories').selectAll();
// @ts-expect-error: sku is required on insert
export const missing = db.insertInto('products').values({ price: '1.00' });
`,
      );
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2023',
            module: 'nodenext',
            moduleResolution: 'nodenext',
            strict: true,
            noUnusedLocals: true,
            noEmit: true,
            skipLibCheck: true,
            types: [],
          },
          files: ['app.ts', 'store-db.ts'],
        }),
      );
      const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
      const checked = await run(nodeBinary, [tsc, '-p', project], { cwd: project, timeout: RUN_TIMEOUT_MS }).then(
        () => ({ code: 0, output: '' }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code, output: `${error.stdout}${error.stderr}` }),
      );
      expect(checked, checked.output).toEqual({ code: 0, output: '' });
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
