// DatabaseServers end to end (issue 14): two PostgreSQL servers of the test's own (initdb + pg_ctl on free
// ports) and the real MariaDB, registered as DatabaseServers, with `storeop run --namespace` placing stores on
// them. Placement by serverSelector and region (sticky, recorded in the master DB, shown by `storeop get`),
// LeastStores balance, capacity (NoServerAvailable until raised), the per-server bound on admin sessions
// measured from the server side (pg_stat_activity), Degraded while a server is down, and MariaDB.
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runEveryStep } from '../support/cleanup.js';
import { runStoreop } from '../support/cli.js';
import { MYSQL_URL, postgresRows } from '../support/databases.js';
import { kubectl, type RunningOperatorEnvironment, startOperatorEnvironment, TEST_ENCRYPTION_KEYS } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';
import { type PostgresCluster, startPostgresCluster } from '../support/postgres-cluster.js';
import { dropStoreLeftovers, mysqlEndpoint, storeName, uniqueSlug } from '../support/store-db.js';

const TEST_TIMEOUT = 600_000;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface KubeObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    message?: string;
    server?: string;
    storeCount?: number;
    connectionsUsed?: number;
    version?: string;
    conditions?: Condition[];
    database?: { server?: string };
  };
}

let clusters: [PostgresCluster, PostgresCluster];
let env: RunningOperatorEnvironment | undefined;
/** DatabaseServers (cluster-scoped) this test created, deleted after its stores. */
let servers: string[] = [];
/** MariaDB stores whose database and user a failed test may leave behind. */
let mysqlSlugs: string[] = [];

beforeAll(async () => {
  clusters = [await startPostgresCluster(), await startPostgresCluster()];
}, TEST_TIMEOUT);

afterAll(async () => {
  await runEveryStep('could not remove the test PostgreSQL servers', clusters?.map((c) => () => c.remove()) ?? []);
}, TEST_TIMEOUT);

afterEach(async () => {
  const current = env;
  env = undefined;
  const names = servers;
  const slugs = mysqlSlugs;
  servers = [];
  mysqlSlugs = [];
  if (!current) return;
  // Stores first (their deletion drops their databases on the servers), then the servers.
  await current.cleanUp([
    ...names.map((name) => () => kubectl(['delete', 'databaseserver', name, '--ignore-not-found', '--wait=true'])),
    ...slugs.map((slug) => () => dropStoreLeftovers('mysql', slug)),
  ]);
}, TEST_TIMEOUT);

/** An operator for a namespace of its own, whose own namespace (admin Secrets) is that namespace. */
async function setUp(prefix: string, args: string[] = []): Promise<RunningOperatorEnvironment> {
  const objects = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'server-admin' },
      stringData: { username: 'postgres', password: 'trust-auth-ignores-it' },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'mariadb-admin' },
      stringData: { username: mysqlEndpoint().user || 'root', password: mysqlEndpoint().password ?? '' },
    },
  ];
  env = await startOperatorEnvironment(prefix, {
    objects,
    start: ({ namespace }) => ({ args: ['--operator-namespace', namespace, ...args] }),
  });
  return env;
}

/** A DatabaseServer on one of the test's PostgreSQL servers (or MariaDB), labelled with the test's own label. */
async function createServer(
  name: string,
  labels: Record<string, string>,
  spec: Record<string, unknown> & { engine?: string; port?: number },
): Promise<string> {
  const full = `${name}-${randomBytes(3).toString('hex')}`;
  servers.push(full);
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'DatabaseServer',
      metadata: { name: full, labels },
      spec: { engine: 'postgresql', host: '127.0.0.1', adminSecretRef: { name: 'server-admin' }, ...spec },
    }),
  );
  return full;
}

function store(name: string, database: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name },
    spec: { displayName: `Store ${name}`, ...extra, database: { engine: 'postgresql', deletionPolicy: 'Delete', ...database } },
  };
}

async function getJson(ref: string, namespaced = true): Promise<KubeObject> {
  const { stdout } = await kubectl([
    ...(namespaced ? ['-n', (env as RunningOperatorEnvironment).namespace] : []),
    'get',
    ref,
    '-o',
    'json',
  ]);
  return JSON.parse(stdout) as KubeObject;
}

async function listStores(): Promise<KubeObject[]> {
  const { stdout } = await kubectl(['-n', (env as RunningOperatorEnvironment).namespace, 'get', 'stores', '-o', 'json']);
  return (JSON.parse(stdout) as { items: KubeObject[] }).items;
}

const condition = (o: KubeObject, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** Waits until the Store is Ready and answers the DatabaseServer it landed on. */
async function readyOn(name: string): Promise<string> {
  const e = env as RunningOperatorEnvironment;
  return e.eventually(`Store ${name} Ready`, async () => {
    const s = await getJson(`store/${name}`);
    return condition(s, 'Ready')?.status === 'True' ? s.status?.database?.server : undefined;
  });
}

/** The store databases on one of the test's PostgreSQL servers. */
async function databasesOn(cluster: PostgresCluster): Promise<string[]> {
  const rows = await postgresRows<{ datname: string }>(cluster.url, "SELECT datname FROM pg_database WHERE datname LIKE 'store\\_%'");
  return rows.map((r) => r.datname);
}

async function events(reason: string): Promise<string[]> {
  const { stdout } = await kubectl([
    '-n',
    (env as RunningOperatorEnvironment).namespace,
    'get',
    'events',
    '--field-selector',
    `reason=${reason}`,
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
  return stdout.split('\n').filter(Boolean);
}

describe('DatabaseServers', () => {
  it(
    'places stores by serverSelector and region only on matching servers, keeps them there, and records the server in the master DB',
    async () => {
      const e = await setUp('dbs-place');
      const test = { 'storeop.dev/test': e.namespace };
      const [one, two] = clusters;
      const eu = await createServer('pg-eu', { ...test, 'storeop.dev/region': 'eu', tier: 'gold' }, { port: one.port });
      const us = await createServer('pg-us', { ...test, 'storeop.dev/region': 'us', tier: 'standard' }, { port: two.port });
      const selector = { matchLabels: test };
      const [inEu, standard, usGold] = [uniqueSlug(), uniqueSlug(), uniqueSlug()];
      await e.apply(
        store(inEu, { serverSelector: selector }, { region: 'eu' }),
        store(standard, { serverSelector: { matchLabels: { ...test, tier: 'standard' } } }),
        store(usGold, { serverSelector: { matchLabels: { ...test, tier: 'gold' } } }, { region: 'us' }),
      );
      expect(await readyOn(inEu)).toBe(eu);
      expect(await readyOn(standard)).toBe(us);
      expect(await databasesOn(one)).toContain(storeName(inEu));
      expect(await databasesOn(one)).not.toContain(storeName(standard));
      expect(await databasesOn(two)).toContain(storeName(standard));
      expect(await databasesOn(two)).not.toContain(storeName(inEu));

      // No gold server in region us: Pending, NoServerAvailable, and an event naming what was missing.
      const waiting = await e.eventually('the us/gold store to wait for a server', async () => {
        const s = await getJson(`store/${usGold}`);
        return condition(s, 'Ready')?.reason === 'NoServerAvailable' ? s : undefined;
      });
      expect(waiting.status?.phase).toBe('Pending');
      expect(condition(waiting, 'Ready')?.message).toMatch(/region us.*selector.*tier=gold/);
      expect((await events('NoServerAvailable')).join('\n')).toMatch(/region us/);

      // The eu server moves to region us: the waiting store is placed there at once (the server's change
      // wakes it); the store already on it stays, and none moves.
      await kubectl(['label', 'databaseserver', eu, 'storeop.dev/region=us', '--overwrite']);
      expect(await readyOn(usGold)).toBe(eu);
      expect(await databasesOn(one)).toContain(storeName(usGold));
      expect((await getJson(`storedatabase/${inEu}`)).status?.server).toBe(eu);
      expect((await getJson(`storedatabase/${standard}`)).status?.server).toBe(us);

      // The master DB records the placement: `storeop get store SLUG -o json` shows it.
      const get = await runStoreop(['get', 'store', inEu, '-o', 'json', '--master-database-url', e.master.url], {
        cwd: repoRoot,
        env: { ...process.env, STOREOP_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS },
        timeoutMs: 120_000,
      });
      expect(get.code, get.stderr).toBe(0);
      expect(JSON.parse(get.stdout)).toMatchObject({ slug: inEu, database_server: eu });

      // Server status: reachable, its version, the stores placed on it, the connections in use.
      const server = await e.eventually('the eu server to count its stores', async () => {
        const s = await getJson(`databaseserver/${eu}`, false);
        return s.status?.phase === 'Ready' ? s : undefined;
      });
      expect(condition(server, 'Reachable')?.status).toBe('True');
      expect(server.status?.version).toMatch(/^15\./);
      expect(server.status?.connectionsUsed).toBeGreaterThan(0);
    },
    TEST_TIMEOUT,
  );

  it(
    'LeastStores balances 20 stores across two servers within one, and /metrics reports the stores per server',
    async () => {
      const e = await setUp('dbs-balance');
      const test = { 'storeop.dev/test': e.namespace };
      const [one, two] = clusters;
      const a = await createServer('pg-a', test, { port: one.port });
      const b = await createServer('pg-b', test, { port: two.port });
      const slugs = Array.from({ length: 20 }, () => uniqueSlug());
      await e.apply(...slugs.map((slug) => store(slug, { serverSelector: { matchLabels: test }, seed: false })));
      const placed = await e.eventually(
        '20 stores Ready',
        async () => {
          const stores = await listStores();
          const ready = stores.filter((s) => condition(s, 'Ready')?.status === 'True');
          return ready.length === 20 ? ready.map((s) => s.status?.database?.server) : undefined;
        },
        480_000,
      );
      const onA = placed.filter((s) => s === a).length;
      const onB = placed.filter((s) => s === b).length;
      expect(onA + onB).toBe(20);
      expect(Math.abs(onA - onB)).toBeLessThanOrEqual(1);
      const metrics = await (await fetch(e.operator.metricsUrl)).text();
      expect(metrics).toContain(`storeop_server_stores{server="${a}"} ${onA}`);
      expect(metrics).toContain(`storeop_server_stores{server="${b}"} ${onB}`);
      expect(metrics).toMatch(new RegExp(`storeop_server_reachable\\{server="${a}"\\} 1`));
      expect(metrics).toMatch(new RegExp(`storeop_server_operations_in_flight\\{server="${a}"\\} \\d`));
    },
    TEST_TIMEOUT,
  );

  it(
    'a full server leaves new stores Pending with NoServerAvailable until its capacity is raised; connectionsPerStore caps each role',
    async () => {
      const e = await setUp('dbs-full');
      const test = { 'storeop.dev/test': e.namespace };
      const server = await createServer('pg-small', test, {
        port: clusters[0].port,
        capacity: { maxStores: 1 },
        limits: { connectionsPerStore: 7 },
      });
      const [first, second] = [uniqueSlug(), uniqueSlug()];
      await e.apply(store(first, { serverSelector: { matchLabels: test }, seed: false }));
      expect(await readyOn(first)).toBe(server);
      await e.apply(store(second, { serverSelector: { matchLabels: test }, seed: false }));
      const pending = await e.eventually('the second store to wait for room', async () => {
        const s = await getJson(`store/${second}`);
        return condition(s, 'Ready')?.reason === 'NoServerAvailable' ? s : undefined;
      });
      expect(pending.status?.phase).toBe('Pending');
      expect(condition(pending, 'Ready')?.message).toMatch(/full \(capacity\.maxStores\)/);
      expect((await events('NoServerAvailable')).join('\n')).toMatch(/full/);
      expect(await databasesOn(clusters[0])).not.toContain(storeName(second));

      await kubectl(['patch', 'databaseserver', server, '--type=merge', '-p', JSON.stringify({ spec: { capacity: { maxStores: 2 } } })]);
      expect(await readyOn(second)).toBe(server);
      const limits = await postgresRows<{ rolconnlimit: number }>(clusters[0].url, 'SELECT rolconnlimit FROM pg_roles WHERE rolname = $1', [
        storeName(second),
      ]);
      expect(limits).toEqual([{ rolconnlimit: 7 }]);
    },
    TEST_TIMEOUT,
  );

  it(
    'never holds more than maxConcurrentOperations (2) admin sessions on a server while 30 stores provision, measured in pg_stat_activity',
    async () => {
      const e = await setUp('dbs-limit', ['--max-concurrent-reconciles', '8']);
      const test = { 'storeop.dev/test': e.namespace };
      const cluster = clusters[1];
      await createServer('pg-limited', test, { port: cluster.port, limits: { maxConcurrentOperations: 2 } });
      const slugs = Array.from({ length: 30 }, () => uniqueSlug());
      await e.apply(...slugs.map((slug) => store(slug, { serverSelector: { matchLabels: test }, seed: false })));
      // Sampled from the server's side for as long as the fleet provisions: storeop's admin sessions.
      let most = 0;
      let samples = 0;
      let done = false;
      const sampler = (async () => {
        while (!done) {
          const [row] = await postgresRows<{ n: number }>(
            cluster.url,
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'storeop-admin'",
          );
          most = Math.max(most, row?.n ?? 0);
          samples++;
        }
      })();
      try {
        await e.eventually(
          '30 stores Ready',
          async () => (await listStores()).filter((s) => condition(s, 'Ready')?.status === 'True').length === 30,
          540_000,
        );
      } finally {
        done = true;
        await sampler;
      }
      expect(samples).toBeGreaterThan(30);
      expect(most).toBeGreaterThanOrEqual(1); // the sampler saw the work it bounds
      expect(most).toBeLessThanOrEqual(2);
    },
    TEST_TIMEOUT,
  );

  it(
    'marks the stores of a server that stops Degraded (not Failed), and they recover without a restart when it returns',
    async () => {
      // A short resync: the server's periodic check notices it is gone.
      const e = await setUp('dbs-down', ['--resync-period', '3s']);
      const test = { 'storeop.dev/test': e.namespace };
      const cluster = clusters[0];
      const server = await createServer('pg-flaky', test, { port: cluster.port });
      const slugs = [uniqueSlug(), uniqueSlug()];
      await e.apply(...slugs.map((slug) => store(slug, { serverSelector: { matchLabels: test }, seed: false })));
      for (const slug of slugs) expect(await readyOn(slug)).toBe(server);

      await cluster.stop();
      try {
        for (const slug of slugs) {
          await e.eventually(`Store ${slug} Degraded`, async () => (await getJson(`store/${slug}`)).status?.phase === 'Degraded');
          const sdb = await getJson(`storedatabase/${slug}`);
          expect(condition(sdb, 'Degraded')).toMatchObject({ status: 'True', reason: 'ServerUnreachable' });
          expect(sdb.status?.phase).toBe('Degraded');
        }
        const down = await getJson(`databaseserver/${server}`, false);
        expect(down.status?.phase).toBe('Unreachable');
        expect(condition(down, 'Reachable')?.status).toBe('False');
        expect((await events('ServerUnreachable')).length).toBeGreaterThan(0);
      } finally {
        await cluster.start();
      }
      for (const slug of slugs) {
        await readyOn(slug);
        expect(condition(await getJson(`storedatabase/${slug}`), 'Degraded')).toMatchObject({ status: 'False' });
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'places a MariaDB store on a mysql DatabaseServer, with its connectionsPerStore as the user limit',
    async () => {
      const e = await setUp('dbs-maria');
      const test = { 'storeop.dev/test': e.namespace };
      const port = Number(new URL(MYSQL_URL).port) || 3306;
      const server = await createServer('mariadb', test, {
        engine: 'mysql',
        port,
        adminSecretRef: { name: 'mariadb-admin' },
        limits: { connectionsPerStore: 5 },
      });
      const slug = uniqueSlug();
      mysqlSlugs.push(slug);
      await e.apply(store(slug, { engine: 'mysql', serverSelector: { matchLabels: test }, seed: false }));
      expect(await readyOn(slug)).toBe(server);
      const conn = await mysql.createConnection({ uri: MYSQL_URL });
      try {
        const [users] = await conn.query<mysql.RowDataPacket[]>('SELECT max_user_connections AS n FROM mysql.user WHERE user = ?', [
          storeName(slug),
        ]);
        expect(users.map((u) => Number(u.n))).toEqual([5]);
        const [databases] = await conn.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [storeName(slug)]);
        expect(databases).toHaveLength(1);
      } finally {
        await conn.end();
      }
    },
    TEST_TIMEOUT,
  );
});
