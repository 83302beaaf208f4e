// `storeop schema plan --kubeconfig` (issue 13): the fleet as the operator sees it, through the real
// kube-apiserver. An operator provisions Stores on the real PostgreSQL and MariaDB with a StoreSchema of their
// own; one store gets a hand-made column of another type; the plan of the next version, read through the
// Stores, StoreDatabases and Secrets of the cluster, lists each store's statements and that store's conflict,
// exits 1, and changes nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { type CliRun, runStoreop } from '../support/cli.js';
import { MYSQL_URL, POSTGRES_URL } from '../support/databases.js';
import { kubectl, type RunningOperatorEnvironment, startOperatorEnvironment } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';
import { dropStoreLeftovers, openMysql, openPostgres, type StoreDb, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';

const TEST_TIMEOUT = 600_000;
const pgUrl = new URL(POSTGRES_URL);
const myUrl = new URL(MYSQL_URL);
const SCHEMA = `plan-${uniqueSlug().slice(2)}`;

type Engine = 'postgresql' | 'mysql';
const fleet: Array<{ slug: string; engine: Engine }> = [
  { slug: uniqueSlug(), engine: 'postgresql' },
  { slug: uniqueSlug(), engine: 'postgresql' },
  { slug: uniqueSlug(), engine: 'mysql' },
];
const [plain, conflicting, mariadb] = fleet as [(typeof fleet)[0], (typeof fleet)[0], (typeof fleet)[0]];

const products = {
  columns: {
    id: { kind: 'id' },
    sku: { kind: 'string', length: 64 },
    price: { kind: 'decimal', precision: 12, scale: 2, default: '0.00' },
  },
  indexes: [{ columns: ['sku'], unique: true }],
};

function schemaDoc(version: string, tables: Record<string, unknown>) {
  return { apiVersion: 'storeop.dev/v1alpha1', kind: 'StoreSchema', metadata: { name: SCHEMA }, spec: { version, tables } };
}

function storeObject({ slug, engine }: (typeof fleet)[0]) {
  const server =
    engine === 'postgresql'
      ? { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), adminSecretRef: { name: 'pg-admin' } }
      : { host: myUrl.hostname, port: Number(myUrl.port || 3306), adminSecretRef: { name: 'my-admin' } };
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: slug },
    spec: {
      displayName: `Store ${slug}`,
      schemaRef: { name: SCHEMA },
      database: {
        engine,
        mode: 'create',
        server,
        seed: false,
        // Retain: the cleanup drops the databases itself, so deleting the Stores is quick on a busy machine.
        deletionPolicy: 'Retain',
        writeConnectionSecretToRef: { name: `${slug}-db` },
      },
    },
  };
}

const open = (store: (typeof fleet)[0]): Promise<StoreDb> =>
  store.engine === 'postgresql' ? openPostgres(storeName(store.slug)) : openMysql(storeName(store.slug));
const columns = (store: (typeof fleet)[0]) =>
  withStoreDb(open(store), (db) =>
    db.query(
      `select column_name as name from information_schema.columns where table_name = 'products' and table_schema = ${store.engine === 'postgresql' ? "'public'" : 'database()'} order by ordinal_position`,
    ),
  ).then((rows) => rows.map((r) => String(r.name)));

const describeRun = (r: CliRun) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('storeop schema plan through the API server', () => {
  let env: RunningOperatorEnvironment;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'storeop-plan-cluster-'));
    const secret = (name: string, username: string, password: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name },
      stringData: { username, password },
    });
    env = await startOperatorEnvironment('schemaplan', {
      objects: [
        secret('pg-admin', pgUrl.username || 'postgres', 'trust-auth-ignores-it'),
        secret('my-admin', myUrl.username || 'root', ''),
      ],
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(schemaDoc('1', { products })));
    await env.apply(...fleet.map(storeObject));
    await env.eventually(
      'every Store Ready at version 1',
      async () => {
        const { stdout } = await kubectl(['-n', env.namespace, 'get', 'stores', '-o', 'json']);
        const items = (JSON.parse(stdout) as { items: Array<{ status?: { phase?: string; schemaVersion?: string } }> }).items;
        return items.length === fleet.length && items.every((s) => s.status?.phase === 'Ready' && s.status.schemaVersion === '1');
      },
      300_000,
    );
  }, TEST_TIMEOUT);

  afterAll(async () => {
    await env?.cleanUp([
      () => kubectl(['delete', 'storeschema', SCHEMA, '--ignore-not-found']),
      ...fleet.map((s) => () => dropStoreLeftovers(s.engine, s.slug)),
      () => rmSync(dir, { recursive: true, force: true }),
    ]);
  }, TEST_TIMEOUT);

  it(
    'lists each store’s statements from the cluster’s view, and the store with a hand-made column of another type as a conflict',
    async () => {
      await withStoreDb(open(conflicting), (db) => db.query('alter table products add column gift_wrap integer'));
      const v2 = join(dir, 'v2.yaml');
      const withGiftWrap = { ...products, columns: { ...products.columns, gift_wrap: { kind: 'boolean', default: false } } };
      writeFileSync(v2, stringify(schemaDoc('2', { products: withGiftWrap })));
      const planned = await runStoreop(
        ['schema', 'plan', '-f', v2, '--kubeconfig', inject('kubeconfigPath'), '--namespace', env.namespace],
        {
          cwd: repoRoot,
          env: process.env,
          timeoutMs: 240_000,
        },
      );
      expect(planned.code, describeRun(planned)).toBe(1);
      const out = planned.stdout;
      expect(out).toContain(`StoreSchema ${SCHEMA} version 2 (the cluster has 1)`);
      expect(out).toContain('  addColumn products.gift_wrap: new column boolean not null default false');
      expect(out).toContain(`3 store(s) use StoreSchema ${SCHEMA}:`);
      expect(out).toMatch(
        new RegExp(
          `  store ${plain.slug} \\(postgresql, 127\\.0\\.0\\.1:5432, database ${storeName(plain.slug)}, at version 1\\): 1 change\\(s\\), 0 migration\\(s\\)\\n    alter table "products" add column "gift_wrap" boolean default false not null;\\n`,
        ),
      );
      expect(out).toMatch(
        new RegExp(`  store ${mariadb.slug} \\(mysql, .*, at version 1\\): 1 change\\(s\\), 0 migration\\(s\\)\\n    alter table`),
      );
      expect(out).toMatch(
        new RegExp(
          `  store ${conflicting.slug} \\(.*, at version 1\\): CONFLICTS, it would stop and change nothing: products\\.gift_wrap: found integer, expected boolean`,
        ),
      );
      expect(out).not.toContain('could not be checked');
      expect(planned.stderr).not.toMatch(/password|trust-auth-ignores-it/i);
      // A plan changes nothing: no column added, the cluster's StoreSchema still at version 1.
      expect(await columns(plain)).toEqual(['id', 'sku', 'price']);
      expect(await columns(mariadb)).toEqual(['id', 'sku', 'price']);
      const { stdout } = await kubectl(['get', 'storeschema', SCHEMA, '-o', 'jsonpath={.spec.version}']);
      expect(stdout).toBe('1');
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses cluster flags without --kubeconfig, and mixing cluster and master flags, in one line',
    async () => {
      const v2 = join(dir, 'flags.yaml');
      writeFileSync(v2, stringify(schemaDoc('2', { products })));
      const cases: Array<[string[], RegExp]> = [
        [['--namespace', 'shop'], /--namespace and --operator-namespace need --kubeconfig/],
        [['--kubeconfig', inject('kubeconfigPath'), '--home', dir], /exclude each other/],
        [['--kubeconfig', inject('kubeconfigPath'), '--namespace', 'Not_A_Namespace'], /--namespace: /],
      ];
      for (const [flags, message] of cases) {
        const run = await runStoreop(['schema', 'plan', '-f', v2, ...flags], { cwd: repoRoot, env: process.env, timeoutMs: 240_000 });
        expect(run.code, describeRun(run)).toBe(2);
        expect(run.stderr).toMatch(message);
        expect(run.stderr).not.toMatch(/\n\s+at /);
      }
    },
    TEST_TIMEOUT,
  );
});
