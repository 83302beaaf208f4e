import { afterEach, describe, expect, it } from 'vitest';
import { runEveryStep } from '../support/cleanup.js';
import { postgresRows } from '../support/databases.js';
import { eventuallyWithLogs, kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from '../support/operator.js';
import {
  dropStoreLeftovers,
  mysqlAdmin,
  mysqlEndpoint,
  openMysql,
  postgresAdmin,
  postgresEndpoint,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';
import { startWireCounter, type WireCounter } from '../support/wire-counter.js';

const TEST_TIMEOUT = 300_000;
const RESYNC = '2s';
/** Statements that change something or need an admin: none may reach the server in a no-op check. */
const WRITES = /\b(insert|update|delete|alter|create|drop|grant|revoke|comment|truncate|set|lock)\b/i;

type Engine = 'postgresql' | 'mysql';
interface KubeEvent {
  reason: string;
  involvedObject: { kind: string; name: string };
}

let env: (OperatorEnvironment & { operator?: OperatorProcess; relay?: WireCounter; slug?: string; engine?: Engine }) | undefined;

afterEach(async () => {
  const current = env;
  env = undefined;
  if (!current) return;
  await runEveryStep('resync test cleanup failed', [
    () => current.tearDown(),
    () => current.relay?.close(),
    () => (current.slug && current.engine ? dropStoreLeftovers(current.engine, current.slug) : undefined),
  ]);
});

function ns(): string {
  if (!env) throw new Error('no test environment');
  return env.namespace;
}

/** Polls until `check` returns a value other than undefined/false; fails with `what` and the operator's logs after `ms`. */
function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 120_000): Promise<T> {
  return eventuallyWithLogs(what, check, () => env?.operator?.logs() ?? '', ms);
}

async function readyStatus(kind: string, name: string): Promise<string | undefined> {
  const { stdout } = await kubectl(['-n', ns(), 'get', kind, name, '--ignore-not-found', '-o', 'json']);
  if (!stdout.trim()) return undefined;
  const object = JSON.parse(stdout) as { status?: { conditions?: Array<{ type: string; status: string }> } };
  return object.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

async function eventsOf(name: string): Promise<KubeEvent[]> {
  const { stdout } = await kubectl(['-n', ns(), 'get', 'events', '-o', 'json']);
  return (JSON.parse(stdout) as { items: KubeEvent[] }).items.filter((e) => e.involvedObject.name === name);
}

/** Every master DB row storeop keeps for stores, jobs, configs and the audit trail, as text. */
async function masterSnapshot(masterUrl: string): Promise<string> {
  const tables = ['stores', 'integration_configs', 'provisioning_jobs', 'audit_logs', 'subscriptions', 'users'];
  const parts = await Promise.all(
    tables.map(async (table) => JSON.stringify(await postgresRows(masterUrl, `select * from ${table} order by 1`))),
  );
  return parts.join('\n');
}

const fingerprintQueries = (relay: WireCounter) => relay.statements.filter((s) => /fingerprint/.test(s)).length;

describe.each<Engine>(['postgresql', 'mysql'])('the periodic check on %s', (engine) => {
  it(
    'costs one login and one read-only query while nothing changes, writes nothing to the master DB, and repairs a dropped table',
    async () => {
      const environment = await operatorEnvironment(`resync-${engine === 'postgresql' ? 'pg' : 'my'}`);
      env = environment;
      const server = engine === 'postgresql' ? postgresEndpoint() : mysqlEndpoint();
      const relay = await startWireCounter(engine === 'postgresql' ? 'postgres' : 'mysql', server);
      env.relay = relay;
      env.operator = await environment.start({ args: ['--resync-period', RESYNC] });
      const slug = uniqueSlug();
      env.slug = slug;
      env.engine = engine;
      const dbName = `${slug}-db`;
      const manifests = [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'admin' },
          stringData: { username: server.user, password: server.password ?? '' },
        },
        {
          apiVersion: 'storeop.dev/v1alpha1',
          kind: 'StoreDatabase',
          metadata: { name: dbName },
          spec: {
            storeRef: { name: slug },
            engine,
            mode: 'create',
            server: { host: '127.0.0.1', port: relay.port, adminSecretRef: { name: 'admin' } },
            writeConnectionSecretToRef: { name: `${slug}-conn` },
          },
        },
        {
          apiVersion: 'storeop.dev/v1alpha1',
          kind: 'Store',
          metadata: { name: slug },
          spec: { displayName: `Store ${slug}`, owner: `${slug}@example.com`, plan: 'starter', databaseRef: { name: dbName } },
        },
      ];
      await kubectl(['-n', ns(), 'apply', '-f', '-'], manifests.map((m) => JSON.stringify(m)).join('\n'));
      await until('the StoreDatabase Ready', async () => (await readyStatus('storedatabase', dbName)) === 'True');
      await until('the first periodic checks', async () => fingerprintQueries(relay) >= 2);

      // A window of no-op checks: only fingerprint sessions reach the server, and the master DB stays as it was.
      const before = await masterSnapshot(environment.master.url);
      relay.reset();
      await until('three more periodic checks', async () => fingerprintQueries(relay) >= 3, 60_000);
      const checks = fingerprintQueries(relay);
      const statements = [...relay.statements];
      const { connections, roundTrips } = relay;
      expect(statements).toHaveLength(checks); // nothing but the fingerprint query
      for (const statement of statements) expect(statement.replace(/'[^']*'/g, "''")).not.toMatch(WRITES);
      // Per check one connection and two round trips (the login, the query); a check may be mid-flight at the end.
      expect(connections).toBeGreaterThanOrEqual(checks);
      expect(connections).toBeLessThanOrEqual(checks + 1);
      expect(roundTrips).toBeLessThanOrEqual(2 * checks + 1);
      expect(await masterSnapshot(environment.master.url)).toBe(before);
      expect((await eventsOf(dbName)).some((e) => e.reason === 'DriftRepaired')).toBe(false);

      // Drift behind storeop's back: the next check finds it, the full pipeline repairs it.
      if (engine === 'postgresql') await postgresAdmin((c) => c.query('drop table seo_settings'), storeName(slug));
      else await mysqlAdmin([`drop table \`${storeName(slug)}\`.seo_settings`]);
      await until('a DriftRepaired event', async () => (await eventsOf(dbName)).some((e) => e.reason === 'DriftRepaired'));
      const restored =
        engine === 'postgresql'
          ? await postgresAdmin(
              async (c) => (await c.query(`select count(*)::int as n from pg_tables where tablename = 'seo_settings'`)).rows[0]?.n,
              storeName(slug),
            )
          : await withStoreDb(openMysql(storeName(slug)), async (db) => (await db.query(`show tables like 'seo_settings'`)).length);
      expect(restored).toBe(1);
      expect(await readyStatus('storedatabase', dbName)).toBe('True');

      // After the repair the checks are cheap again.
      await until('a periodic check after the repair', async () => {
        relay.reset();
        await until('one more check', async () => fingerprintQueries(relay) >= 2, 60_000);
        return relay.statements.every((s) => /fingerprint/.test(s));
      });
    },
    TEST_TIMEOUT,
  );
});
