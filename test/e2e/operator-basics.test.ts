// The operator end to end: kubectl apply of Stores on a real kube-apiserver, reconciled by `storeop run`
// running as a user bound only to manifests/ RBAC, against the real PostgreSQL and MariaDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import { createPostgresDatabase, MYSQL_URL, POSTGRES_URL, type TempDatabase } from '../support/databases.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { installOperatorPrerequisites, kubectl, type OperatorProcess, startOperator } from '../support/operator.js';

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
  let namespace: string;
  let master: TempDatabase;
  let home: string;
  let operator: OperatorProcess;
  const created: Array<{ engine: 'postgresql' | 'mysql'; slug: string }> = [];

  beforeAll(async () => {
    await installOperatorPrerequisites();
    namespace = await createTestNamespace(adminKubeConfig(), 'op');
    master = await createPostgresDatabase('master');
    home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
    operator = await startOperator({
      masterUrl: master.url,
      home,
      namespace,
      env: { STOREOP_ENCRYPTION_KEYS: 'test:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=' },
    });
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      [
        adminSecret('pg-admin', pgUrl.username || 'postgres', 'trust-auth-ignores-it'),
        adminSecret('my-admin', myUrl.username || 'root', ''),
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await operator?.stop();
    for (const { engine, slug } of created) {
      const admin =
        engine === 'postgresql'
          ? { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: 'postgres' }
          : { host: myUrl.hostname, port: Number(myUrl.port || 3306), user: 'root' };
      await engineFor(engine)
        .deprovision({ engine, mode: 'create', admin }, slug)
        .catch(() => {});
    }
    await master?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
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
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const tables = await client.query(
        "select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name in ('products','orders','order_items','customers')",
      );
      expect(tables.rows[0].n).toBe(4);
      const who = await client.query('select current_user as u');
      expect(who.rows[0].u).toBe(`store_${name.replace('-', '_')}`);
    } finally {
      await client.end();
    }
    const masterClient = new pg.Client({ connectionString: master.url });
    await masterClient.connect();
    try {
      const row = await masterClient.query(
        'select s.database_status, s.subscription_plan, (select count(*)::int from integration_configs c where c.store_id = s.id and c.is_active) as configs from stores s where slug = $1',
        [name],
      );
      expect(row.rows[0]).toMatchObject({ database_status: 'active', subscription_plan: 'starter', configs: 1 });
    } finally {
      await masterClient.end();
    }
  });
});
