// Proves the test environment is real: queries on PostgreSQL and MariaDB, and a kube-apiserver that
// both @kubernetes/client-node and kubectl talk to.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, CoreV1Api } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { MYSQL_URL, POSTGRES_URL } from '../support/databases.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';

const run = promisify(execFile);

describe('test environment', () => {
  it('runs a query on PostgreSQL', async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string; sum: number }>('SELECT version() AS version, 40 + 2 AS sum');
      expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/);
      expect(rows[0]?.sum).toBe(42);
    } finally {
      await client.end();
    }
  });

  it('runs a query on MariaDB', async () => {
    const conn = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version, 40 + 2 AS sum');
      expect(String(rows[0]?.version)).toMatch(/MariaDB|^\d+\.\d+/);
      expect(Number(rows[0]?.sum)).toBe(42);
    } finally {
      await conn.end();
    }
  });

  it('creates a namespace and a CustomResourceDefinition on kube-apiserver and reads them back', async () => {
    const kc = adminKubeConfig();
    const namespace = await createTestNamespace(kc, 'env');
    const read = await kc.makeApiClient(CoreV1Api).readNamespace({ name: namespace });
    expect(read.metadata?.name).toBe(namespace);

    const group = `${namespace}.example.com`;
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } },
              },
            },
          ],
        },
      },
    });
    const crd = await extensions.readCustomResourceDefinition({ name: `widgets.${group}` });
    expect(crd.spec.group).toBe(group);
    expect(crd.spec.names.kind).toBe('Widget');
    await extensions.deleteCustomResourceDefinition({ name: `widgets.${group}` });
  });

  it('answers kubectl get namespaces', async () => {
    const kc = adminKubeConfig();
    const namespace = await createTestNamespace(kc, 'kubectl');
    const { stdout } = await run('kubectl', ['--kubeconfig', inject('kubeconfigPath'), 'get', 'namespaces', '-o', 'name']);
    expect(stdout.split('\n')).toContain(`namespace/${namespace}`);
    expect(stdout).toContain('namespace/default');
  });
});
