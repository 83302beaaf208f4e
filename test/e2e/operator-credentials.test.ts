// The credentials lifecycle through the operator, on the real kube-apiserver, MariaDB and a PostgreSQL
// cluster of the test's own that checks passwords: the connection Secret's optional keys and templates used
// by the real clients (psql with `url` and with a pgpass file, mysql with the DSN parts), the read-only user's
// Secret (SELECT yes, INSERT no), a rotation asked for with storeop.dev/rotate-credentials (old password
// refused, the Secret's new one logs in, the master DB agrees, the read-only user rotated too), and the
// read-only user dropped with deletionPolicy Delete.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openMaster } from '../../src/master/database.js';
import { readActiveDatabaseConfig } from '../../src/master/integrations.js';
import { Keyring } from '../../src/master/keyring.js';
import { storeNames } from '../../src/naming.js';
import { mysqlClient, psql } from '../security/connection-urls.clients.js';
import { POSTGRES_URL, withPostgres } from '../support/databases.js';
import { kubectl, type RunningOperatorEnvironment, startOperatorEnvironment, TEST_ENCRYPTION_KEYS } from '../support/operator.js';
import { type PasswordPostgres, startPasswordPostgres } from '../support/password-postgres.js';
import { repoRoot } from '../support/paths.js';
import { dropStoreLeftovers, mysqlAdmin, mysqlEndpoint, uniqueSlug } from '../support/store-db.js';

const TIMEOUT = 420_000;
const run = promisify(execFile);
const myServer = mysqlEndpoint();
const REFUSED_LOGIN = /password authentication failed|Access denied/;

let passwordPostgres: PasswordPostgres;
let env: RunningOperatorEnvironment | undefined;
const slugs: string[] = [];
/** Cleanups of fixed names (the example's store) a failed run may leave on the shared server. */
const leftovers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  passwordPostgres = await startPasswordPostgres();
}, TIMEOUT);
afterAll(async () => {
  await passwordPostgres?.stop();
}, TIMEOUT);

afterEach(async () => {
  const current = env;
  env = undefined;
  const mine = slugs.splice(0);
  const extra = leftovers.splice(0);
  await current?.cleanUp([
    ...mine.flatMap((slug) => [
      () => dropStoreLeftovers('mysql', slug),
      () => mysqlAdmin([`DROP USER IF EXISTS ?@'%'`], [[storeNames(slug).mysqlReadOnlyUser]]),
    ]),
    ...extra,
  ]);
}, TIMEOUT);

const secret = (name: string, stringData: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData });

async function setUp(prefix: string): Promise<RunningOperatorEnvironment> {
  env = await startOperatorEnvironment(prefix, {
    objects: [
      secret('my-admin', { username: myServer.user || 'root', password: myServer.password ?? '' }),
      secret('pg-admin', { username: 'postgres', password: passwordPostgres.adminPassword }),
    ],
  });
  return env;
}

function store(name: string, database: Record<string, unknown>, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name, annotations },
    spec: {
      displayName: `Store ${name}`,
      owner: `${name}@example.com`,
      plan: 'starter',
      settings: { currency: 'EUR', locale: 'en-GB' },
      database,
    },
  };
}

interface Sdb {
  metadata: { annotations?: Record<string, string> };
  status?: {
    phase?: string;
    storeId?: string;
    credentials?: { lastRotationTime?: string; rotationRequest?: string; readOnlySecretName?: string };
  };
}

async function getSdb(e: RunningOperatorEnvironment, name: string): Promise<Sdb> {
  return JSON.parse((await kubectl(['-n', e.namespace, 'get', 'storedatabase', name, '-o', 'json'])).stdout) as Sdb;
}

async function secretData(e: RunningOperatorEnvironment, name: string): Promise<Record<string, string>> {
  const secret = JSON.parse((await kubectl(['-n', e.namespace, 'get', 'secret', name, '-o', 'json'])).stdout) as {
    data: Record<string, string>;
  };
  return Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

async function waitReady(e: RunningOperatorEnvironment, name: string): Promise<Sdb> {
  const ready = async () => {
    const sdb = await getSdb(e, name);
    return sdb.status?.phase === 'Ready' && sdb.status.credentials?.readOnlySecretName ? sdb : undefined;
  };
  // Generous: a first provisioning on two busy cores shared with other test runs can take minutes.
  return e.eventually(`StoreDatabase ${name} Ready with credentials recorded`, ready, 360_000);
}

/** The store's password in the master DB, decrypted with the operator's key. */
async function masterPassword(e: RunningOperatorEnvironment, storeId: string): Promise<string | undefined> {
  const master = await openMaster({ url: e.master.url, home: e.home });
  try {
    return (await readActiveDatabaseConfig(master.db, Keyring.parse(TEST_ENCRYPTION_KEYS), storeId))?.connection.password;
  } finally {
    await master.close();
  }
}

/** `mysql` with the parts of a Go driver DSN (user:password@tcp(host:port)/database). */
async function mysqlWithDsn(dsn: string, sqlText: string): Promise<string> {
  const parts = /^([^:]+):(.*)@tcp\((.+):(\d+)\)\/([^?]+)/.exec(dsn);
  expect(parts, `a DSN: ${dsn.replace(/:.*@/, ':***@')}`).not.toBeNull();
  const [, user, password, host, port, database] = parts as RegExpExecArray;
  const { stdout } = await run(
    'mysql',
    ['--protocol=TCP', '-h', host as string, '-P', port as string, '-u', user as string, '-N', '-B', database as string, '-e', sqlText],
    { env: { ...process.env, MYSQL_PWD: password }, timeout: 60_000 },
  );
  return stdout.trim();
}

/** `psql` with no password but a pgpass file holding the Secret's pgpass line. */
async function psqlWithPgpass(data: Record<string, string>, sqlText: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-pgpass-'));
  const file = join(dir, 'pgpass');
  writeFileSync(file, `${data.pgpass}\n`, { mode: 0o600 });
  try {
    const { stdout } = await run(
      'psql',
      [
        '-X',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        data.host as string,
        '-p',
        data.port as string,
        '-U',
        data.username as string,
        '-d',
        data.database as string,
        '-w',
        '-c',
        sqlText,
      ],
      { env: { ...process.env, PGPASSWORD: '', PGPASSFILE: file }, timeout: 60_000 },
    );
    return stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asks for a rotation and waits for status to say it was handled. */
async function rotate(e: RunningOperatorEnvironment, name: string, request: string, before: string | undefined): Promise<Sdb> {
  await kubectl(['-n', e.namespace, 'annotate', '--overwrite', 'storedatabase', name, `storeop.dev/rotate-credentials=${request}`]);
  return e.eventually(`rotation ${request} of ${name} handled`, async () => {
    const sdb = await getSdb(e, name);
    const c = sdb.status?.credentials;
    return c?.rotationRequest === request && c.lastRotationTime !== before && sdb.status?.phase === 'Ready' ? sdb : undefined;
  });
}

describe('operator: credentials lifecycle', () => {
  it(
    'MariaDB: jdbcUrl, dsn, uri and a template connect with the real mysql client; a rotation takes the old passwords away; the read-only user reads only and is dropped when turned off',
    async () => {
      const e = await setUp('creds-my');
      const slug = uniqueSlug();
      slugs.push(slug);
      await e.apply(
        store(slug, {
          engine: 'mysql',
          server: { host: '127.0.0.1', port: 3306, adminSecretRef: { name: 'my-admin' } },
          deletionPolicy: 'Delete',
          writeConnectionSecretToRef: {
            name: `${slug}-db`,
            keys: ['jdbcUrl', 'dsn', 'uri'],
            template: { 'app.env': 'DATABASE_URL=mysql://{{ .username }}:{{ .password }}@{{ .host }}:{{ .port }}/{{ .database }}' },
          },
          credentials: { readOnlyUser: true },
        }),
      );
      const ready = await waitReady(e, slug);
      expect(ready.status?.credentials?.lastRotationTime).toBeDefined();
      expect(ready.status?.credentials?.readOnlySecretName).toBe(`${slug}-db-readonly`);

      const data = await secretData(e, `${slug}-db`);
      expect(await mysqlWithDsn(data.dsn as string, 'select count(*) from products')).toBe('0');
      expect(await mysqlClient(data.uri as string, 'select 1')).toBe('1');
      expect(await mysqlClient((data['app.env'] as string).replace(/^DATABASE_URL=/, ''), 'select 1')).toBe('1');
      const jdbc = new URL((data.jdbcUrl as string).replace(/^jdbc:/, ''));
      const jdbcAsUrl = `mysql://${encodeURIComponent(jdbc.searchParams.get('user') as string)}:${encodeURIComponent(jdbc.searchParams.get('password') as string)}@${jdbc.host}${jdbc.pathname}`;
      expect(await mysqlClient(jdbcAsUrl, 'select 1')).toBe('1');

      const readOnly = await secretData(e, `${slug}-db-readonly`);
      expect(readOnly.username).not.toBe(data.username);
      expect(await mysqlClient(readOnly.url as string, 'select count(*) > 0 from cms_pages')).toBe('1');
      await expect(mysqlClient(readOnly.url as string, `delete from cms_pages`)).rejects.toThrow(/denied/);
      expect(Object.keys(readOnly)).toEqual(expect.arrayContaining(['dsn', 'jdbcUrl', 'uri', 'app.env']));

      const rotated = await rotate(e, slug, 'first', ready.status?.credentials?.lastRotationTime);
      const after = await secretData(e, `${slug}-db`);
      const readOnlyAfter = await secretData(e, `${slug}-db-readonly`);
      expect(after.password).not.toBe(data.password);
      expect(readOnlyAfter.password).not.toBe(readOnly.password);
      await expect(mysqlClient(data.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      await expect(mysqlClient(readOnly.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      expect(await mysqlWithDsn(after.dsn as string, 'select 1')).toBe('1');
      expect(await mysqlClient(readOnlyAfter.url as string, 'select 1')).toBe('1');
      expect(await masterPassword(e, rotated.status?.storeId as string)).toBe(after.password);
      const { stdout: events } = await kubectl([
        '-n',
        e.namespace,
        'get',
        'events',
        '--field-selector',
        'reason=CredentialsRotated',
        '-o',
        'json',
      ]);
      expect(events).toContain('CredentialsRotated');
      expect(events).not.toContain(after.password as string);
      expect(e.operator.logs()).not.toContain(after.password as string);

      // readOnlyUser turned off: the user is dropped at once, status stops naming its Secret.
      await kubectl([
        '-n',
        e.namespace,
        'patch',
        'store',
        slug,
        '--type=merge',
        '-p',
        '{"spec":{"database":{"credentials":{"readOnlyUser":false}}}}',
      ]);
      await e.eventually('the read-only user retired', async () => {
        const sdb = await getSdb(e, slug);
        return sdb.status?.phase === 'Ready' && sdb.status.credentials?.lastRotationTime && !sdb.status.credentials.readOnlySecretName;
      });
      await expect(mysqlClient(readOnlyAfter.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);

      await kubectl(['-n', e.namespace, 'delete', 'store', slug, '--wait=true', '--timeout=180s']);
      const users = (
        await run(
          'mysql',
          [
            '--protocol=TCP',
            '-h',
            '127.0.0.1',
            '-P',
            '3306',
            '-u',
            myServer.user || 'root',
            '-N',
            '-B',
            '-e',
            `select count(*) from mysql.user where user in ('${readOnly.username}', '${data.username}')`,
          ],
          { env: { ...process.env, MYSQL_PWD: myServer.password ?? '' } },
        )
      ).stdout.trim();
      expect(users).toBe('0');
    },
    TIMEOUT,
  );

  it(
    'PostgreSQL: psql connects with url and with a pgpass file; a rotation refuses the old password; the read-only user reads only and is dropped with the store',
    async () => {
      const e = await setUp('creds-pg');
      const slug = uniqueSlug();
      await e.apply(
        store(slug, {
          engine: 'postgresql',
          server: { host: passwordPostgres.host, port: passwordPostgres.port, adminSecretRef: { name: 'pg-admin' } },
          deletionPolicy: 'Delete',
          writeConnectionSecretToRef: {
            name: `${slug}-db`,
            keys: ['pgpass', 'uri', 'jdbcUrl'],
            template: {
              'psql.url': 'postgresql://{{ .username }}:{{ .password }}@{{ .host }}:{{ .port }}/{{ .database }}?application_name=tpl',
            },
          },
          credentials: { readOnlyUser: true, rotationPeriod: '720h' },
        }),
      );
      const ready = await waitReady(e, slug);
      const data = await secretData(e, `${slug}-db`);
      expect(await psql(data.url as string, 'select current_user')).toBe(data.username);
      expect(await psqlWithPgpass(data, 'select current_user')).toBe(data.username);
      expect(await psql(data.uri as string, 'select 1')).toBe('1');
      expect(await psql(data['psql.url'] as string, "select current_setting('application_name')")).toBe('tpl');
      expect(data.jdbcUrl).toMatch(/^jdbc:postgresql:\/\/127\.0\.0\.1:\d+\/store_[a-z0-9_]+\?user=[^&]+&password=[^&]+&sslmode=disable$/);

      const readOnly = await secretData(e, `${slug}-db-readonly`);
      expect(await psql(readOnly.url as string, 'select count(*) > 0 from cms_pages')).toBe('t');
      expect(await psqlWithPgpass(readOnly, 'select current_user')).toBe(readOnly.username);
      await expect(psql(readOnly.url as string, 'delete from cms_pages')).rejects.toThrow(/permission denied/);

      await rotate(e, slug, 'now', ready.status?.credentials?.lastRotationTime);
      const after = await secretData(e, `${slug}-db`);
      await expect(psql(data.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      await expect(psql(readOnly.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      expect(await psqlWithPgpass(after, 'select current_user')).toBe(after.username);
      expect(await psql((await secretData(e, `${slug}-db-readonly`)).url as string, 'select 1')).toBe('1');

      await kubectl(['-n', e.namespace, 'delete', 'store', slug, '--wait=true', '--timeout=180s']);
      const roles = await withPostgres(
        passwordPostgres.adminUrl,
        async (c) => (await c.query('select rolname from pg_roles where rolname in ($1, $2)', [readOnly.username, data.username])).rows,
      );
      expect(roles).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'rotationPeriod: the password is rotated again once the period has passed, without a request',
    async () => {
      const e = await setUp('creds-period');
      const slug = uniqueSlug();
      slugs.push(slug);
      await e.apply(
        store(slug, {
          engine: 'mysql',
          server: { host: '127.0.0.1', port: 3306, adminSecretRef: { name: 'my-admin' } },
          deletionPolicy: 'Delete',
          writeConnectionSecretToRef: { name: `${slug}-db` },
          credentials: { rotationPeriod: '1m' },
        }),
      );
      const first = await e.eventually('Ready with lastRotationTime', async () => {
        const sdb = await getSdb(e, slug);
        return sdb.status?.phase === 'Ready' && sdb.status.credentials?.lastRotationTime ? sdb : undefined;
      });
      const before = await secretData(e, `${slug}-db`);
      const rotated = await e.eventually(
        'the periodic rotation',
        async () => {
          const sdb = await getSdb(e, slug);
          const last = sdb.status?.credentials?.lastRotationTime;
          return last && last !== first.status?.credentials?.lastRotationTime && sdb.status?.phase === 'Ready' ? sdb : undefined;
        },
        360_000,
      );
      const elapsed =
        Date.parse(rotated.status?.credentials?.lastRotationTime as string) -
        Date.parse(first.status?.credentials?.lastRotationTime as string);
      expect(elapsed).toBeGreaterThanOrEqual(60_000);
      const after = await secretData(e, `${slug}-db`);
      expect(after.password).not.toBe(before.password);
      await expect(mysqlClient(before.url as string, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      expect(await mysqlClient(after.url as string, 'select 1')).toBe('1');
    },
    TIMEOUT,
  );

  it(
    'manifests/examples/credentials.yaml, applied as it is, gives a connection Secret with its keys and templates and a read-only Secret',
    async () => {
      const e = await setUp('creds-example');
      leftovers.push(
        () => dropStoreLeftovers('postgresql', 'secure-shop'),
        () => withPostgres(POSTGRES_URL, (c) => c.query(`DROP ROLE IF EXISTS ${storeNames('secure-shop').readOnlyRole}`)),
      );
      await kubectl(['-n', e.namespace, 'apply', '-f', join(repoRoot, 'manifests/examples/credentials.yaml')]);
      await waitReady(e, 'secure-shop');
      const data = await secretData(e, 'secure-shop-db');
      expect(Object.keys(data).sort()).toEqual(
        [
          'DATABASE_URL',
          'application.properties',
          'database',
          'engine',
          'host',
          'jdbcUrl',
          'password',
          'pgpass',
          'port',
          'schema',
          'uri',
          'url',
          'username',
        ].sort(),
      );
      expect(await psql(data.DATABASE_URL as string, 'select current_user')).toBe('store_secure_shop');
      expect(await psql(data.uri as string, 'select count(*) from store_settings')).not.toBe('0');
      expect(data['application.properties']).toContain(`spring.datasource.password=${data.password}\n`);
      const readOnly = await secretData(e, 'secure-shop-db-readonly');
      expect(await psql(readOnly.url as string, 'select current_user')).toBe('ro_store_secure_shop');
      await expect(psql(readOnly.url as string, 'delete from store_settings')).rejects.toThrow(/permission denied/);
    },
    TIMEOUT,
  );
});
