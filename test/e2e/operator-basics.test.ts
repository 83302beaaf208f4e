// The operator end to end: kubectl apply of Stores on a real kube-apiserver, reconciled by `storeop run`
// running as a user bound only to manifests/ RBAC, against the real PostgreSQL and MariaDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, POSTGRES_URL, postgresRows, type TempDatabase, withPostgres } from '../support/databases.js';
import { kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from '../support/operator.js';
import { dropStoreLeftovers } from '../support/store-db.js';

const pgUrl = new URL(POSTGRES_URL);
const myUrl = new URL(MYSQL_URL);

function adminSecret(name: string, username: string, password: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { username, password } });
}

function store(name: string, database: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name },
    spec: { displayName: `Store ${name}`, owner: `${name}@example.com`, plan: 'starter', database, ...extra },
  });
}

describe('operator', () => {
  let env: OperatorEnvironment | undefined;
  let namespace: string;
  let master: TempDatabase;
  let operator: OperatorProcess;
  const created: Array<{ engine: 'postgresql' | 'mysql'; slug: string }> = [];

  beforeAll(async () => {
    env = await operatorEnvironment('op');
    ({ namespace, master } = env);
    operator = await env.start();
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      [
        adminSecret('pg-admin', pgUrl.username || 'postgres', 'trust-auth-ignores-it'),
        adminSecret('my-admin', myUrl.username || 'root', ''),
      ].join('\n'),
    );
  });

  afterAll(async () => {
    try {
      await env?.tearDown();
    } finally {
      for (const { engine, slug } of created) await dropStoreLeftovers(engine, slug);
    }
  });

  it('makes a Store with an inline PostgreSQL database Ready', async () => {
    const name = `pg-${Math.random().toString(36).slice(2, 8)}`;
    created.push({ engine: 'postgresql', slug: name });
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      store(name, {
        engine: 'postgresql',
        mode: 'create',
        server: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), adminSecretRef: { name: 'pg-admin' } },
        writeConnectionSecretToRef: { name: `${name}-conn` },
        deletionPolicy: 'Delete',
      }),
    );
    await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=90s', `store/${name}`]).catch((error) => {
      throw new Error(`${error.message}\n${operator.logs().slice(-4000)}`);
    });
    const { stdout } = await kubectl(['-n', namespace, 'get', 'secret', `${name}-conn`, '-o', 'json']);
    const data = JSON.parse(stdout).data as Record<string, string>;
    const url = Buffer.from(data.url as string, 'base64').toString();
    await withPostgres(url, async (client) => {
      const tables = await client.query(
        "select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name in ('products','orders','order_items','customers')",
      );
      expect(tables.rows[0].n).toBe(4);
      const who = await client.query('select current_user as u');
      expect(who.rows[0].u).toBe(`store_${name.replace('-', '_')}`);
    });
    const [row] = await postgresRows(
      master.url,
      'select s.database_status, s.subscription_plan, (select count(*)::int from integration_configs c where c.store_id = s.id and c.is_active) as configs from stores s where slug = $1',
      [name],
    );
    expect(row).toMatchObject({ database_status: 'active', subscription_plan: 'starter', configs: 1 });
  });
});
