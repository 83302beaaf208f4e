// StoreSchema rollouts end to end (issue 13): a fleet of Stores on the real PostgreSQL and MariaDB uses a
// StoreSchema of its own, and its versions roll out through `storeop run --namespace` on a real
// kube-apiserver: a canary stage then the rest; a version that fails on the canary stops at the failure
// budget and `storeop rollout resume` continues after a fixed version; a stage with pause: true waits for
// approval while a Store created meanwhile gets the version its stage is at; an operator killed mid-rollout
// finishes after a restart without migrating a store twice or exceeding maxConcurrent; a destructive
// change without a migration is refused and nothing runs. The tests build on each other, in order.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runStoreop } from '../support/cli.js';
import { MYSQL_URL, POSTGRES_URL, postgresRows } from '../support/databases.js';
import {
  eventuallyWithLogs,
  kubectl,
  type OperatorProcess,
  type RunningOperatorEnvironment,
  startOperatorEnvironment,
} from '../support/operator.js';
import { repoRoot } from '../support/paths.js';
import { dropStoreLeftovers, openMysql, openPostgres, type StoreDb, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';

const TEST_TIMEOUT = 600_000;
const WAIT_MS = 300_000;
const pgUrl = new URL(POSTGRES_URL);
const myUrl = new URL(MYSQL_URL);
const SCHEMA = `shop-${uniqueSlug().slice(2)}`;
const CANARY = { 'storeop.dev/canary': 'true' };

type Engine = 'postgresql' | 'mysql';
interface FleetStore {
  slug: string;
  engine: Engine;
  labels: Record<string, string>;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface SchemaObject {
  metadata: { generation: number };
  status?: {
    phase?: string;
    version?: string;
    observedGeneration?: number;
    currentStage?: string;
    updated?: number;
    total?: number;
    message?: string;
    conditions?: Condition[];
    stages?: Array<{ name: string; total: number; updated: number; failed: number; pending: number }>;
    failedStores?: Array<{ name: string; stage: string; reason: string; message: string }>;
  };
}
interface StoreObject {
  metadata: { name: string };
  status?: { phase?: string; schemaVersion?: string; conditions?: Condition[] };
}

// The versions, each from the one before: additive changes, a migration that fails where a price is
// negative, its fix, a paused stage, a slow migration, and a dropped column without a migration.
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
const both = (statements: string[]) => ({ postgres: statements, mysql: statements });
const check = 'ALTER TABLE products ADD CONSTRAINT chk_products_price CHECK (price >= 0)';
const failing = { version: '0001', description: 'prices are never negative', up: both([check]) };
const fixed = {
  version: '0002',
  description: 'negative prices become 0, then prices are never negative',
  up: both(['UPDATE products SET price = 0 WHERE price < 0', check]),
};
const slow = {
  version: '0003',
  description: 'a slow backfill',
  up: { postgres: ['SELECT pg_sleep(1.5)'], mysql: ['SELECT SLEEP(1.5)'] },
};
const canaryStage = (extra: Record<string, unknown> = {}) => ({
  name: 'canary',
  selector: { matchLabels: CANARY },
  maxConcurrent: 1,
  ...extra,
});

function schema(version: string, spec: Record<string, unknown>, rollout: Record<string, unknown> = {}) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreSchema',
    metadata: { name: SCHEMA },
    spec: { version, ...spec, rollout: { stages: [canaryStage()], maxConcurrent: 2, failureBudget: 0, ...rollout } },
  };
}

const fleet: FleetStore[] = [
  { slug: uniqueSlug(), engine: 'postgresql', labels: CANARY },
  { slug: uniqueSlug(), engine: 'postgresql', labels: {} },
  { slug: uniqueSlug(), engine: 'postgresql', labels: {} },
  { slug: uniqueSlug(), engine: 'mysql', labels: {} },
];
const canary = fleet[0] as FleetStore;
const created: FleetStore[] = [];

function storeObject(store: FleetStore) {
  const server =
    store.engine === 'postgresql'
      ? { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), adminSecretRef: { name: 'pg-admin' } }
      : { host: myUrl.hostname, port: Number(myUrl.port || 3306), adminSecretRef: { name: 'my-admin' } };
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: store.slug, labels: store.labels },
    spec: {
      displayName: `Store ${store.slug}`,
      schemaRef: { name: SCHEMA },
      // The schema has no tables for storeop's default rows.
      database: { engine: store.engine, mode: 'create', server, seed: false, deletionPolicy: 'Delete' },
    },
  };
}

function openStore(store: FleetStore): Promise<StoreDb> {
  return store.engine === 'postgresql' ? openPostgres(storeName(store.slug)) : openMysql(storeName(store.slug));
}

describe('StoreSchema rollouts', () => {
  let env: RunningOperatorEnvironment;
  /** The operator running now (the test restarts it). */
  let operator: OperatorProcess;
  const eventually = <T>(what: string, probe: () => Promise<T | undefined | false>) =>
    eventuallyWithLogs(what, probe, () => operator.logs(), WAIT_MS);
  /** Every Store of the fleet reports `version`. */
  const storesAt = (version: string) =>
    eventually(`every Store at version ${version}`, async () => {
      const list = await getStores();
      return list.length === fleet.length && list.every((s) => s.status?.schemaVersion === version) ? list : undefined;
    });

  const getSchema = async (): Promise<SchemaObject> =>
    JSON.parse((await kubectl(['get', 'storeschema', SCHEMA, '-o', 'json'])).stdout) as SchemaObject;
  const getStores = async (): Promise<StoreObject[]> =>
    (JSON.parse((await kubectl(['-n', env.namespace, 'get', 'stores', '-o', 'json'])).stdout) as { items: StoreObject[] }).items;
  const applySchema = (object: Record<string, unknown>) => kubectl(['apply', '-f', '-'], JSON.stringify(object));
  /** The StoreSchema's status once it reports on its current generation and `accept` holds. */
  const schemaWhen = (what: string, accept: (s: NonNullable<SchemaObject['status']>) => boolean) =>
    eventually(what, async () => {
      const object = await getSchema();
      const status = object.status;
      return status && status.observedGeneration === object.metadata.generation && accept(status) ? status : undefined;
    });
  const admissions = (version: string) =>
    postgresRows<{ slug: string; stage: string; state: string; admitted_at: Date; finished_at: Date | null }>(
      env.master.url,
      `select s.slug, a.stage, a.state, a.admitted_at, a.finished_at from schema_rollout_stores a join stores s on s.id = a.store_id
       where a.schema_name = $1 and a.version = $2 order by a.admitted_at`,
      [SCHEMA, version],
    );
  const cli = (args: string[]) =>
    runStoreop(['rollout', ...args, SCHEMA, '--kubeconfig', inject('kubeconfigPath')], {
      cwd: repoRoot,
      env: process.env,
      timeoutMs: 60_000,
    });

  beforeAll(async () => {
    const secret = (name: string, username: string, password: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name },
      stringData: { username, password },
    });
    env = await startOperatorEnvironment('rollout', {
      objects: [
        secret('pg-admin', pgUrl.username || 'postgres', 'trust-auth-ignores-it'),
        secret('my-admin', myUrl.username || 'root', ''),
      ],
    });
    operator = env.operator;
  }, TEST_TIMEOUT);

  afterAll(async () => {
    await env?.cleanUp([
      () => kubectl(['delete', 'storeschema', SCHEMA, '--ignore-not-found']),
      ...created.map((s) => () => dropStoreLeftovers(s.engine, s.slug)),
    ]);
  }, TEST_TIMEOUT);

  it(
    'rolls a version out to the canary stage, then to the rest, and every store reports it',
    async () => {
      await applySchema(schema('1', { tables: { products } }));
      created.push(...fleet);
      await env.apply(...fleet.map(storeObject));
      await schemaWhen('version 1 on every store', (s) => s.phase === 'Complete' && s.version === '1' && s.updated === fleet.length);
      await storesAt('1');

      await applySchema(schema('2', { tables: { products: withFeatured } }));
      const status = await schemaWhen('version 2 Complete', (s) => s.phase === 'Complete' && s.version === '2');
      expect(status).toMatchObject({ updated: 4, total: 4 });
      expect(status.stages).toEqual([
        { name: 'canary', total: 1, updated: 1, failed: 0, pending: 0 },
        { name: '(unselected)', total: 3, updated: 3, failed: 0, pending: 0 },
      ]);
      expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
      const stores = await eventually('every Store at version 2 and SchemaCurrent', async () => {
        const list = await getStores();
        return list.every(
          (s) => s.status?.schemaVersion === '2' && s.status.conditions?.some((c) => c.type === 'SchemaCurrent' && c.status === 'True'),
        )
          ? list
          : undefined;
      });
      expect(stores).toHaveLength(4);
      // The canary finished before any other store was admitted.
      const rows = await admissions('2');
      const canaryDone = rows.find((r) => r.slug === canary.slug && r.stage === 'canary' && r.state === 'updated')?.finished_at;
      expect(canaryDone).toBeInstanceOf(Date);
      for (const row of rows.filter((r) => r.slug !== canary.slug)) {
        expect(row.stage).toBe('(unselected)');
        expect(row.admitted_at.getTime()).toBeGreaterThanOrEqual((canaryDone as Date).getTime());
      }
      // The column and its index are there, on PostgreSQL and MariaDB alike.
      for (const store of fleet) {
        await withStoreDb(openStore(store), async (db) => {
          await db.query("INSERT INTO products (sku) VALUES ('first')");
          expect(await db.query("SELECT featured FROM products WHERE sku = 'first'")).toEqual([
            { featured: store.engine === 'mysql' ? 0 : false },
          ]);
        });
      }
      const master = await postgresRows(env.master.url, 'select slug, schema_name, schema_version from stores order by slug');
      expect(master).toEqual(
        fleet.map((s) => ({ slug: s.slug, schema_name: SCHEMA, schema_version: '2' })).sort((a, b) => a.slug.localeCompare(b.slug)),
      );
      const shown = await runStoreop(['get', 'store', canary.slug, '-o', 'json', '--master-database-url', env.master.url], {
        cwd: repoRoot,
        env: process.env,
        timeoutMs: 60_000,
      });
      expect(JSON.parse(shown.stdout).schema).toEqual({ name: SCHEMA, version: '2' });
    },
    TEST_TIMEOUT,
  );

  it(
    'stops at the failure budget when the canary fails, leaves the other stores alone, and resumes after a fixed version',
    async () => {
      await withStoreDb(openStore(canary), (db) => db.query("INSERT INTO products (sku, price) VALUES ('refund', -5)"));
      await applySchema(schema('3', { tables: { products: withFeatured }, migrations: [failing] }));
      const paused = await schemaWhen('the failure budget reached', (s) => s.phase === 'Paused' && s.version === '3');
      expect(paused.conditions?.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'FailureBudgetExceeded' });
      expect(paused.failedStores).toHaveLength(1);
      expect(paused.failedStores?.[0]).toMatchObject({ name: canary.slug, stage: 'canary' });
      expect(paused.failedStores?.[0]?.message).toMatch(/chk_products_price/);
      // Nobody else was admitted; the canary keeps version 2 and works.
      expect((await admissions('3')).map((r) => r.slug)).toEqual([canary.slug]);
      await eventually('the canary Ready again at version 2', async () => {
        const list = await getStores();
        return list.every((s) => s.status?.phase === 'Ready' && s.status.schemaVersion === '2') || undefined;
      });
      const status = await cli(['status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/Paused \(FailureBudgetExceeded\)/);
      expect(status.stdout).toContain(canary.slug);

      // A fixed version does not start by itself: the reached budget waits for a person.
      await applySchema(schema('4', { tables: { products: withFeatured }, migrations: [fixed] }));
      const waiting = await schemaWhen('version 4 paused', (s) => s.version === '4' && s.phase === 'Paused');
      expect(waiting.conditions?.find((c) => c.type === 'Paused')?.reason).toBe('FailureBudgetExceeded');
      expect(await admissions('4')).toEqual([]);
      const resumed = await cli(['resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      await schemaWhen('version 4 Complete', (s) => s.phase === 'Complete' && s.version === '4' && s.updated === 4);
      await storesAt('4');
      await withStoreDb(openStore(canary), async (db) => {
        expect(await db.query("SELECT price FROM products WHERE sku = 'refund'")).toEqual([{ price: '0.00' }]);
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'waits for approval before a paused stage, and a Store created meanwhile gets the version its stage is at',
    async () => {
      await applySchema(schema('5', { tables: { products: withNote }, migrations: [fixed] }, { stages: [canaryStage({ pause: true })] }));
      const waiting = await schemaWhen('the canary stage awaiting approval', (s) => s.version === '5' && s.phase === 'Paused');
      expect(waiting.conditions?.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'AwaitingApproval' });
      expect(waiting.currentStage).toBe('canary');

      // No stage has started: a new Store gets the version before.
      const late: FleetStore = { slug: uniqueSlug(), engine: 'postgresql', labels: {} };
      created.push(late);
      fleet.push(late);
      await env.apply(storeObject(late));
      await eventually('the new Store Ready at version 4', async () => {
        const store = (await getStores()).find((s) => s.metadata.name === late.slug);
        return store?.status?.phase === 'Ready' && store.status.schemaVersion === '4' ? store : undefined;
      });
      expect(await admissions('5')).toEqual([]);
      expect((await getSchema()).status?.phase).toBe('Paused');

      const resumed = await cli(['resume']);
      expect(resumed.code, resumed.stderr).toBe(0);
      await schemaWhen('version 5 Complete', (s) => s.phase === 'Complete' && s.version === '5' && s.updated === fleet.length);
      await storesAt('5');
    },
    TEST_TIMEOUT,
  );

  it(
    'finishes after the operator is killed mid-rollout, migrating no store twice and never exceeding maxConcurrent',
    async () => {
      await applySchema(schema('6', { tables: { products: withNote }, migrations: [fixed, slow] }, { maxConcurrent: 1 }));
      await eventually('one store migrated and others still waiting', async () => {
        const rows = await admissions('6');
        const updated = rows.filter((r) => r.state === 'updated').length;
        return updated >= 1 && updated <= fleet.length - 2 ? rows : undefined;
      });
      await operator.stop('SIGKILL');
      operator = await env.start();
      await schemaWhen(
        'version 6 Complete after the restart',
        (s) => s.phase === 'Complete' && s.version === '6' && s.updated === fleet.length,
      );

      const rows = await admissions('6');
      expect(rows.map((r) => r.state)).toEqual(fleet.map(() => 'updated'));
      // Never more than one store in flight: no two admissions overlap in time.
      for (const [i, row] of rows.entries()) {
        const next = rows[i + 1];
        if (next) expect(next.admitted_at.getTime()).toBeGreaterThanOrEqual((row.finished_at as Date).getTime());
      }
      // Each store ran the slow migration once and recorded version 6 once.
      for (const store of fleet) {
        const history = await withStoreDb(openStore(store), (db) =>
          db.query(
            "SELECT kind, version FROM storeop_schema_history WHERE (kind = 'migration' AND version = '0003') OR (kind = 'schema' AND version = '6')",
          ),
        );
        expect(history.map((h) => `${h.kind}:${h.version}`).sort(), store.slug).toEqual(['migration:0003', 'schema:6']);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses a destructive change without a migration, with the reason, and runs nothing',
    async () => {
      const { featured: _dropped, ...columns } = withNote.columns;
      await applySchema(schema('7', { tables: { products: { columns, indexes: products.indexes } }, migrations: [fixed, slow] }));
      const refused = await schemaWhen('version 7 refused', (s) => s.phase === 'Failed');
      expect(refused.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'DestructiveChange' });
      expect(refused.message).toMatch(/products\.featured/);
      expect(await admissions('7')).toEqual([]);
      expect((await getStores()).map((s) => s.status?.schemaVersion)).toEqual(fleet.map(() => '6'));
      const [rollout] = await postgresRows(env.master.url, 'select version from schema_rollouts where schema_name = $1', [SCHEMA]);
      expect(rollout).toEqual({ version: '6' });
      expect((await getStores()).map((s) => s.status?.phase)).toEqual(fleet.map(() => 'Ready'));
    },
    TEST_TIMEOUT,
  );
});
