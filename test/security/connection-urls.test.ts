// Issue 12, finding 12: the `url` storeop hands to apps (the connection Secret's `url`, the CLI's
// DATABASE_URL; both are connectionUrl() of the provisioned connection) must work for every client, not
// only node-postgres: the real `psql` (libpq, as psycopg, Ruby pg and PHP use it) and `mysql` clients
// connect with it to the store's own schema / database as the store's own role / user.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionUrl, parseDatabaseUrl } from '../../src/engines/url.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { runStoreop } from '../support/cli.js';
import { POSTGRES_URL } from '../support/databases.js';
import { dropPostgresDatabase, mysqlCreateTarget, postgresCreateTarget, StoreCleanup, storeName } from '../support/store-db.js';
import { mysqlClient, psql } from './connection-urls.clients.js';

const crsSlug = (what: string) => `crs-${what}-${randomBytes(4).toString('hex')}`;
/** A password with every character a URL must encode, to show the URL carries it intact. */
const PASSWORD = `crs P@ss:w/rd+%?#&=${randomBytes(6).toString('hex')}`;

describe('connection URLs work with the real psql and mysql clients', () => {
  const cleanup = new StoreCleanup();
  const sharedDatabases: string[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    try {
      await cleanup.run();
    } finally {
      for (const database of sharedDatabases) await dropPostgresDatabase(database);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a schema-isolated PostgreSQL store: psql "$url" lands in the store schema as the store role; node-postgres and storeop read the same URL', async () => {
    const slug = crsSlug('url-pg');
    const shared = `crs_urls_${randomBytes(4).toString('hex')}`;
    sharedDatabases.push(shared);
    const target = cleanup.track(postgresCreateTarget({ isolation: 'schema', databaseName: shared }), slug);
    const result = await provision({ slug, target, password: PASSWORD, seed: false });
    const url = connectionUrl(result.connection, { includePassword: true });

    expect(await psql(url, 'select current_schema(), current_user')).toBe(`${storeName(slug)}|${storeName(slug)}`);
    // Spaces as %20, never '+', which libpq does not decode.
    expect(new URL(url).search).toBe(`?options=-c%20search_path%3D${storeName(slug)}`);
    expect(url).not.toContain('+');
    // The store's tables resolve unqualified, as an app's queries name them.
    expect(await psql(url, 'select count(*) from products')).toBe('0');

    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ schema: string; role: string }>('select current_schema() as schema, current_user as role');
      expect(rows).toEqual([{ schema: storeName(slug), role: storeName(slug) }]);
    } finally {
      await client.end();
    }

    expect(parseDatabaseUrl(url).endpoint).toMatchObject({
      host: result.connection.host,
      port: result.connection.port,
      user: storeName(slug),
      password: PASSWORD,
      database: shared,
    });
  });

  it('a MariaDB store: the mysql client with the URL parts reaches the store database as the store user', async () => {
    const slug = crsSlug('url-my');
    const target = cleanup.track(mysqlCreateTarget(), slug);
    const result = await provision({ slug, target, password: PASSWORD, seed: false });
    const url = connectionUrl(result.connection, { includePassword: true });

    expect(url).toMatch(/^mysql:\/\//);
    expect(await mysqlClient(url, 'select database(), current_user()')).toBe(`${storeName(slug)}\t${storeName(slug)}@%`);
    expect(await mysqlClient(url, 'select count(*) from products')).toBe('0');
  });

  it("storeop provision --isolation schema: the credentials file's DATABASE_URL works with psql", async () => {
    const slug = crsSlug('url-cli');
    const shared = `crs_urls_${randomBytes(4).toString('hex')}`;
    sharedDatabases.push(shared);
    cleanup.track(postgresCreateTarget({ isolation: 'schema', databaseName: shared }), slug);
    const cwd = mkdtempSync(join(tmpdir(), 'storeop-crs-urls-'));
    dirs.push(cwd);
    const server = new URL(POSTGRES_URL);
    const env: NodeJS.ProcessEnv = { ...process.env, STOREOP_HOME: join(cwd, '.storeop') };
    delete env.STOREOP_MASTER_DATABASE_URL;
    const cli = await runStoreop(
      [
        'provision',
        '--admin-url',
        POSTGRES_URL,
        '--database-url',
        `postgres://${server.host}/${shared}`,
        '--isolation',
        'schema',
        '--store',
        slug,
        '--no-seed',
        '--credentials-file',
        join(cwd, 'store.env'),
      ],
      { cwd, env, timeoutMs: 180_000 },
    );
    expect(cli.code, cli.stderr).toBe(0);
    const url = /^DATABASE_URL=(.*)$/m.exec(readFileSync(join(cwd, 'store.env'), 'utf8'))?.[1];
    expect(url).toBeDefined();
    expect(await psql(url as string, 'select current_schema(), current_user')).toBe(`${storeName(slug)}|${storeName(slug)}`);
    expect(url).toContain('options=-c%20search_path%3D');
  });
});
