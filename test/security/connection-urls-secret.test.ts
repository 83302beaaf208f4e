// Issue 12, finding 12, through the operator: the `url` key of the connection Secret that `storeop run`
// writes for a schema-isolated PostgreSQL store and for a MariaDB store works with the real `psql` and
// `mysql` clients, landing in the store's own schema / database as the store's own role / user.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runEveryStep } from '../support/cleanup.js';
import { kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from '../support/operator.js';
import { dropPostgresDatabase, dropStoreLeftovers, mysqlEndpoint, postgresEndpoint, storeName } from '../support/store-db.js';
import { mysqlClient, psql } from './connection-urls.clients.js';

const pgServer = postgresEndpoint();
const myServer = mysqlEndpoint();
const crsSlug = (what: string) => `crs-${what}-${randomBytes(4).toString('hex')}`;

let env: (OperatorEnvironment & { operator?: OperatorProcess; cleanups: Array<() => Promise<unknown>> }) | undefined;

afterEach(async () => {
  const current = env;
  env = undefined;
  if (!current) return;
  await runEveryStep('cleanup failed', [
    // Deleted while the operator runs, so that it drops the stores (deletionPolicy Delete) and their finalizers.
    () => kubectl(['-n', current.namespace, 'delete', 'stores', '--all', '--wait=true', '--timeout=120s']),
    () => current.tearDown(),
    ...current.cleanups,
  ]);
});

const apply = (...objects: Record<string, unknown>[]) =>
  kubectl(['-n', (env as OperatorEnvironment).namespace, 'apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));

const secret = (name: string, stringData: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData });

const store = (name: string, database: Record<string, unknown>) => ({
  apiVersion: 'storeop.dev/v1alpha1',
  kind: 'Store',
  metadata: { name },
  spec: {
    displayName: `Store ${name}`,
    owner: `${name}@example.com`,
    plan: 'starter',
    database: { ...database, writeConnectionSecretToRef: { name: `${name}-conn` }, deletionPolicy: 'Delete', seed: false },
  },
});

async function waitReady(name: string): Promise<void> {
  await kubectl(['-n', (env as OperatorEnvironment).namespace, 'wait', '--for=condition=Ready', '--timeout=240s', `store/${name}`]).catch(
    (error: Error) => {
      throw new Error(`${error.message}\n--- operator logs ---\n${env?.operator?.logs().slice(-6000)}`);
    },
  );
}

async function secretUrl(name: string): Promise<string> {
  const { stdout } = await kubectl(['-n', (env as OperatorEnvironment).namespace, 'get', 'secret', `${name}-conn`, '-o', 'json']);
  const data = (JSON.parse(stdout) as { data: Record<string, string> }).data;
  return Buffer.from(data.url as string, 'base64').toString();
}

describe("the connection Secret's url", () => {
  it('works with psql for a schema-isolated PostgreSQL store and with mysql for a MariaDB store', { timeout: 600_000 }, async () => {
    const environment = await operatorEnvironment('crs-urls');
    env = { ...environment, cleanups: [] };
    env.operator = await environment.start();
    const pgSlug = crsSlug('sec-pg');
    const mySlug = crsSlug('sec-my');
    const shared = `crs_urls_${randomBytes(4).toString('hex')}`;
    env.cleanups.push(
      () => dropStoreLeftovers('postgresql', pgSlug),
      () => dropStoreLeftovers('mysql', mySlug),
      () => dropPostgresDatabase(shared),
    );
    await apply(
      secret('pg-admin', { username: pgServer.user || 'postgres', password: 'trust-auth-ignores-it' }),
      secret('my-admin', { username: myServer.user || 'root', password: myServer.password ?? '' }),
      store(pgSlug, {
        engine: 'postgresql',
        mode: 'create',
        isolation: 'schema',
        databaseName: shared,
        server: { host: pgServer.host, port: pgServer.port, adminSecretRef: { name: 'pg-admin' } },
      }),
      store(mySlug, {
        engine: 'mysql',
        mode: 'create',
        server: { host: myServer.host, port: myServer.port, adminSecretRef: { name: 'my-admin' } },
      }),
    );
    await waitReady(pgSlug);
    await waitReady(mySlug);

    const pgUrl = await secretUrl(pgSlug);
    expect(await psql(pgUrl, 'select current_schema(), current_user')).toBe(`${storeName(pgSlug)}|${storeName(pgSlug)}`);
    expect(await psql(pgUrl, 'select count(*) from products')).toBe('0');

    // MariaDB checks the password: the Secret's url carries the store user's real one.
    const myUrl = await secretUrl(mySlug);
    expect(await mysqlClient(myUrl, 'select database(), current_user()')).toBe(`${storeName(mySlug)}\t${storeName(mySlug)}@%`);
    expect(await mysqlClient(myUrl, 'select count(*) from products')).toBe('0');
  });
});
