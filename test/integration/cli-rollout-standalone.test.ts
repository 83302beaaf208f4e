// StoreSchema rollouts without a cluster (issue 13): `storeop apply -f` with a StoreSchema runs the staged
// rollout itself against a PostgreSQL master, on stores of the real PostgreSQL: a canary stage first, at
// most maxConcurrent (and maxConcurrentPerServer) in flight; a version that fails on the canary stops at the
// failure budget with the other stores untouched, and `storeop rollout resume` after a fixed version
// finishes it; a stage with pause: true waits until `storeop rollout resume`. The tests build on each other.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { engineFor } from '../../src/engines/index.js';
import { runEveryStep } from '../support/cleanup.js';
import type { CliRun } from '../support/cli.js';
import { postgresMaster, runCli, type TestMaster } from '../support/master.js';
import { openPostgres, postgresCreateTarget, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';

const RUN_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT = 600_000;
const SCHEMA = `standalone-${uniqueSlug().slice(2)}`;
const CANARY = { 'storeop.dev/canary': 'true' };
const fleet = [
  { slug: uniqueSlug(), labels: CANARY },
  { slug: uniqueSlug(), labels: {} },
  { slug: uniqueSlug(), labels: {} },
  { slug: uniqueSlug(), labels: {} },
  { slug: uniqueSlug(), labels: {} },
];
const canary = fleet[0] as (typeof fleet)[0];

const products = {
  columns: {
    id: { kind: 'id' },
    sku: { kind: 'string', length: 64 },
    price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
  },
  indexes: [{ columns: ['sku'], unique: true }],
};
const withFeatured = {
  columns: { ...products.columns, featured: { kind: 'boolean', default: false } },
  indexes: [...products.indexes, { columns: ['featured'] }],
};
const withNote = { ...withFeatured, columns: { ...withFeatured.columns, note: { kind: 'text', nullable: true } } };
const pg = (statements: string[]) => ({ postgres: statements, mysql: statements });
// A short pause per store, so that stores in flight overlap and the limits are what keeps them apart.
const slow = { version: '0001', description: 'a slow backfill', up: { postgres: ['SELECT pg_sleep(0.4)'], mysql: ['SELECT SLEEP(0.4)'] } };
const check = 'ALTER TABLE products ADD CONSTRAINT chk_products_price CHECK (price >= 0)';
const failing = { version: '0002', description: 'prices are never negative', up: pg([check]) };
const fixed = {
  version: '0003',
  description: 'negative prices become 0, then never negative',
  up: pg(['UPDATE products SET price = 0 WHERE price < 0', check]),
};

function schemaDoc(version: string, spec: Record<string, unknown>, rollout: Record<string, unknown> = {}) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreSchema',
    metadata: { name: SCHEMA },
    spec: {
      version,
      ...spec,
      rollout: {
        stages: [{ name: 'canary', selector: { matchLabels: CANARY }, maxConcurrent: 1 }],
        maxConcurrent: 3,
        maxConcurrentPerServer: 2,
        failureBudget: 0,
        ...rollout,
      },
    },
  };
}

const stores = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-admin' }, stringData: { username: 'postgres', password: 'unused' } },
  ...fleet.map(({ slug, labels }) => ({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: slug, labels },
    spec: {
      displayName: `Shop ${slug}`,
      schemaRef: { name: SCHEMA },
      database: {
        engine: 'postgresql',
        mode: 'create',
        seed: false,
        server: { host: '127.0.0.1', port: 5432, adminSecretRef: { name: 'pg-admin' } },
      },
    },
  })),
];

const describeRun = (r: CliRun) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

interface Admission {
  slug: string;
  stage: string;
  state: string;
  admitted_at: Date;
  finished_at: Date | null;
}

/** The most admissions in flight at one moment (each from admitted_at to finished_at). */
function peakInFlight(rows: Admission[]): number {
  const edges = rows.flatMap((r) => [
    { at: r.admitted_at.getTime(), delta: 1 },
    { at: (r.finished_at ?? new Date(8.64e15)).getTime(), delta: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.delta;
    peak = Math.max(peak, now);
  }
  return peak;
}

describe('StoreSchema rollouts without a cluster', () => {
  let tm: TestMaster;
  let dir: string;
  const cli = (args: string[]) =>
    runCli([...args, '--master-database-url', tm.url], { STOREOP_ENCRYPTION_KEYS: tm.keysSpec }, RUN_TIMEOUT_MS);
  const apply = (version: string, spec: Record<string, unknown>, rollout?: Record<string, unknown>) => {
    const file = join(dir, `v${version}.yaml`);
    writeFileSync(file, [schemaDoc(version, spec, rollout), ...stores].map((d) => stringify(d)).join('---\n'));
    return cli(['apply', '-f', file]);
  };
  const admissions = (version: string) =>
    tm.sql(
      `select s.slug, a.stage, a.state, a.admitted_at, a.finished_at from schema_rollout_stores a join stores s on s.id = a.store_id
       where a.schema_name = $1 and a.version = $2 order by a.admitted_at, s.slug`,
      [SCHEMA, version],
    ) as Promise<unknown> as Promise<Admission[]>;
  const versions = async () =>
    (await tm.sql('select schema_version from stores where schema_name = $1 order by slug', [SCHEMA])).map((r) => r.schema_version);
  const columns = (slug: string) =>
    withStoreDb(openPostgres(storeName(slug)), (db) =>
      db.query(`select column_name from information_schema.columns where table_name = 'products' order by ordinal_position`),
    ).then((rows) => rows.map((r) => r.column_name));

  beforeAll(async () => {
    tm = await postgresMaster.create();
    dir = mkdtempSync(join(tmpdir(), 'storeop-rollout-standalone-'));
    const first = await apply('1', { tables: { products } });
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout).toContain(`StoreSchema ${SCHEMA} version 1: Complete, ${fleet.length}/${fleet.length} stores updated`);
  }, TEST_TIMEOUT);

  afterAll(async () => {
    await runEveryStep('standalone rollout cleanup failed', [
      ...fleet.map(
        ({ slug }) =>
          () =>
            engineFor('postgresql').deprovision(postgresCreateTarget(), slug),
      ),
      () => tm?.destroy(),
      () => rmSync(dir, { recursive: true, force: true }),
    ]);
  }, TEST_TIMEOUT);

  it(
    'rolls a version out to the canary first, then the rest, within maxConcurrent and maxConcurrentPerServer',
    async () => {
      const applied = await apply('2', { tables: { products: withFeatured }, migrations: [slow] });
      expect(applied.code, describeRun(applied)).toBe(0);
      expect(applied.stdout).toContain(`StoreSchema ${SCHEMA} version 2 (from 1) admitted`);
      expect(applied.stdout).toContain(`StoreSchema ${SCHEMA} version 2: Complete, ${fleet.length}/${fleet.length} stores updated`);
      const rows = await admissions('2');
      expect(rows.map((r) => r.state)).toEqual(fleet.map(() => 'updated'));
      const canaryRow = rows.find((r) => r.slug === canary.slug) as Admission;
      expect(canaryRow.stage).toBe('canary');
      for (const row of rows.filter((r) => r.slug !== canary.slug)) {
        expect(row.stage).toBe('(unselected)');
        expect(row.admitted_at.getTime()).toBeGreaterThanOrEqual((canaryRow.finished_at as Date).getTime());
      }
      // maxConcurrent 3, but one server with maxConcurrentPerServer 2.
      const peak = peakInFlight(rows);
      expect(peak).toBeGreaterThanOrEqual(1);
      expect(peak).toBeLessThanOrEqual(2);
      expect(await versions()).toEqual(fleet.map(() => '2'));
      for (const { slug } of fleet) expect(await columns(slug)).toEqual(['id', 'sku', 'price', 'featured']);
      const shown = await cli(['get', 'store', canary.slug, '-o', 'json']);
      expect(JSON.parse(shown.stdout).schema).toEqual({ name: SCHEMA, version: '2' });
    },
    TEST_TIMEOUT,
  );

  it(
    'stops at the failure budget when the canary fails, leaves the rest alone, and resumes after a fixed version',
    async () => {
      await withStoreDb(openPostgres(storeName(canary.slug)), (db) => db.query("INSERT INTO products (sku, price) VALUES ('refund', -5)"));
      const failed = await apply('3', { tables: { products: withFeatured }, migrations: [slow, failing] });
      expect(failed.code, describeRun(failed)).toBe(1);
      expect(failed.stdout).toMatch(
        new RegExp(`StoreSchema ${SCHEMA} version 3: Paused, 0/${fleet.length} stores updated \\(FailureBudgetExceeded`),
      );
      expect((await admissions('3')).map((r) => [r.slug, r.state])).toEqual([[canary.slug, 'failed']]);
      expect(await versions()).toEqual(fleet.map(() => '2'));
      const status = await cli(['rollout', 'status', SCHEMA]);
      expect(status.code, describeRun(status)).toBe(0);
      expect(status.stdout).toMatch(/version 3, Paused \(FailureBudgetExceeded\)/);
      expect(status.stdout).toMatch(new RegExp(`${canary.slug}\\s+canary\\s+\\S+\\s+.*chk_products_price`));

      // A fixed version waits for a person: the reached budget holds until resume.
      const waiting = await apply('4', { tables: { products: withFeatured }, migrations: [slow, fixed] });
      expect(waiting.code, describeRun(waiting)).toBe(1);
      expect(waiting.stdout).toMatch(/version 4: Paused, .*FailureBudgetExceeded/);
      expect(await admissions('4')).toEqual([]);
      const resumed = await cli(['rollout', 'resume', SCHEMA]);
      expect(resumed.code, describeRun(resumed)).toBe(0);
      expect(resumed.stdout).toContain(`StoreSchema ${SCHEMA}: resumed`);
      expect(resumed.stdout).toMatch(/version 4, Complete/);
      expect(await versions()).toEqual(fleet.map(() => '4'));
      await withStoreDb(openPostgres(storeName(canary.slug)), async (db) => {
        expect(await db.query("SELECT price FROM products WHERE sku = 'refund'")).toEqual([{ price: '0.00' }]);
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'waits before a stage with pause: true until storeop rollout resume, and pause holds a resumed rollout back',
    async () => {
      const gated = { stages: [{ name: 'canary', selector: { matchLabels: CANARY }, maxConcurrent: 1, pause: true }] };
      const applied = await apply('5', { tables: { products: withNote }, migrations: [slow, fixed] }, gated);
      expect(applied.code, describeRun(applied)).toBe(0);
      expect(applied.stdout).toMatch(/version 5: Paused, 0\/\d+ stores updated \(AwaitingApproval: stage canary waits for approval/);
      expect(await admissions('5')).toEqual([]);
      const status = await cli(['rollout', 'status', SCHEMA, '-o', 'json']);
      expect(JSON.parse(status.stdout)).toMatchObject({
        version: '5',
        phase: 'Paused',
        reason: 'AwaitingApproval',
        currentStage: 'canary',
      });

      // A pause set by a person is kept by a run that starts later (storeop apply again): nothing admitted.
      const paused = await cli(['rollout', 'pause', SCHEMA]);
      expect(paused.code, describeRun(paused)).toBe(0);
      const again = await apply('5', { tables: { products: withNote }, migrations: [slow, fixed] }, gated);
      expect(again.code, describeRun(again)).toBe(0);
      expect(again.stdout).toMatch(/version 5: Paused/);
      expect(await admissions('5')).toEqual([]);

      const resumed = await cli(['rollout', 'resume', SCHEMA]);
      expect(resumed.code, describeRun(resumed)).toBe(0);
      expect(resumed.stdout).toMatch(/version 5, Complete/);
      expect(await versions()).toEqual(fleet.map(() => '5'));
      for (const { slug } of fleet) expect(await columns(slug)).toEqual(['id', 'sku', 'price', 'featured', 'note']);
    },
    TEST_TIMEOUT,
  );
});
