// `storeop apply` / `storeop get` / `storeop plan` as a user runs them: the CLI as a child process (the Node 22
// binary, stdout and stderr piped, so never a TTY) in a fresh working directory, where the embedded default
// ./.storeop/ lands. Every example in manifests/examples/ is applied (the PostgreSQL and MariaDB ones against
// the local servers); broken manifests must fail with one line naming file, document and field, and change nothing.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { engineFor } from '../../src/engines/index.js';
import { runEveryStep } from '../support/cleanup.js';
import { type CliRun, killRunningCli, runStoreop } from '../support/cli.js';
import { createPostgresDatabase, type TempDatabase } from '../support/databases.js';
import { cliEntry, repoRoot } from '../support/paths.js';
import {
  dropPostgresDatabase,
  expectProvisionedStore,
  mysqlCreateTarget,
  mysqlEndpoint,
  openMysql,
  openPgliteFolder,
  openPostgres,
  postgresAdmin,
  postgresCreateTarget,
  readStoreState,
  STORE_TABLES,
  type StoreDb,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const EXAMPLES = join(repoRoot, 'manifests/examples');
const RUN_TIMEOUT_MS = 180_000;
const TEST_TIMEOUT_MS = 300_000;

const tempDirs: string[] = [];

/** Runs `storeop ARGS` in `cwd` with pipes for stdin/stdout/stderr, as a shell pipeline would. */
function storeop(args: string[], options: { cwd: string; input?: string; env?: Record<string, string> }): Promise<CliRun> {
  // The child sees none of the test environment's storeop settings (the README's defaults apply) and no CI
  // flag: plain progress lines must come from output not being a terminal.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('STOREOP_') && key !== 'CI' && key !== 'FORCE_COLOR') env[key] = value;
  }
  Object.assign(env, options.env);
  return runStoreop(args, { cwd: options.cwd, env, input: options.input ?? '', timeoutMs: RUN_TIMEOUT_MS });
}

function describeRun(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

async function expectSuccess(run: Promise<CliRun>): Promise<CliRun> {
  const result = await run;
  expect(result.code, describeRun(result)).toBe(0);
  return result;
}

/** A fresh working directory holding a copy of manifests/examples/, so the README's relative paths work. */
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-cli-'));
  tempDirs.push(dir);
  cpSync(EXAMPLES, join(dir, 'manifests/examples'), { recursive: true });
  return dir;
}

/** The rows of a table printed by formatTable (columns split on runs of two or more spaces). */
function parseTable(text: string): Record<string, string>[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('STORE '));
  expect(start, `no table in:\n${text}`).toBeGreaterThanOrEqual(0);
  const headers = (lines[start] as string).trim().split(/\s{2,}/);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 1)) {
    const cells = line.trim().split(/\s{2,}/);
    if (cells.length !== headers.length) break;
    rows.push(Object.fromEntries(headers.map((h, i) => [h, cells[i] as string])));
  }
  return rows;
}

/** Every row of every table of a database, as JSON, for "nothing changed" comparisons. */
async function dumpDatabase(db: StoreDb, exclude: string[] = []): Promise<Record<string, string>> {
  const tables = await db.query(
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
  );
  const dump: Record<string, string> = {};
  for (const { table_name } of tables) {
    const name = String(table_name);
    if (exclude.includes(name)) continue;
    const rows = await db.query(`select * from ${pg.escapeIdentifier(name)} order by 1`);
    dump[name] = JSON.stringify(rows);
  }
  return dump;
}

const dumpFolder = (dataDir: string, exclude: string[] = []) => withStoreDb(openPgliteFolder(dataDir), (db) => dumpDatabase(db, exclude));

/** The quickstart applied in a fresh folder, and a check that its embedded master and store are still as they were then. */
async function appliedQuickstart(): Promise<{ dir: string; home: string; expectUntouched(): Promise<void> }> {
  const dir = freshDir();
  await expectSuccess(storeop(['apply', '-f', 'manifests/examples/quickstart.yaml'], { cwd: dir }));
  const home = join(dir, '.storeop');
  const masterBefore = await dumpFolder(join(home, 'master'));
  const storeBefore = await dumpFolder(join(home, 'stores/demo-shop'));
  return {
    dir,
    home,
    async expectUntouched() {
      expect(await dumpFolder(join(home, 'master'))).toEqual(masterBefore);
      expect(await dumpFolder(join(home, 'stores/demo-shop'))).toEqual(storeBefore);
    },
  };
}

/** The embedded master DB holds no store (or was never created). */
async function expectNoStores(dir: string): Promise<void> {
  const home = join(dir, '.storeop');
  if (existsSync(join(home, 'master'))) {
    const rows = await withStoreDb(openPgliteFolder(join(home, 'master')), (db) => db.query('select slug from stores'));
    expect(rows).toEqual([]);
  }
  const stores = join(home, 'stores');
  expect(existsSync(stores) ? readdirSync(stores) : []).toEqual([]);
}

async function pgDatabaseExists(name: string): Promise<boolean> {
  return postgresAdmin(async (c) => ((await c.query('select 1 from pg_database where datname = $1', [name])).rowCount ?? 0) > 0);
}

async function pgRoleExists(name: string): Promise<boolean> {
  return postgresAdmin(async (c) => ((await c.query('select 1 from pg_roles where rolname = $1', [name])).rowCount ?? 0) > 0);
}

async function mysqlExists(name: string): Promise<{ database: boolean; user: boolean }> {
  const conn = await mysql.createConnection(mysqlEndpoint());
  try {
    const [schemata] = await conn.query<mysql.RowDataPacket[]>('select 1 from information_schema.schemata where schema_name = ?', [name]);
    const [users] = await conn.query<mysql.RowDataPacket[]>('select 1 from mysql.user where user = ?', [name]);
    return { database: schemata.length > 0, user: users.length > 0 };
  } finally {
    await conn.end();
  }
}

async function tablesOf(db: StoreDb): Promise<string[]> {
  const rows =
    db.dialect === 'postgres'
      ? await db.query(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`)
      : await db.query(
          `select table_name as table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'`,
          [db.schema],
        );
  return rows.map((r) => String(r.table_name)).sort();
}

// The examples' fixed names (slug pg-shop and maria-shop in create mode, the existing legacy_shop database of
// connect.yaml): removed before the file (an aborted earlier run) and after every test.
const LEGACY_DATABASE = 'legacy_shop';
async function cleanExampleServers(): Promise<void> {
  await engineFor('postgresql').deprovision(postgresCreateTarget(), 'pg-shop');
  await engineFor('mysql').deprovision(mysqlCreateTarget(), 'maria-shop');
  await engineFor('postgresql').deprovision(postgresCreateTarget(), 'eu-shop');
  await dropPostgresDatabase(LEGACY_DATABASE);
}

/** connect.yaml's precondition: an existing database with a table and a row of its own. */
async function createLegacyDatabase(): Promise<void> {
  await postgresAdmin((c) => c.query(`CREATE DATABASE ${LEGACY_DATABASE}`));
  await postgresAdmin(async (c) => {
    await c.query('CREATE TABLE legacy_orders (id serial primary key, reference text not null)');
    await c.query(`INSERT INTO legacy_orders (reference) VALUES ('L-0001')`);
  }, LEGACY_DATABASE);
}

/** Slugs of stores that broken-manifest tests declare on the servers: must never be created, removed if they were. */
const serverSlugs: string[] = [];

beforeAll(cleanExampleServers);

afterEach(async () => {
  killRunningCli();
  await runEveryStep('cleanup failed', [
    cleanExampleServers,
    ...serverSlugs
      .splice(0)
      .flatMap((slug) => [
        () => engineFor('postgresql').deprovision(postgresCreateTarget(), slug),
        () => engineFor('mysql').deprovision(mysqlCreateTarget(), slug),
      ]),
    ...tempDirs.splice(0).map((dir) => () => rmSync(dir, { recursive: true, force: true })),
  ]);
});

const QUICKSTART_SEED = { currency: 'EUR', locale: 'en-GB', displayName: 'Demo Shop' };

describe('the README main job: storeop apply -f manifests/examples/quickstart.yaml on the embedded default', () => {
  it(
    'creates the quick-start store in ./.storeop, get shows it Ready, and a second apply reports and makes no changes',
    async () => {
      const dir = freshDir();
      const first = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/quickstart.yaml'], { cwd: dir }));

      const home = join(dir, '.storeop');
      const [row] = parseTable(first.stdout);
      expect(parseTable(first.stdout)).toHaveLength(1);
      expect(row).toEqual({
        STORE: 'demo-shop',
        ENGINE: 'pglite',
        DATABASE: `pglite://${join(home, 'stores/demo-shop')}`,
        PHASE: 'Ready',
        TABLES: '13/13',
        DURATION: expect.stringMatching(/^\d+ms$/),
      });
      expect(first.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready');

      // What the README says it creates: the embedded master DB, a generated key (0600), the store's database.
      expect(statSync(join(home, 'master')).isDirectory()).toBe(true);
      expect(statSync(join(home, 'encryption.key')).mode & 0o777).toBe(0o600);
      await withStoreDb(openPgliteFolder(join(home, 'stores/demo-shop')), async (db) =>
        expectProvisionedStore(await readStoreState(db), 'postgres', QUICKSTART_SEED),
      );

      const list = await expectSuccess(storeop(['get', 'stores'], { cwd: dir }));
      expect(parseTable(list.stdout)).toEqual([
        {
          STORE: 'demo-shop',
          NAME: 'Demo Shop',
          PLAN: 'starter',
          ENGINE: 'pglite',
          DATABASE: join(home, 'stores/demo-shop'),
          PHASE: 'Ready',
          TABLES: '13/13',
        },
      ]);

      const json = JSON.parse((await expectSuccess(storeop(['get', 'store', 'demo-shop', '-o', 'json'], { cwd: dir }))).stdout);
      expect(json).toMatchObject({
        slug: 'demo-shop',
        name: 'Demo Shop',
        subscription_plan: 'starter',
        source: 'apply',
        phase: 'Ready',
        database_status: 'active',
        subscription: { plan_name: 'starter' },
        database: { engine: 'pglite', dataDir: join(home, 'stores/demo-shop') },
        lastJob: { status: 'succeeded', progress: 100, tables_created: 13, total_tables: 13 },
      });
      const yamlRun = await expectSuccess(storeop(['get', 'store', 'demo-shop', '-o', 'yaml'], { cwd: dir }));
      const yaml = parseYaml(yamlRun.stdout) as Record<string, unknown>;
      expect(yaml).toMatchObject({ id: json.id, slug: 'demo-shop', phase: 'Ready', database: { engine: 'pglite' } });
      // Looked up by id too; and the encrypted credentials never reach the output.
      const byId = JSON.parse((await expectSuccess(storeop(['get', 'store', json.id, '-o', 'json'], { cwd: dir }))).stdout);
      expect(byId.slug).toBe('demo-shop');
      expect(yamlRun.stdout).not.toMatch(/secrets|password|ciphertext/i);

      // Second apply: says "no changes", and the store database and the master DB are exactly as before
      // (apart from the job row that records this run).
      const storeBefore = await dumpFolder(join(home, 'stores/demo-shop'));
      const masterBefore = await dumpFolder(join(home, 'master'), ['provisioning_jobs']);
      const second = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/quickstart.yaml'], { cwd: dir }));
      expect(parseTable(second.stdout)).toEqual([expect.objectContaining({ STORE: 'demo-shop', PHASE: 'Ready', TABLES: '13/13' })]);
      expect(second.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
      expect(second.stderr).toContain('demo-shop: ready (no changes)');
      expect(await dumpFolder(join(home, 'stores/demo-shop'))).toEqual(storeBefore);
      expect(await dumpFolder(join(home, 'master'), ['provisioning_jobs'])).toEqual(masterBefore);
      const jobs = await withStoreDb(openPgliteFolder(join(home, 'master')), (db) =>
        db.query('select status, message from provisioning_jobs order by created_at'),
      );
      expect(jobs).toEqual([
        { status: 'succeeded', message: 'store database ready' },
        { status: 'succeeded', message: 'store database ready; nothing changed' },
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'writes plain lines when its output is piped: no escape codes, no carriage-return redraws',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/store-inline.yaml'], { cwd: dir }));
      const all = run.stdout + run.stderr;
      expect(all).not.toContain('\x1b');
      expect(all).not.toContain('\r');
      // Progress as one line per step, ending with the store's finished line.
      const progress = run.stderr.trimEnd().split('\n');
      expect(progress[0]).toMatch(/^inline-shop\s+0% testConnection: /);
      expect(progress).toContainEqual(expect.stringMatching(/^inline-shop 100% register: /));
      expect(progress.at(-1)).toBe('inline-shop: ready');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'ends with a Failed row and exits 1 when a store cannot be provisioned; get shows it Failed',
    async () => {
      const dir = freshDir();
      const slug = uniqueSlug();
      serverSlugs.push(slug);
      // MariaDB checks passwords: a wrong admin password is a runtime failure, not a manifest error.
      writeFileSync(
        join(dir, 'wrong-password.yaml'),
        `apiVersion: v1
kind: Secret
metadata: { name: maria-admin }
stringData: { username: root, password: not-the-password }
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec:
  displayName: Wrong Password
  database: { engine: mysql, mode: create, server: { host: 127.0.0.1, port: 3306, adminSecretRef: { name: maria-admin } } }
`,
      );
      const run = await storeop(['apply', '-f', 'wrong-password.yaml'], { cwd: dir });
      expect(run.code, describeRun(run)).toBe(1);
      expect(parseTable(run.stdout)).toEqual([expect.objectContaining({ STORE: slug, ENGINE: 'mysql', PHASE: 'Failed', TABLES: '-' })]);
      expect(run.stdout).toContain('1 of 1 store(s) failed');
      expect(run.stderr).toMatch(new RegExp(`^${slug}: failed: `, 'm'));
      expect(run.stdout + run.stderr).not.toContain('not-the-password');
      expect(await mysqlExists(storeName(slug))).toEqual({ database: false, user: false });

      const list = await expectSuccess(storeop(['get', 'stores'], { cwd: dir }));
      expect(parseTable(list.stdout)).toEqual([expect.objectContaining({ STORE: slug, PHASE: 'Failed' })]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('every example in manifests/examples/ applies against the local servers', () => {
  it(
    'postgres-create.yaml: a database and a login role on PostgreSQL, with tables and seed rows; a re-run changes nothing',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/postgres-create.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([
        expect.objectContaining({
          STORE: 'pg-shop',
          ENGINE: 'postgresql',
          DATABASE: 'postgres://store_pg_shop:***@127.0.0.1:5432/store_pg_shop',
          PHASE: 'Ready',
          TABLES: '13/13',
        }),
      ]);
      expect(await pgRoleExists('store_pg_shop')).toBe(true);
      await withStoreDb(openPostgres('store_pg_shop'), async (db) => {
        expectProvisionedStore(await readStoreState(db), 'postgres', { currency: 'USD', locale: 'en-US', displayName: 'PostgreSQL Shop' });
        const owners = await db.query(`select distinct tableowner from pg_tables where schemaname = 'public'`);
        expect(owners).toEqual([{ tableowner: 'store_pg_shop' }]);
      });
      const again = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/postgres-create.yaml'], { cwd: dir }));
      expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
      const json = JSON.parse((await expectSuccess(storeop(['get', 'store', 'pg-shop', '-o', 'json'], { cwd: dir }))).stdout);
      expect(json).toMatchObject({
        subscription_plan: 'professional',
        phase: 'Ready',
        database: { engine: 'postgresql', host: '127.0.0.1', port: 5432, database: 'store_pg_shop', user: 'store_pg_shop' },
      });
      expect(JSON.stringify(json)).not.toMatch(/password/i);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'mariadb-create.yaml: a database and a user limited to it on MariaDB, with tables and seed rows',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/mariadb-create.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([
        expect.objectContaining({
          STORE: 'maria-shop',
          ENGINE: 'mysql',
          DATABASE: 'mysql://store_maria_shop:***@127.0.0.1:3306/store_maria_shop',
          PHASE: 'Ready',
          TABLES: '13/13',
        }),
      ]);
      expect(await mysqlExists('store_maria_shop')).toEqual({ database: true, user: true });
      await withStoreDb(openMysql('store_maria_shop'), async (db) =>
        expectProvisionedStore(await readStoreState(db), 'mysql', { currency: 'USD', locale: 'en-US', displayName: 'MariaDB Shop' }),
      );
      const again = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/mariadb-create.yaml'], { cwd: dir }));
      expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'connect.yaml: adds the store tables to the existing legacy_shop database and leaves its own table alone',
    async () => {
      await createLegacyDatabase();
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/connect.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([
        expect.objectContaining({ STORE: 'legacy-shop', ENGINE: 'postgresql', PHASE: 'Ready', TABLES: '13/13' }),
      ]);
      await withStoreDb(openPostgres(LEGACY_DATABASE), async (db) => {
        expect(await tablesOf(db)).toEqual([...STORE_TABLES, 'legacy_orders', 'storeop_schema_history'].sort());
        expect(await db.query('select id, reference from legacy_orders')).toEqual([{ id: 1, reference: 'L-0001' }]);
      });
      // Connect mode creates no database and no role of its own.
      expect(await pgDatabaseExists('store_legacy_shop')).toBe(false);
      expect(await pgRoleExists('store_legacy_shop')).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'store-inline.yaml: an embedded store without seed rows',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/store-inline.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([expect.objectContaining({ STORE: 'inline-shop', ENGINE: 'pglite', PHASE: 'Ready' })]);
      await withStoreDb(openPgliteFolder(join(dir, '.storeop/stores/inline-shop')), async (db) => {
        expect(await tablesOf(db)).toEqual([...STORE_TABLES, 'storeop_schema_history'].sort());
        expect(await db.query('select count(*)::int as n from cms_pages')).toEqual([{ n: 0 }]);
        expect(await db.query('select count(*)::int as n from store_settings')).toEqual([{ n: 0 }]);
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'store-databaseref.yaml: a Store with a separately declared StoreDatabase',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/store-databaseref.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([
        expect.objectContaining({ STORE: 'ref-shop', ENGINE: 'pglite', PHASE: 'Ready', TABLES: '13/13' }),
      ]);
      await withStoreDb(openPgliteFolder(join(dir, '.storeop/stores/ref-shop')), async (db) =>
        expectProvisionedStore(await readStoreState(db), 'postgres', { currency: 'USD', locale: 'en-US', displayName: 'Referenced Shop' }),
      );
      const list = await expectSuccess(storeop(['get', 'stores'], { cwd: dir }));
      expect(parseTable(list.stdout)).toEqual([expect.objectContaining({ STORE: 'ref-shop', PLAN: 'enterprise', PHASE: 'Ready' })]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "database-server.yaml: the store is placed on the DatabaseServer its region and selector pick, recorded in the master DB, with the server's connection limit",
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/database-server.yaml'], { cwd: dir }));
      expect(parseTable(run.stdout)).toEqual([
        expect.objectContaining({
          STORE: 'eu-shop',
          DATABASE: 'postgres://store_eu_shop:***@127.0.0.1:5432/store_eu_shop',
          PHASE: 'Ready',
        }),
      ]);
      const limit = await postgresAdmin((c) => c.query('select rolconnlimit from pg_roles where rolname = $1', ['store_eu_shop']));
      expect(limit.rows).toEqual([{ rolconnlimit: 20 }]);
      const json = JSON.parse((await expectSuccess(storeop(['get', 'store', 'eu-shop', '-o', 'json'], { cwd: dir }))).stdout);
      expect(json).toMatchObject({ slug: 'eu-shop', database_server: 'pg-eu-1', phase: 'Ready' });
      const again = await expectSuccess(storeop(['apply', '-f', 'manifests/examples/database-server.yaml'], { cwd: dir }));
      expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a store with no DatabaseServer for its region is refused with NoServerAvailable before anything runs; admin credentials may come from the environment',
    async () => {
      const dir = freshDir();
      const slug = uniqueSlug();
      serverSlugs.push(slug);
      const servers = `apiVersion: storeop.dev/v1alpha1
kind: DatabaseServer
metadata: { name: pg-local, labels: { storeop.dev/region: eu } }
spec: { engine: postgresql, host: 127.0.0.1, port: 5432, adminSecretRef: { name: env-admin } }
`;
      const store = (region: string) => `---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec: { displayName: Placed, region: ${region}, database: { engine: postgresql, seed: false } }
`;
      const env = { STOREOP_SECRET_ENV_ADMIN_USERNAME: 'postgres', STOREOP_SECRET_ENV_ADMIN_PASSWORD: 'unused-with-trust' };
      const refused = await storeop(['apply', '-f', '-'], { cwd: dir, input: servers + store('us'), env });
      expect(refused.code, describeRun(refused)).toBe(1);
      expect(refused.stderr).toMatch(
        /NoServerAvailable: no DatabaseServer with room for engine postgresql, region us: none is labelled storeop\.dev\/region=us/,
      );
      expect(await pgDatabaseExists(storeName(slug))).toBe(false);
      await expectNoStores(dir);

      const placed = await expectSuccess(storeop(['apply', '-f', '-'], { cwd: dir, input: servers + store('eu'), env }));
      expect(placed.stdout).toContain('1 store(s) ready');
      expect(await pgDatabaseExists(storeName(slug))).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '-f DIR applies every YAML file of the folder: the examples at once (seven stores, a StoreSchema and a StorePlan), with --concurrency 2',
    async () => {
      await createLegacyDatabase();
      const dir = freshDir();
      writeFileSync(join(dir, 'manifests/examples/NOTES.txt'), 'not a manifest: ignored\n');
      // The credentials lifecycle is the operator's: apply refuses that example (tested with the other refusals).
      rmSync(join(dir, 'manifests/examples/credentials.yaml'));
      const run = await expectSuccess(storeop(['apply', '-f', 'manifests/examples', '--concurrency', '2'], { cwd: dir }));
      const expected = ['demo-shop', 'eu-shop', 'inline-shop', 'legacy-shop', 'maria-shop', 'pg-shop', 'ref-shop'];
      expect(
        parseTable(run.stdout)
          .map((r) => `${r.STORE} ${r.PHASE}`)
          .sort(),
      ).toEqual(expected.map((s) => `${s} Ready`));
      expect(run.stdout).toContain('7 store(s) ready');
      expect(run.stdout).toContain('StorePlan free (plan free, enforcement Warn) recorded');
      const list = await expectSuccess(storeop(['get', 'stores', '-o', 'json'], { cwd: dir }));
      const listed = JSON.parse(list.stdout) as { kind: string; items: { metadata: { name: string }; status: { phase: string } }[] };
      expect(listed.kind).toBe('List');
      expect(listed.items.map((s) => `${s.metadata.name} ${s.status.phase}`)).toEqual(expected.map((s) => `${s} Ready`));
      const names = await expectSuccess(storeop(['get', 'stores', '-o', 'name'], { cwd: dir }));
      expect(names.stdout).toBe(expected.map((s) => `store/${s}\n`).join(''));
      const wide = parseTable((await expectSuccess(storeop(['get', 'stores', '-o', 'wide'], { cwd: dir }))).stdout);
      expect(wide.map((r) => `${r.STORE} ${r.PHASE} ${r.ID ? 'id' : ''}`)).toEqual(expected.map((s) => `${s} Ready id`));
      await withStoreDb(openPostgres('store_pg_shop'), async (db) => expect(await tablesOf(db)).toContain('products'));
      await withStoreDb(openMysql('store_maria_shop'), async (db) => expect(await tablesOf(db)).toContain('products'));
      await withStoreDb(openPostgres(LEGACY_DATABASE), async (db) => expect(await tablesOf(db)).toContain('products'));
    },
    TEST_TIMEOUT_MS,
  );
});

interface BrokenCase {
  name: string;
  /** The file's documents; SLUG stands for a unique store name. */
  yaml: string;
  /** The one problem line after "storeop apply: ". */
  error: RegExp;
}

const ADMIN_SECRETS = `apiVersion: v1
kind: Secret
metadata: { name: pg-admin }
stringData: { username: postgres, password: unused }
---
apiVersion: v1
kind: Secret
metadata: { name: maria-admin }
stringData: { username: root, password: "" }
`;
const pgStore = (name: string, extra = '') => `apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${name} }
spec:
  displayName: Broken
${extra}  database: { engine: postgresql, mode: create, server: { host: 127.0.0.1, port: 5432, adminSecretRef: { name: pg-admin } } }
`;
const mariaStore = (name: string, database = '') => `apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${name} }
spec:
  displayName: Broken
  database: { engine: mysql, mode: create, server: { host: 127.0.0.1, port: 3306, adminSecretRef: { name: maria-admin } }${database} }
`;

const brokenCases: BrokenCase[] = [
  {
    name: 'credentials, which only the operator handles (rotation, read-only user)',
    yaml: `${ADMIN_SECRETS}---\n${mariaStore('SLUG', ', credentials: { rotationPeriod: 720h }')}`,
    error: /^broken\.yaml: document 3 \(Store SLUG\): spec\.database\.credentials: is handled by the operator \(storeop run\)/,
  },
  {
    name: 'a wrong type (plan: 3)',
    yaml: `${ADMIN_SECRETS}---\n${pgStore('SLUG', '  plan: 3\n')}`,
    error: /^broken\.yaml: document 3 \(Store SLUG\): spec\.plan: .*expected one of "free"\|"starter"\|"professional"\|"enterprise"$/,
  },
  {
    name: 'a wrong type (seed: "yes")',
    yaml: `${ADMIN_SECRETS}---\n${mariaStore('SLUG', ', seed: "yes"')}`,
    error: /^broken\.yaml: document 3 \(Store SLUG\): spec\.database\.seed: .*expected boolean, received string$/,
  },
  {
    name: 'an unknown engine',
    yaml: `${ADMIN_SECRETS}---\n${pgStore('SLUG').replace('engine: postgresql', 'engine: oracle')}`,
    error: /^broken\.yaml: document 3 \(Store SLUG\): spec\.database\.engine: .*expected one of "postgresql"\|"mysql"\|"pglite"/,
  },
  {
    name: 'a referenced Secret that is missing',
    yaml: pgStore('SLUG').replace('name: pg-admin', 'name: no-such-secret'),
    error:
      /^broken\.yaml: document 1 \(Store SLUG\): spec\.database\.server\.adminSecretRef\.name: Secret no-such-secret is not in the manifests$/,
  },
  {
    name: 'a Secret without the referenced key',
    yaml: `apiVersion: v1\nkind: Secret\nmetadata: { name: pg-admin }\nstringData: { username: postgres }\n---\n${pgStore('SLUG')}`,
    error: /^broken\.yaml: document 2 \(Store SLUG\): spec\.database\.server\.adminSecretRef: Secret pg-admin has no key "password"/,
  },
  {
    name: 'a missing Secret of a separately declared StoreDatabase',
    yaml: `apiVersion: storeop.dev/v1alpha1
kind: StoreDatabase
metadata: { name: SLUG-db }
spec:
  storeRef: { name: SLUG }
  engine: mysql
  server: { host: 127.0.0.1, port: 3306, adminSecretRef: { name: absent-admin } }
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: SLUG }
spec:
  displayName: Broken
  databaseRef: { name: SLUG-db }
`,
    error:
      /^broken\.yaml: document 1 \(StoreDatabase SLUG-db\): spec\.server\.adminSecretRef\.name: Secret absent-admin is not in the manifests$/,
  },
  {
    name: 'a StorePlan with an unknown enforcement',
    yaml: `${pgStore('SLUG')}---\napiVersion: storeop.dev/v1alpha1\nkind: StorePlan\nmetadata: { name: SLUG-plan }\nspec: { plan: free, enforcement: Delete }\n`,
    error: /^broken\.yaml: document 2 \(StorePlan SLUG-plan\): spec\.enforcement: .*expected one of "Warn"\|"Suspend"$/,
  },
  {
    name: 'a YAML syntax error',
    yaml: `${pgStore('SLUG')}---\napiVersion: storeop.dev/v1alpha1\nkind: Store\nmetadata: { name: other\nspec:\n  displayName: "unterminated\n`,
    error: /^broken\.yaml: document 2: invalid YAML: .* at line \d+, column \d+$/,
  },
  {
    name: 'one valid and one invalid document',
    yaml: `${ADMIN_SECRETS}---\n${pgStore('SLUG')}---\n${mariaStore('SLUG-b').replace('displayName: Broken', 'displayName: 42')}`,
    error: /^broken\.yaml: document 4 \(Store SLUG-b\): spec\.displayName: .*expected string, received number$/,
  },
];

describe('a broken manifest exits non-zero with one line naming file, document and field, and changes nothing', () => {
  it.each(brokenCases)(
    '$name',
    async ({ yaml, error }) => {
      const slug = uniqueSlug();
      serverSlugs.push(slug, `${slug}-b`);
      const dir = freshDir();
      writeFileSync(join(dir, 'broken.yaml'), yaml.replaceAll('SLUG', slug));
      const run = await storeop(['apply', '-f', 'broken.yaml'], { cwd: dir });
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines, run.stderr).toHaveLength(2);
      const problem = (lines[0] as string).replace(/^storeop apply: /, '');
      expect(problem).toMatch(new RegExp(error.source.replaceAll('SLUG', slug)));
      expect(lines[1]).toBe('storeop apply: nothing was changed');
      expect(run.stderr).not.toMatch(/^\s+at /m);

      await expectNoStores(dir);
      for (const s of [slug, `${slug}-b`]) {
        expect(await pgDatabaseExists(storeName(s))).toBe(false);
        expect(await pgRoleExists(storeName(s))).toBe(false);
        expect(await mysqlExists(storeName(s))).toEqual({ database: false, user: false });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an invalid document keeps a valid change to an existing store from being applied',
    async () => {
      const { dir, expectUntouched } = await appliedQuickstart();

      const changed = readFileSync(join(dir, 'manifests/examples/quickstart.yaml'), 'utf8').replace('plan: starter', 'plan: professional');
      writeFileSync(join(dir, 'change.yaml'), `${changed}---\n${pgStore('bad-one', '  plan: platinum\n')}`);
      const run = await storeop(['apply', '-f', 'change.yaml'], { cwd: dir });
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toMatch(/^storeop apply: change\.yaml: document 2 \(Store bad-one\): spec\.plan: /m);
      await expectUntouched();
    },
    TEST_TIMEOUT_MS,
  );

  it('reports a missing -f or a bad flag as a usage error (exit 2) and a missing file as exit 1, in one line', async () => {
    const dir = freshDir();
    const cases: Array<{ args: string[]; code: number; message: string }> = [
      { args: ['apply'], code: 2, message: 'storeop apply: --filename: is required (-f FILE, DIR or -)' },
      {
        args: ['apply', '-f', 'manifests/examples', '--concurrency', '0'],
        code: 2,
        message: 'storeop apply: --concurrency: Too small: expected number to be >=1',
      },
      { args: ['apply', '-f', 'no-such-file.yaml'], code: 1, message: 'storeop apply: no-such-file.yaml: no such file or directory' },
    ];
    for (const { args, code, message } of cases) {
      const run = await storeop(args, { cwd: dir });
      expect(run.code, describeRun(run)).toBe(code);
      expect(run.stderr.split('\n')[0]).toBe(message);
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }
    await expectNoStores(dir);
  });
});

describe('storeop apply --dry-run', () => {
  it(
    'prints the statements per store and creates nothing: no store database, no master row, no server database',
    async () => {
      const dir = freshDir();
      const run = await expectSuccess(
        storeop(['apply', '--dry-run', '-f', 'manifests/examples/quickstart.yaml', '-f', 'manifests/examples/postgres-create.yaml'], {
          cwd: dir,
        }),
      );
      const out = run.stdout;
      expect(out).toContain(`# store demo-shop: pglite, database ${join(dir, '.storeop/stores/demo-shop')} (database to be created)\n`);
      expect(out).toContain('# store pg-shop: postgresql, 127.0.0.1:5432 (database to be created)\n');
      // Each store's section lists its CREATE TABLE statements and the seed step.
      const sections = out.split(/^# store /m).slice(1);
      expect(sections).toHaveLength(2);
      for (const section of sections) {
        const creates = section.split('\n').filter((l) => l.startsWith('create table '));
        expect(creates.map((l) => /^create table "(\w+)"/.exec(l)?.[1]).sort()).toEqual(STORE_TABLES);
        expect(section).toContain('-- seed default rows where missing');
      }
      // The server database is new: first what the admin runs (no password in the plan), then the tables.
      const pgSection = sections.find((section) => section.startsWith('pg-shop')) as string;
      expect(pgSection).toContain(
        [
          '-- as the server admin:',
          `CREATE ROLE "store_pg_shop" WITH LOGIN PASSWORD '<generated>' CONNECTION LIMIT 50;`,
          `COMMENT ON ROLE "store_pg_shop" IS 'storeop:store=pg-shop';`,
          `CREATE DATABASE "store_pg_shop" OWNER "store_pg_shop" ENCODING 'UTF8';`,
          `COMMENT ON DATABASE "store_pg_shop" IS 'storeop:store=pg-shop';`,
          'REVOKE ALL ON DATABASE "store_pg_shop" FROM PUBLIC;',
          '-- then as the store role:',
        ].join('\n'),
      );
      expect(sections.find((section) => section.startsWith('demo-shop'))).not.toContain('-- as the server admin:');
      expect(out).not.toContain('change-me'); // the example's admin password
      expect(out.trimEnd().split('\n').at(-1)).toBe('dry run: nothing was changed');

      expect(existsSync(join(dir, '.storeop'))).toBe(false);
      expect(await pgDatabaseExists('store_pg_shop')).toBe(false);
      expect(await pgRoleExists('store_pg_shop')).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'on an applied store says "no changes" and touches neither the store database nor the master DB',
    async () => {
      const { dir, home, expectUntouched } = await appliedQuickstart();
      const run = await expectSuccess(storeop(['apply', '--dry-run', '-f', 'manifests/examples/quickstart.yaml'], { cwd: dir }));
      expect(run.stdout).toBe(
        `# store demo-shop: pglite, database ${join(home, 'stores/demo-shop')}\n-- no changes\ndry run: nothing was changed\n`,
      );
      await expectUntouched();
    },
    TEST_TIMEOUT_MS,
  );
});

describe('storeop apply -f - reads the manifests from stdin', () => {
  it(
    'applies a piped manifest, and names <stdin> in errors',
    async () => {
      const dir = freshDir();
      const manifest = readFileSync(join(EXAMPLES, 'store-inline.yaml'), 'utf8');
      const run = await expectSuccess(storeop(['apply', '-f', '-'], { cwd: dir, input: manifest }));
      expect(parseTable(run.stdout)).toEqual([expect.objectContaining({ STORE: 'inline-shop', PHASE: 'Ready' })]);
      expect(existsSync(join(dir, '.storeop/stores/inline-shop'))).toBe(true);

      const bad = await storeop(['apply', '-f', '-'], { cwd: dir, input: manifest.replace('plan: free', 'plan: [free]') });
      expect(bad.code, describeRun(bad)).toBe(1);
      expect(bad.stderr.split('\n')[0]).toMatch(/^storeop apply: <stdin>: document 1 \(Store inline-shop\): spec\.plan: /);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('master DB and home as the README configures them', () => {
  let master: TempDatabase | undefined;
  afterAll(async () => {
    await master?.drop();
  });

  it('get on a folder where nothing was applied yet says so and creates nothing (a read never writes)', async () => {
    const dir = freshDir();
    const master = join(dir, '.storeop/master');
    const table = await expectSuccess(storeop(['get', 'stores'], { cwd: dir }));
    expect(table.stdout).toBe(`no stores (no master database at ${master} yet; storeop apply creates it)\n`);
    expect(JSON.parse((await expectSuccess(storeop(['get', 'stores', '-o', 'json'], { cwd: dir }))).stdout)).toMatchObject({
      kind: 'List',
      items: [],
    });
    const one = await storeop(['get', 'store', 'demo-shop'], { cwd: dir });
    expect(one.code).toBe(1);
    expect(one.stderr).toBe(`storeop get: store demo-shop not found: there is no master database at ${master} yet\n`);
    expect(readdirSync(dir).filter((f) => f !== 'manifests')).toEqual([]);
  });

  it(
    '--home DIR and STOREOP_HOME move the embedded default; get reads the same place',
    async () => {
      const dir = freshDir();
      await expectSuccess(storeop(['apply', '-f', 'manifests/examples/store-inline.yaml', '--home', 'state'], { cwd: dir }));
      expect(existsSync(join(dir, '.storeop'))).toBe(false);
      expect(readdirSync(join(dir, 'state')).sort()).toEqual(['encryption.key', 'master', 'stores']);
      expect(readdirSync(join(dir, 'state/stores'))).toEqual(['inline-shop']);
      const byFlag = await expectSuccess(storeop(['get', 'stores', '--home', 'state'], { cwd: dir }));
      expect(parseTable(byFlag.stdout)).toEqual([expect.objectContaining({ STORE: 'inline-shop', PHASE: 'Ready' })]);
      const byEnv = await expectSuccess(
        storeop(['get', 'store', 'inline-shop', '-o', 'json'], { cwd: dir, env: { STOREOP_HOME: 'state' } }),
      );
      expect(JSON.parse(byEnv.stdout)).toMatchObject({ slug: 'inline-shop', phase: 'Ready' });
      expect(existsSync(join(dir, '.storeop'))).toBe(false);

      const missing = await storeop(['get', 'store', 'no-such-store', '--home', 'state'], { cwd: dir });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(`storeop get: store no-such-store not found in pglite://${join(dir, 'state/master')}\n`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--master-database-url and STOREOP_MASTER_DATABASE_URL use a PostgreSQL master, which needs STOREOP_ENCRYPTION_KEYS',
    async () => {
      master = await createPostgresDatabase('t_cli_master');
      const dir = freshDir();
      const noKeys = await storeop(['apply', '-f', 'manifests/examples/store-inline.yaml', '--master-database-url', master.url], {
        cwd: dir,
      });
      expect(noKeys.code, describeRun(noKeys)).toBe(1);
      expect(noKeys.stderr).toMatch(/^storeop apply: InvalidSpec: STOREOP_ENCRYPTION_KEYS is required with a PostgreSQL master database/);
      expect(noKeys.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(existsSync(join(dir, '.storeop/stores'))).toBe(false);

      const keys = { STOREOP_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` };
      await expectSuccess(
        storeop(['apply', '-f', 'manifests/examples/store-inline.yaml', '--master-database-url', master.url], { cwd: dir, env: keys }),
      );
      // The store's embedded database lives in ./.storeop/stores; the master is the PostgreSQL database.
      expect(existsSync(join(dir, '.storeop/master'))).toBe(false);
      expect(existsSync(join(dir, '.storeop/stores/inline-shop'))).toBe(true);
      const rows = await postgresAdmin(
        async (c) => (await c.query('select slug, database_status from stores')).rows,
        (master as TempDatabase).name,
      );
      expect(rows).toEqual([{ slug: 'inline-shop', database_status: 'active' }]);

      const list = await expectSuccess(storeop(['get', 'stores', '--master-database-url', master.url], { cwd: dir }));
      expect(parseTable(list.stdout)).toEqual([expect.objectContaining({ STORE: 'inline-shop', PHASE: 'Ready' })]);
      const yaml = await expectSuccess(
        storeop(['get', 'store', 'inline-shop', '-o', 'yaml'], { cwd: dir, env: { STOREOP_MASTER_DATABASE_URL: master.url } }),
      );
      expect(parseYaml(yaml.stdout)).toMatchObject({ slug: 'inline-shop', phase: 'Ready' });
      const again = await expectSuccess(
        storeop(['apply', '-f', 'manifests/examples/store-inline.yaml'], {
          cwd: dir,
          env: { ...keys, STOREOP_MASTER_DATABASE_URL: master.url },
        }),
      );
      expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('storeop plan --database-url', () => {
  const temps: TempDatabase[] = [];
  afterEach(async () => {
    for (const t of temps.splice(0)) await t.drop();
  });

  it(
    'prints the statements for an empty PostgreSQL database, with the seed step unless --no-seed, and changes nothing',
    async () => {
      const db = await createPostgresDatabase('t_cli_plan');
      temps.push(db);
      const dir = freshDir();
      const run = await expectSuccess(storeop(['plan', '--database-url', db.url], { cwd: dir }));
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe(`-- storeop plan: postgresql, 127.0.0.1:5432, database ${db.name} (dialect postgres)`);
      expect(lines.filter((l) => l.startsWith('create table ')).map((l) => /^create table "(\w+)"/.exec(l)?.[1])).toEqual(
        expect.arrayContaining(STORE_TABLES),
      );
      expect(lines.at(-1)).toMatch(/^-- then: seed default rows/);
      const noSeed = await expectSuccess(storeop(['plan', '--no-seed', '--database-url', db.url], { cwd: dir }));
      expect(noSeed.stdout).not.toContain('seed');
      await withStoreDb(openPostgres(db.name), async (store) => expect(await tablesOf(store)).toEqual([]));
      expect(existsSync(join(dir, '.storeop'))).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'speaks MySQL on a MariaDB database',
    async () => {
      const name = `t_cli_plan_${randomBytes(5).toString('hex')}`;
      const conn = await mysql.createConnection(mysqlEndpoint());
      try {
        await conn.query(`CREATE DATABASE \`${name}\``);
      } finally {
        await conn.end();
      }
      temps.push({
        name,
        url: '',
        drop: async () => {
          const c = await mysql.createConnection(mysqlEndpoint());
          await c.query(`DROP DATABASE IF EXISTS \`${name}\``).finally(() => c.end());
        },
      });
      const dir = freshDir();
      const run = await expectSuccess(storeop(['plan', '--database-url', `mysql://root@127.0.0.1:3306/${name}`], { cwd: dir }));
      expect(run.stdout).toContain('(dialect mysql)');
      expect(run.stdout).toMatch(/^create table `products` \(/m);
      await withStoreDb(openMysql(name), async (db) => expect(await tablesOf(db)).toEqual([]));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'on a pglite:// folder: every statement before provisioning, nothing to do after',
    async () => {
      const dir = freshDir();
      const folder = join(dir, '.storeop/stores/demo-shop');
      const before = await expectSuccess(storeop(['plan', '--database-url', `pglite://${folder}`], { cwd: dir }));
      expect(before.stdout).toContain('the database does not exist yet');
      expect(before.stdout).toMatch(/^-- 0 store table\(s\) present, 13 missing; \d+ statement\(s\)$/m);
      expect(existsSync(folder)).toBe(false);

      await expectSuccess(storeop(['apply', '-f', 'manifests/examples/quickstart.yaml'], { cwd: dir }));
      const after = await expectSuccess(storeop(['plan', '--database-url', `pglite://${folder}`], { cwd: dir }));
      expect(after.stdout).toMatch(/^-- 13 store table\(s\) present, 0 missing; 0 statement\(s\)$/m);
      expect(after.stdout.trimEnd().split('\n').at(-1)).toBe('-- nothing to do: the database matches the store schema');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('the README', () => {
  it('shows the main-job commands these tests run, and the bin npx runs is the CLI', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain('npx storeop apply -f manifests/examples/quickstart.yaml && npx storeop get stores');
    expect(readme).toContain('./.storeop/stores/demo-shop/');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.storeop).toBe('dist/cli/main.js');
    expect(readFileSync(cliEntry, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});
