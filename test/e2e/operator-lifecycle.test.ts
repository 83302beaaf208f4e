// The operator's lifecycle end to end: kube-apiserver refuses malformed manifests, immutable fields
// become InvalidSpec without touching a database (and are not retried), deletion honours
// deletionPolicy, and a Store cleans up its inline StoreDatabase before it goes away. Each test has
// its own namespace, master database and `storeop run` restricted to that namespace, authenticated as
// a user bound only to manifests/ RBAC, against the real PostgreSQL and MariaDB.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { runEveryStep } from '../support/cleanup.js';
import { createPostgresDatabase, postgresRows, type TempDatabase } from '../support/databases.js';
import { eventuallyWithLogs, kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from '../support/operator.js';
import {
  dropStoreLeftovers,
  mysqlEndpoint,
  openMysql,
  postgresAdmin,
  postgresEndpoint,
  storeName,
  uniqueSlug,
} from '../support/store-db.js';

const FINALIZER = 'storeop.dev/cleanup';
const TEST_TIMEOUT = 240_000;
const pgServer = postgresEndpoint();
const myServer = mysqlEndpoint();

type Spec = Record<string, unknown>;
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface KubeObject {
  metadata: { name: string; finalizers?: string[]; deletionTimestamp?: string };
  spec: Spec & { deletionPolicy?: string };
  status?: { phase?: string; slug?: string; jobId?: string; conditions?: Condition[] };
}
interface KubeEvent {
  type: string;
  reason: string;
  involvedObject: { kind: string; name: string };
}

interface Env extends OperatorEnvironment {
  operator?: OperatorProcess;
  /** Store slugs whose databases/roles the test may have left on a server. */
  slugs: Array<{ engine: 'postgresql' | 'mysql'; slug: string }>;
  /** Other databases the test created. */
  databases: TempDatabase[];
}

let env: Env | undefined;

/** A namespace and a master database; with `operator`, also `storeop run --namespace` for them, and admin Secrets. */
async function setUp(prefix: string, withOperator = true): Promise<Env> {
  const environment = await operatorEnvironment(prefix);
  env = { ...environment, slugs: [], databases: [] };
  if (!withOperator) return env;
  env.operator = await environment.start();
  await kubectl(['-n', env.namespace, 'apply', '-f', '-'], [pgAdminSecret(), myAdminSecret()].join('\n'));
  return env;
}

afterEach(async () => {
  const current = env;
  env = undefined;
  if (!current) return;
  await runEveryStep('cleanup failed', [
    () => current.tearDown(),
    ...current.slugs.map(
      ({ engine, slug }) =>
        () =>
          dropStoreLeftovers(engine, slug),
    ),
    ...current.databases.map((database) => () => database.drop()),
  ]);
});

function pgAdminSecret(name = 'pg-admin'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    stringData: { username: pgServer.user || 'postgres', password: 'trust-auth-ignores-it' },
  });
}

function myAdminSecret(): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'my-admin' },
    stringData: { username: myServer.user || 'root', password: myServer.password ?? '' },
  });
}

function pgDatabase(extra: Spec = {}): Spec {
  return {
    engine: 'postgresql',
    mode: 'create',
    server: { host: pgServer.host, port: pgServer.port, adminSecretRef: { name: 'pg-admin' } },
    ...extra,
  };
}

function myDatabase(extra: Spec = {}): Spec {
  return {
    engine: 'mysql',
    mode: 'create',
    server: { host: myServer.host, port: myServer.port, adminSecretRef: { name: 'my-admin' } },
    ...extra,
  };
}

function storeManifest(name: string, spec: Spec): string {
  return JSON.stringify({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name },
    spec: { displayName: `Store ${name}`, owner: `${name}@example.com`, plan: 'starter', ...spec },
  });
}

function storeDatabaseManifest(name: string, spec: Spec): string {
  return JSON.stringify({ apiVersion: 'storeop.dev/v1alpha1', kind: 'StoreDatabase', metadata: { name }, spec });
}

function ns(): string {
  if (!env) throw new Error('no test environment');
  return env.namespace;
}

async function apply(manifest: string): Promise<void> {
  await kubectl(['-n', ns(), 'apply', '-f', '-'], manifest);
}

/** The object as JSON, or undefined when it does not exist. */
async function getObject(kind: string, name: string): Promise<KubeObject | undefined> {
  const { stdout } = await kubectl(['-n', ns(), 'get', kind, name, '--ignore-not-found', '-o', 'json']);
  return stdout.trim() ? (JSON.parse(stdout) as KubeObject) : undefined;
}

function readyOf(object: KubeObject | undefined): Condition | undefined {
  return object?.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Polls until `check` returns a value other than undefined/false; fails with `what` and the operator's logs after `ms`. */
function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 120_000): Promise<T> {
  return eventuallyWithLogs(what, check, () => env?.operator?.logs() ?? '', ms);
}

async function waitReady(kind: string, name: string): Promise<KubeObject> {
  return until(`${kind}/${name} Ready`, async () => {
    const object = await getObject(kind, name);
    return readyOf(object)?.status === 'True' ? object : undefined;
  });
}

async function waitGone(kind: string, name: string): Promise<void> {
  await until(`${kind}/${name} to be gone`, async () => (await getObject(kind, name)) === undefined);
}

async function mysqlRows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const db = await openMysql('mysql');
  try {
    return await db.query(sql, params);
  } finally {
    await db.close();
  }
}

async function pgFacts(slug: string): Promise<{ database: boolean; role: boolean; tables: number }> {
  const name = storeName(slug);
  const facts = await postgresAdmin(async (c) => {
    const r = await c.query(
      `select exists(select 1 from pg_database where datname = $1) as database,
              exists(select 1 from pg_roles where rolname = $1) as role`,
      [name],
    );
    return r.rows[0] as { database: boolean; role: boolean };
  });
  let tables = 0;
  if (facts.database) {
    tables = await postgresAdmin(async (c) => {
      const r = await c.query(
        "select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
      );
      return r.rows[0].n as number;
    }, name);
  }
  return { ...facts, tables };
}

async function mysqlFacts(slug: string): Promise<{ database: boolean; user: boolean }> {
  const name = storeName(slug);
  const schemata = await mysqlRows('select schema_name from information_schema.schemata where schema_name = ?', [name]);
  const users = await mysqlRows('select user from mysql.user where user = ?', [name]);
  return { database: schemata.length > 0, user: users.length > 0 };
}

/** The master database's view of a store: its row and how many integration configs are active. */
async function masterStore(slug: string): Promise<{ database_status: string; is_active: boolean; active_configs: number } | undefined> {
  const [store] = await postgresRows<{ database_status: string; is_active: boolean; active_configs: number }>(
    (env as Env).master.url,
    `select s.database_status, s.is_active,
            (select count(*)::int from integration_configs c where c.store_id = s.id and c.is_active) as active_configs
     from stores s where s.slug = $1`,
    [slug],
  );
  return store;
}

/** controller_runtime_reconcile_total summed per controller, and workqueue_retries_total per queue. */
async function reconcileCounts(): Promise<Record<string, number>> {
  const text = await (await fetch(env?.operator?.metricsUrl as string)).text();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(controller_runtime_reconcile_total|workqueue_retries_total)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const who = /(?:controller|name)="([^"]+)"/.exec(m[2] as string)?.[1];
    const key = `${m[1] === 'workqueue_retries_total' ? 'retries' : 'reconciles'}:${who}`;
    counts[key] = (counts[key] ?? 0) + Number(m[3]);
  }
  return counts;
}

/**
 * Terminal errors are not retried: once the reconciles caused by the change itself (status patches of
 * the Store and its StoreDatabase re-enqueue each other once) have settled, the counts stay put. A
 * retried error would show here: backoff starts at 5 ms and doubles, so within the window below a
 * requeued key would be reconciled again many times.
 */
async function expectNoRetries(since: Record<string, number>): Promise<void> {
  let stable = await reconcileCounts();
  let stableSince = Date.now();
  await until('reconcile counts to settle', async () => {
    const now = await reconcileCounts();
    if (JSON.stringify(now) !== JSON.stringify(stable)) {
      stable = now;
      stableSince = Date.now();
    }
    return Date.now() - stableSince >= 4_000;
  });
  const deadline = Date.now() + 12_000;
  while (Date.now() < deadline) {
    expect(await reconcileCounts()).toEqual(stable);
    await sleep(1_000);
  }
  // The metrics were read at all: the bad spec itself was reconciled (and counted).
  expect(stable['reconciles:storedatabase'] ?? 0).toBeGreaterThan(since['reconciles:storedatabase'] ?? 0);
  // No failure was put back on the queue with backoff at any point since the bad spec was applied.
  for (const queue of ['store', 'storedatabase']) expect(stable[`retries:${queue}`] ?? 0).toBe(since[`retries:${queue}`] ?? 0);
}

/** A database storeop did not create, with one row in a table keep_me; cleaned up with the test. */
async function somebodyElsesDatabase(): Promise<{ other: TempDatabase; otherRows: () => Promise<number> }> {
  const other = await createPostgresDatabase('other');
  env?.databases.push(other);
  await postgresAdmin(async (c) => {
    await c.query('create table keep_me (id int primary key)');
    await c.query('insert into keep_me values (1)');
  }, other.name);
  const otherRows = () =>
    postgresAdmin(async (c) => (await c.query('select count(*)::int as n from keep_me')).rows[0].n as number, other.name);
  return { other, otherRows };
}

async function eventsFor(name: string): Promise<KubeEvent[]> {
  const { stdout } = await kubectl(['-n', ns(), 'get', 'events', '-o', 'json']);
  return (JSON.parse(stdout).items as KubeEvent[]).filter((e) => e.involvedObject?.name === name);
}

describe('operator lifecycle', () => {
  it(
    'kube-apiserver refuses malformed Stores and StoreDatabases, naming the field, and creates nothing',
    async () => {
      await setUp('lc-bad', false);
      const name = uniqueSlug();
      const stderrOf = (args: string[], manifest: string) =>
        kubectl(['-n', ns(), ...args, '-f', '-'], manifest).then(
          () => {
            throw new Error(`kubectl ${args.join(' ')} should have been refused: ${manifest}`);
          },
          (e: Error & { stderr?: string }) => e.stderr ?? '',
        );
      const refused = async (manifest: string, ...fragments: string[]) => {
        // The API server alone (kubectl's client-side schema check off): it is the one that refuses.
        const server = await stderrOf(['create', '--validate=false'], manifest);
        expect(server).toMatch(/is invalid/);
        for (const fragment of fragments) expect(server).toContain(fragment);
        // What a user running plain `kubectl apply` sees names the field too.
        const applied = await stderrOf(['apply'], manifest);
        expect(applied).toContain(fragments[0]?.split('.').at(-1));
      };

      await refused(storeManifest(name, { plan: 'platinum', database: pgDatabase() }), 'spec.plan', 'Unsupported value', '"platinum"');
      await refused(storeManifest(name, { slug: 'Bad_Slug!', database: pgDatabase() }), 'spec.slug', 'should match');
      await refused(
        storeManifest(name, { database: pgDatabase({ engine: 'oracle' }) }),
        'spec.database.engine',
        'Unsupported value',
        '"oracle"',
      );
      await refused(
        JSON.stringify({
          apiVersion: 'storeop.dev/v1alpha1',
          kind: 'Store',
          metadata: { name },
          spec: { owner: `${name}@example.com`, database: pgDatabase() },
        }),
        'spec.displayName',
        'Required value',
      );
      await refused(storeDatabaseManifest(name, { storeRef: { name }, ...pgDatabase({ engine: 'oracle' }) }), 'spec.engine', '"oracle"');
      await refused(storeDatabaseManifest(name, pgDatabase()), 'spec.storeRef', 'Required value');
      await refused(
        storeDatabaseManifest(name, { storeRef: { name }, ...pgDatabase({ deletionPolicy: 'Orphan' }) }),
        'spec.deletionPolicy',
        '"Orphan"',
      );

      const { stdout } = await kubectl(['-n', ns(), 'get', 'stores,storedatabases', '-o', 'name']);
      expect(stdout.trim()).toBe('');
    },
    TEST_TIMEOUT,
  );

  it(
    'a changed Store slug is InvalidSpec: no database for the new slug, the old one intact, not retried; reverting makes it Ready',
    async () => {
      await setUp('lc-slug');
      const name = uniqueSlug();
      const newSlug = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: name }, { engine: 'postgresql', slug: newSlug });
      await apply(storeManifest(name, { database: pgDatabase({ deletionPolicy: 'Delete' }) }));
      await waitReady('store', name);
      const before = await pgFacts(name);
      expect(before).toMatchObject({ database: true, role: true });
      expect(before.tables).toBeGreaterThan(0);
      const sdbBefore = await getObject('storedatabase', name);
      const countsBefore = await reconcileCounts();

      await kubectl(['-n', ns(), 'patch', 'store', name, '--type=merge', '-p', JSON.stringify({ spec: { slug: newSlug } })]);
      const store = await until('Store InvalidSpec', async () => {
        const s = await getObject('store', name);
        return readyOf(s)?.reason === 'InvalidSpec' ? s : undefined;
      });
      const ready = readyOf(store) as Condition;
      expect(ready.status).toBe('False');
      expect(ready.message).toContain('spec.slug is immutable');
      expect(ready.message).toContain(name);
      expect(ready.message).toContain(newSlug);
      expect(store?.status?.phase).toBe('Failed');
      expect(store?.status?.slug).toBe(name);
      // The inline StoreDatabase sees the new slug through its Store and refuses it as well.
      const sdb = await until('StoreDatabase InvalidSpec', async () => {
        const d = await getObject('storedatabase', name);
        return readyOf(d)?.reason === 'InvalidSpec' ? d : undefined;
      });
      expect(readyOf(sdb)?.message).toMatch(/slug \(was .*, now .*\)/);
      expect(sdb?.status?.jobId).toBe(sdbBefore?.status?.jobId);

      await expectNoRetries(countsBefore);
      const warnings = (await eventsFor(name)).filter((e) => e.reason === 'InvalidSpec');
      expect(warnings.some((e) => e.involvedObject.kind === 'Store' && e.type === 'Warning')).toBe(true);

      // No database, role or master row for the new slug; the old database untouched.
      expect(await pgFacts(newSlug)).toEqual({ database: false, role: false, tables: 0 });
      expect(await pgFacts(name)).toEqual(before);
      expect(await masterStore(newSlug)).toBeUndefined();
      expect(await masterStore(name)).toMatchObject({ database_status: 'active', active_configs: 1 });

      await kubectl(['-n', ns(), 'patch', 'store', name, '--type=json', '-p', '[{"op":"remove","path":"/spec/slug"}]']);
      const recovered = await waitReady('store', name);
      expect(recovered.status?.slug).toBe(name);
      expect(readyOf(await getObject('storedatabase', name))?.status).toBe('True');
      expect(await pgFacts(name)).toEqual(before);
      expect(await pgFacts(newSlug)).toEqual({ database: false, role: false, tables: 0 });
    },
    TEST_TIMEOUT,
  );

  it(
    'a changed StoreDatabase engine is InvalidSpec: no database on the other server, the old one intact, not retried; reverting makes it Ready',
    async () => {
      await setUp('lc-engine');
      const name = uniqueSlug();
      const dbName = `${name}-db`;
      env?.slugs.push({ engine: 'postgresql', slug: name }, { engine: 'mysql', slug: name });
      await apply(storeDatabaseManifest(dbName, { storeRef: { name }, ...pgDatabase() }));
      await apply(storeManifest(name, { databaseRef: { name: dbName } }));
      await waitReady('store', name);
      const before = await pgFacts(name);
      expect(before.tables).toBeGreaterThan(0);
      const countsBefore = await reconcileCounts();

      // Only the engine changes: the identity check must come before any connection attempt.
      await kubectl(['-n', ns(), 'patch', 'storedatabase', dbName, '--type=merge', '-p', '{"spec":{"engine":"mysql"}}']);
      const sdb = await until('StoreDatabase InvalidSpec', async () => {
        const d = await getObject('storedatabase', dbName);
        return readyOf(d)?.reason === 'InvalidSpec' ? d : undefined;
      });
      expect(readyOf(sdb)?.status).toBe('False');
      expect(readyOf(sdb)?.message).toContain('engine (was postgresql, now mysql)');
      expect(sdb?.status?.phase).toBe('Failed');
      const store = await until('Store to mirror InvalidSpec', async () => {
        const s = await getObject('store', name);
        return readyOf(s)?.reason === 'InvalidSpec' ? s : undefined;
      });
      expect(readyOf(store)?.message).toContain('engine (was postgresql, now mysql)');

      await expectNoRetries(countsBefore);
      expect((await eventsFor(dbName)).some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning')).toBe(true);
      expect(await mysqlFacts(name)).toEqual({ database: false, user: false });
      expect(await pgFacts(name)).toEqual(before);
      expect(await masterStore(name)).toMatchObject({ database_status: 'active', active_configs: 1 });

      await kubectl(['-n', ns(), 'patch', 'storedatabase', dbName, '--type=merge', '-p', '{"spec":{"engine":"postgresql"}}']);
      await waitReady('storedatabase', dbName);
      await waitReady('store', name);
      expect(await pgFacts(name)).toEqual(before);
      expect(await mysqlFacts(name)).toEqual({ database: false, user: false });
    },
    TEST_TIMEOUT,
  );

  it(
    'cross-field rules the schema cannot express are InvalidSpec before any database work, and not retried',
    async () => {
      await setUp('lc-cross');
      const both = uniqueSlug();
      const schemaOnMysql = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: both }, { engine: 'mysql', slug: schemaOnMysql });
      const countsBefore = await reconcileCounts();
      // A Store with both an inline database and a reference.
      await apply(storeManifest(both, { database: pgDatabase(), databaseRef: { name: 'elsewhere' } }));
      // Schema isolation is for PostgreSQL only.
      await apply(
        storeDatabaseManifest(`${schemaOnMysql}-db`, { storeRef: { name: schemaOnMysql }, ...myDatabase({ isolation: 'schema' }) }),
      );
      await apply(storeManifest(schemaOnMysql, { databaseRef: { name: `${schemaOnMysql}-db` } }));

      const store = await until('Store InvalidSpec', async () => {
        const s = await getObject('store', both);
        return readyOf(s)?.reason === 'InvalidSpec' ? s : undefined;
      });
      expect(readyOf(store)?.message).toContain('exactly one of spec.database (inline) and spec.databaseRef');
      const sdb = await until('StoreDatabase InvalidSpec', async () => {
        const d = await getObject('storedatabase', `${schemaOnMysql}-db`);
        return readyOf(d)?.reason === 'InvalidSpec' ? d : undefined;
      });
      expect(readyOf(sdb)?.message).toContain('schema is for PostgreSQL only');
      await until(
        'Store to mirror the InvalidSpec',
        async () => readyOf(await getObject('store', schemaOnMysql))?.reason === 'InvalidSpec',
      );

      await expectNoRetries(countsBefore);
      expect(await getObject('storedatabase', both)).toBeUndefined();
      expect(await masterStore(both)).toBeUndefined();
      expect(await pgFacts(both)).toEqual({ database: false, role: false, tables: 0 });
      expect(await mysqlFacts(schemaOnMysql)).toEqual({ database: false, user: false });
    },
    TEST_TIMEOUT,
  );

  it(
    'deletionPolicy Retain (the default): Store and StoreDatabase go away, the database and role stay, the master DB marks the store detached',
    async () => {
      await setUp('lc-retain');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: name });
      await apply(storeManifest(name, { database: pgDatabase() }));
      await waitReady('store', name);
      const sdb = await getObject('storedatabase', name);
      expect(sdb?.spec.deletionPolicy).toBe('Retain');
      expect(sdb?.metadata.finalizers).toContain(FINALIZER);
      expect((await getObject('store', name))?.metadata.finalizers).toContain(FINALIZER);
      const before = await pgFacts(name);
      expect(await masterStore(name)).toMatchObject({ database_status: 'active', is_active: true, active_configs: 1 });

      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      await waitGone('storedatabase', name);
      await waitGone('store', name);

      expect(await pgFacts(name)).toEqual(before);
      expect(before).toMatchObject({ database: true, role: true });
      expect(await masterStore(name)).toEqual({ database_status: 'detached', is_active: false, active_configs: 0 });
      // The retained database still works for whoever holds its credentials.
      const tables = await postgresAdmin(
        async (c) => (await c.query("select count(*)::int as n from information_schema.tables where table_name = 'products'")).rows[0].n,
        storeName(name),
      );
      expect(tables).toBe(1);
    },
    TEST_TIMEOUT,
  );

  it(
    'deletionPolicy Delete on PostgreSQL: deleting the StoreDatabase drops its database and role before it goes away',
    async () => {
      await setUp('lc-delpg');
      const name = uniqueSlug();
      const dbName = `${name}-db`;
      env?.slugs.push({ engine: 'postgresql', slug: name });
      await apply(storeDatabaseManifest(dbName, { storeRef: { name }, ...pgDatabase({ deletionPolicy: 'Delete' }) }));
      await apply(storeManifest(name, { databaseRef: { name: dbName } }));
      await waitReady('store', name);
      expect(await pgFacts(name)).toMatchObject({ database: true, role: true });

      await kubectl(['-n', ns(), 'delete', 'storedatabase', dbName, '--wait=false']);
      await waitGone('storedatabase', dbName);
      expect(await pgFacts(name)).toEqual({ database: false, role: false, tables: 0 });
      expect(await masterStore(name)).toMatchObject({ database_status: 'detached', active_configs: 0 });
      expect((await eventsFor(dbName)).some((e) => e.reason === 'Deprovisioned')).toBe(true);

      // The Store waits for a database again; deleting it needs no cleanup of its own.
      await until('Store DatabaseNotFound', async () => readyOf(await getObject('store', name))?.reason === 'DatabaseNotFound');
      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      await waitGone('store', name);
    },
    TEST_TIMEOUT,
  );

  it(
    'deletionPolicy Delete on MariaDB: deleting the Store drops the database and user, then both resources go away',
    async () => {
      await setUp('lc-delmy');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'mysql', slug: name });
      await apply(storeManifest(name, { database: myDatabase({ deletionPolicy: 'Delete' }) }));
      await waitReady('store', name);
      expect(await mysqlFacts(name)).toEqual({ database: true, user: true });

      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      await waitGone('store', name);
      expect(await getObject('storedatabase', name)).toBeUndefined();
      expect(await mysqlFacts(name)).toEqual({ database: false, user: false });
      expect(await masterStore(name)).toMatchObject({ database_status: 'detached', active_configs: 0 });
    },
    TEST_TIMEOUT,
  );

  it(
    'deleting a Store deletes its inline StoreDatabase and stays (Deleting) until that cleanup has dropped the database',
    async () => {
      await setUp('lc-order');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: name });
      await apply(storeManifest(name, { database: pgDatabase({ deletionPolicy: 'Delete' }) }));
      await waitReady('store', name);
      expect(await pgFacts(name)).toMatchObject({ database: true, role: true });

      // Without its admin Secret the StoreDatabase's cleanup cannot run: the Store must wait for it.
      await kubectl(['-n', ns(), 'delete', 'secret', 'pg-admin']);
      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      const blocked = await until('the StoreDatabase cleanup to fail', async () => {
        const d = await getObject('storedatabase', name);
        return d?.metadata.deletionTimestamp && readyOf(d)?.reason === 'CleanupFailed' ? d : undefined;
      });
      expect(blocked.metadata.finalizers).toContain(FINALIZER);
      expect(blocked.status?.phase).toBe('Deleting');
      const waiting = await until('the Store to be Deleting', async () => {
        const s = await getObject('store', name);
        return s?.status?.phase === 'Deleting' ? s : undefined;
      });
      expect(waiting.metadata.deletionTimestamp).toBeTruthy();
      expect(waiting.metadata.finalizers).toContain(FINALIZER);
      expect(await pgFacts(name)).toMatchObject({ database: true, role: true });
      expect((await eventsFor(name)).some((e) => e.involvedObject.kind === 'Store' && e.reason === 'Deleting')).toBe(true);

      // Fixing the Secret lets the cleanup finish; watch the order in which things disappear.
      await apply(pgAdminSecret());
      const seen: Array<{ store: boolean; storeDatabase: boolean; database: boolean }> = [];
      await until('the Store to be gone', async () => {
        // Read the dependants first: what was gone when read stays gone, so a later read of what it
        // depends on must find that gone too.
        const store = (await getObject('store', name)) !== undefined;
        const storeDatabase = (await getObject('storedatabase', name)) !== undefined;
        const database = (await pgFacts(name)).database;
        seen.push({ store, storeDatabase, database });
        return !store;
      });
      for (const s of seen) {
        if (!s.storeDatabase) expect(s.database, JSON.stringify(seen)).toBe(false);
        if (!s.store) expect(s.storeDatabase, JSON.stringify(seen)).toBe(false);
      }
      expect(await pgFacts(name)).toEqual({ database: false, role: false, tables: 0 });
      expect(await getObject('storedatabase', name)).toBeUndefined();
      expect(await masterStore(name)).toMatchObject({ database_status: 'detached', active_configs: 0 });
    },
    TEST_TIMEOUT,
  );

  it(
    'deleting with Delete after an InvalidSpec databaseName change drops the provisioned database, never the one the spec now names',
    async () => {
      await setUp('lc-rename');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: name });
      // Someone else's database, which the changed spec points at.
      const { other, otherRows } = await somebodyElsesDatabase();

      await apply(storeManifest(name, { database: pgDatabase({ deletionPolicy: 'Delete' }) }));
      await waitReady('store', name);
      const before = await pgFacts(name);

      await kubectl([
        '-n',
        ns(),
        'patch',
        'store',
        name,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { database: { databaseName: other.name } } }),
      ]);
      const invalid = await until('StoreDatabase InvalidSpec', async () => {
        const d = await getObject('storedatabase', name);
        return readyOf(d)?.reason === 'InvalidSpec' ? d : undefined;
      });
      expect(readyOf(invalid)?.message).toContain(`databaseName (was null, now ${other.name})`);
      expect(await otherRows()).toBe(1);
      expect(await pgFacts(name)).toEqual(before);

      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      // Cleanup must not act on the changed spec: it waits for the field to be reverted.
      const blocked = await until('the StoreDatabase cleanup to refuse', async () => {
        const d = await getObject('storedatabase', name);
        return d?.metadata.deletionTimestamp && readyOf(d)?.reason === 'CleanupFailed' ? d : undefined;
      });
      expect(readyOf(blocked)?.message).toContain('databaseName');
      expect(await otherRows()).toBe(1);
      expect(await pgFacts(name)).toEqual(before);
      expect(await getObject('store', name)).toBeDefined();

      await kubectl(['-n', ns(), 'patch', 'storedatabase', name, '--type=json', '-p', '[{"op":"remove","path":"/spec/databaseName"}]']);
      await waitGone('storedatabase', name);
      await waitGone('store', name);
      expect(await pgFacts(name)).toEqual({ database: false, role: false, tables: 0 });
      expect(await otherRows()).toBe(1);
    },
    TEST_TIMEOUT,
  );

  it(
    'deleting a StoreDatabase that never became Ready (wrong admin password) with Delete finishes, saying what cleanup could not do',
    async () => {
      await setUp('lc-never');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'mysql', slug: name });
      const wrong = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'my-admin-wrong' },
        stringData: { username: myServer.user || 'root', password: 'not-the-root-password' },
      });
      await apply(wrong);
      const database = myDatabase({ deletionPolicy: 'Delete' });
      await apply(
        storeManifest(name, {
          database: { ...database, server: { ...(database.server as Spec), adminSecretRef: { name: 'my-admin-wrong' } } },
        }),
      );
      await until('AuthenticationFailed', async () => readyOf(await getObject('storedatabase', name))?.reason === 'AuthenticationFailed');

      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      await waitGone('storedatabase', name);
      await waitGone('store', name);
      const incomplete = (await eventsFor(name)).find((e) => e.reason === 'CleanupIncomplete') as
        | (KubeEvent & { message: string })
        | undefined;
      expect(incomplete?.message).toContain('never became Ready');
      expect(incomplete?.message).not.toContain('not-the-root-password');
      expect(await mysqlFacts(name)).toEqual({ database: false, user: false });
    },
    TEST_TIMEOUT,
  );

  it(
    "a failed create that named somebody else's database, deleted with Delete, leaves that database alone",
    async () => {
      await setUp('lc-foreign');
      const name = uniqueSlug();
      env?.slugs.push({ engine: 'postgresql', slug: name });
      const { other, otherRows } = await somebodyElsesDatabase();

      await apply(storeManifest(name, { database: pgDatabase({ deletionPolicy: 'Delete', databaseName: other.name }) }));
      const failed = await until('the create to be refused', async () => {
        const d = await getObject('storedatabase', name);
        return d?.status?.phase === 'Failed' ? d : undefined;
      });
      expect(readyOf(failed)?.message).toContain('already exists');

      await kubectl(['-n', ns(), 'delete', 'store', name, '--wait=false']);
      await waitGone('storedatabase', name);
      await waitGone('store', name);
      const incomplete = (await eventsFor(name)).find((e) => e.reason === 'CleanupIncomplete') as
        | (KubeEvent & { message: string })
        | undefined;
      expect(incomplete?.message).toContain(`database ${other.name} belongs to`);
      expect(await otherRows()).toBe(1);
    },
    TEST_TIMEOUT,
  );
});
