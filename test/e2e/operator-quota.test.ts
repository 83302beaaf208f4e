// Plan quotas in the operator, end to end on the real kube-apiserver and PostgreSQL: a free-plan Store over
// its built-in product limit gets QuotaExceeded (Warn: condition, event, metric), which clears once rows
// are deleted; a StorePlan with enforcement Suspend suspends it as spec.suspend would (its role can no
// longer log in, ConnectionManager refuses it, its data is intact), and a raised limit resumes it.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionManager } from '../../src/connections/connection-manager.js';
import { Keyring } from '../../src/master/keyring.js';
import { kubectl, type RunningOperatorEnvironment, startOperatorEnvironment, TEST_ENCRYPTION_KEYS } from '../support/operator.js';
import { dropStoreLeftovers, openPostgres, postgresEndpoint, storeName, uniqueSlug, withStoreDb } from '../support/store-db.js';
import { insertProducts } from '../support/usage-rows.js';

const TEST_TIMEOUT = 600_000;
const pgServer = postgresEndpoint();

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface StoreObject {
  status?: { phase?: string; storeId?: string; conditions?: Condition[] };
}

let env: RunningOperatorEnvironment | undefined;
const planNames: string[] = [];
let slug: string | undefined;

afterEach(async () => {
  for (const name of planNames.splice(0)) await kubectl(['delete', 'storeplan', name, '--ignore-not-found']).catch(() => {});
  await env?.cleanUp([() => (slug ? dropStoreLeftovers('postgresql', slug) : undefined)]);
  env = undefined;
});

async function getStore(namespace: string, name: string): Promise<StoreObject> {
  return JSON.parse((await kubectl(['-n', namespace, 'get', 'store', name, '-o', 'json'])).stdout) as StoreObject;
}

const quota = (store: StoreObject) => store.status?.conditions?.find((c) => c.type === 'QuotaExceeded');

async function eventReasons(namespace: string, name: string): Promise<string[]> {
  const { stdout } = await kubectl(['-n', namespace, 'get', 'events', '-o', 'json']);
  const items = (JSON.parse(stdout) as { items: Array<{ reason: string; involvedObject: { kind: string; name: string } }> }).items;
  return items.filter((e) => e.involvedObject.kind === 'Store' && e.involvedObject.name === name).map((e) => e.reason);
}

/** Logs in as the store's own role: undefined when it works, the server's refusal otherwise. */
async function loginError(role: string, database: string): Promise<string | undefined> {
  const client = new pg.Client({ host: pgServer.host, port: pgServer.port, user: role, password: 'unused-with-trust', database });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

describe('plan quotas in the operator', () => {
  it(
    'warns a free-plan store over its product limit, clears it, suspends it under a Suspend StorePlan and resumes it',
    async () => {
      env = await startOperatorEnvironment('quota', {
        objects: [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'pg-admin' },
            stringData: { username: pgServer.user || 'postgres', password: 'trust-auth-ignores-it' },
          },
        ],
        start: { args: ['--usage-interval', '2s'] },
      });
      const { namespace } = env;
      const name = 'quota-shop';
      slug = uniqueSlug();
      await env.apply({
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'Store',
        metadata: { name },
        spec: {
          slug,
          displayName: 'Quota Shop',
          plan: 'free',
          database: {
            engine: 'postgresql',
            mode: 'create',
            server: { host: pgServer.host, port: pgServer.port, adminSecretRef: { name: 'pg-admin' } },
          },
        },
      });
      const ready = await env.eventually('the store to be Ready', async () => {
        const s = await getStore(namespace, name);
        return s.status?.phase === 'Ready' ? s : undefined;
      });
      const storeId = ready.status?.storeId as string;
      const database = storeName(slug);
      await withStoreDb(openPostgres(database), (db) => insertProducts(db, 101, 'p'));

      // Warn (the default): condition naming the limit and the figure, an event, a metric; the store stays Ready.
      const warned = await env.eventually('QuotaExceeded (Warn)', async () => {
        const s = await getStore(namespace, name);
        return quota(s)?.status === 'True' ? s : undefined;
      });
      expect(quota(warned)).toMatchObject({ reason: 'QuotaWarning', message: 'maxProducts: 101 products, limit 100' });
      expect(warned.status?.phase).toBe('Ready');
      expect(await eventReasons(namespace, name)).toContain('QuotaExceeded');
      const metrics = await env.eventually('the quota metric', async () => {
        const text = await (await fetch(env?.operator.metricsUrl as string)).text();
        return text.includes('storeop_quota_exceeded_stores{plan="free",limit="maxProducts"} 1') ? text : undefined;
      });
      expect(metrics).toContain('storeop_usage_total{plan="free",resource="products"} 101');
      expect(metrics).not.toContain(slug); // no per-store label without --usage-metrics-per-store

      // Back under the limit: the condition clears.
      await withStoreDb(openPostgres(database), (db) => db.query(`delete from products where sku = 'p-100'`));
      const cleared = await env.eventually('QuotaExceeded to clear', async () => {
        const s = await getStore(namespace, name);
        return quota(s)?.status === 'False' ? s : undefined;
      });
      expect(quota(cleared)).toMatchObject({ reason: 'WithinLimits' });
      expect(await eventReasons(namespace, name)).toContain('QuotaRestored');

      // Suspend: a StorePlan for free with enforcement Suspend, and the store over its limit again.
      const plan = `quota-${namespace}`;
      planNames.push(plan);
      const storePlan = (limits: Record<string, number>) =>
        JSON.stringify({
          apiVersion: 'storeop.dev/v1alpha1',
          kind: 'StorePlan',
          metadata: { name: plan, labels: { 'storeop.dev/test': namespace } },
          spec: { plan: 'free', limits, enforcement: 'Suspend' },
        });
      await kubectl(['apply', '-f', '-'], storePlan({ maxProducts: 100 }));
      await withStoreDb(openPostgres(database), (db) => insertProducts(db, 1, 'again'));
      const suspended = await env.eventually('the store to be suspended for its quota', async () => {
        const s = await getStore(namespace, name);
        return quota(s)?.reason === 'QuotaSuspended' && s.status?.phase === 'Suspended' ? s : undefined;
      });
      expect(quota(suspended)?.message).toContain('maxProducts: 101 products, limit 100');
      expect(await loginError(database, database)).toMatch(/not permitted to log in/);
      const manager = await ConnectionManager.open({ masterUrl: env.master.url, keyring: Keyring.parse(TEST_ENCRYPTION_KEYS) });
      try {
        await expect(manager.forStore(storeId)).rejects.toMatchObject({ code: 'StoreSuspended' });
      } finally {
        await manager.close();
      }
      const count = await withStoreDb(openPostgres(database), (db) => db.query('select count(*)::int as n from products'));
      expect(count).toEqual([{ n: 101 }]);

      // A raised limit lifts the suspension: the store is resumed and its role logs in again.
      await kubectl(['apply', '-f', '-'], storePlan({ maxProducts: 1000 }));
      await env.eventually('the store to be resumed', async () => {
        const s = await getStore(namespace, name);
        return quota(s)?.status === 'False' && s.status?.phase === 'Ready' ? s : undefined;
      });
      expect(await loginError(database, database)).toBeUndefined();
    },
    TEST_TIMEOUT,
  );
});
