// The README's "Running the operator against a cluster" session, step by step: the operator running as
// the RBAC-bound user, `kubectl apply -f manifests/examples/postgres-create.yaml`, `kubectl wait
// --for=condition=Ready store/pg-shop`, `kubectl get stores,storedatabases` and the `storeop` category.
// The example is applied as written except for spec.slug, so that the store's database name cannot clash
// with the CLI tests, which apply the same example to the same PostgreSQL server at the same time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubectl, type OperatorEnvironment, operatorEnvironment } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';
import { dropStoreLeftovers, openPostgres, STORE_TABLES, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';

describe('README: the operator against a cluster', () => {
  const slug = uniqueSlug();
  let env: OperatorEnvironment | undefined;
  let namespace: string;

  beforeAll(async () => {
    env = await operatorEnvironment('readme');
    namespace = env.namespace;
    await env.start();
  });

  afterAll(async () => {
    try {
      await env?.tearDown();
    } finally {
      // deletionPolicy: Retain keeps the database: drop it here.
      await dropStoreLeftovers('postgresql', slug);
    }
  });

  it('kubectl apply of the PostgreSQL example, kubectl wait for Ready, and kubectl get show the store', async () => {
    const documents = parseAllDocuments(readFileSync(join(repoRoot, 'manifests/examples/postgres-create.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    ) as Array<{ kind: string; metadata: { name: string }; spec?: Record<string, unknown> }>;
    const store = documents.find((d) => d.kind === 'Store');
    expect(store?.metadata.name).toBe('pg-shop');
    (store?.spec as Record<string, unknown>).slug = slug;
    await kubectl(['-n', namespace, 'apply', '-f', '-'], documents.map((d) => JSON.stringify(d)).join('\n'));

    await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=120s', 'store/pg-shop']);

    const { stdout: table } = await kubectl(['-n', namespace, 'get', 'stores,storedatabases']);
    expect(table).toMatch(/store\.storeop\.dev\/pg-shop\s+.*Ready/);
    expect(table).toMatch(/storedatabase\.storeop\.dev\/pg-shop\s+.*Ready/);
    const { stdout: category } = await kubectl(['-n', namespace, 'get', 'storeop', '-o', 'name']);
    // The category also lists the cluster-scoped kinds (storeop-default, and other test files' servers, schemas and plans).
    const names = category.split('\n').filter(Boolean);
    const clusterScoped = (name: string) =>
      ['storeschema', 'databaseserver', 'storeplan'].some((kind) => name.startsWith(`${kind}.storeop.dev/`));
    expect(names.filter((n) => !clusterScoped(n)).sort()).toEqual(['store.storeop.dev/pg-shop', 'storedatabase.storeop.dev/pg-shop']);
    expect(names).toContain('storeschema.storeop.dev/storeop-default');

    // The database exists with the store's tables, and the app's connection Secret names it.
    const tables = await withStoreDb(openPostgres(storeName(slug)), async (db) =>
      (await db.query("select table_name from information_schema.tables where table_schema = 'public'")).map((r) => r.table_name),
    );
    expect(tables).toEqual(expect.arrayContaining(STORE_TABLES));
    const { stdout: secret } = await kubectl(['-n', namespace, 'get', 'secret', 'pg-shop-db', '-o', 'jsonpath={.data.database}']);
    expect(Buffer.from(secret, 'base64').toString()).toBe(storeName(slug));
  });
});
