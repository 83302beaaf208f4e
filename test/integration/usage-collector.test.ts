// The usage collector on real PostgreSQL and MariaDB stores with known rows: every master table's rows after a
// collection (exact counts and sums), idempotence within a period, rollups across a day and a month boundary
// (an injected clock), quota verdicts against the built-in free plan and a StorePlan override, and plan changes.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../src/http/app.js';
import { TokenVerifier } from '../../src/http/auth.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { LocalProvisioner } from '../../src/http/provisioner.js';
import { createLogger } from '../../src/log.js';
import type { MasterDatabase } from '../../src/master/database.js';
import { upsertStore } from '../../src/master/stores.js';
import { type MasterContext, provisionStore } from '../../src/stores/provision-store.js';
import { collectUsage } from '../../src/stores/usage/collector.js';
import { postgresMaster, runCli, type TestMaster } from '../support/master.js';
import {
  mysqlCreateTarget,
  openMysql,
  openPostgres,
  postgresCreateTarget,
  StoreCleanup,
  type StoreDb,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';
import { insertCustomer, insertOrder, insertProducts } from '../support/usage-rows.js';

interface Shop {
  id: string;
  slug: string;
  engine: 'postgresql' | 'mysql';
  open(): Promise<StoreDb>;
}

const clock = (iso: string) => () => new Date(iso);

describe('usage collection on PostgreSQL and MariaDB stores', () => {
  let tm: TestMaster;
  let master: MasterDatabase;
  let ctx: MasterContext;
  const cleanup = new StoreCleanup();
  let pgShop: Shop;
  let myShop: Shop;

  async function provisionOn(engine: 'postgresql' | 'mysql', plan: 'free' | 'starter'): Promise<Shop> {
    const slug = uniqueSlug();
    const target = cleanup.track(engine === 'mysql' ? mysqlCreateTarget() : postgresCreateTarget(), slug);
    const { store } = await provisionStore(ctx, { slug, name: `Shop ${slug}`, plan }, { target });
    return {
      id: store.id,
      slug,
      engine,
      open: () => (engine === 'mysql' ? openMysql(storeName(slug)) : openPostgres(storeName(slug))),
    };
  }

  const rows = (table: string, shop: Shop, order = '1') =>
    tm.sql(`select * from ${table} where store_id = $1 order by ${order}`, [shop.id]) as Promise<Record<string, unknown>[]>;

  beforeAll(async () => {
    tm = await postgresMaster.create();
    master = await tm.open();
    ctx = { master, keyring: tm.keyring, actor: 'test' };
    [pgShop, myShop] = await Promise.all([provisionOn('postgresql', 'free'), provisionOn('mysql', 'starter')]);
    for (const shop of [pgShop, myShop]) {
      await withStoreDb(shop.open(), async (db) => {
        // Seeding leaves these tables empty: the figures below are exactly the rows inserted here.
        for (const table of ['products', 'customers', 'orders', 'order_items'])
          expect(Number((await db.query(`select count(*) as n from ${table}`))[0]?.n)).toBe(0);
        await insertProducts(db, 3, 'p');
        await insertCustomer(db, 'a@example.com', '2026-01-31T08:00:00Z');
        await insertCustomer(db, 'b@example.com', '2026-01-31T09:00:00Z');
        await insertOrder(db, 'A-1', '10.50', '2026-01-31T10:00:00Z', 2);
        await insertOrder(db, 'A-2', '20.25', '2026-01-31T11:00:00Z', 1);
      });
    }
  }, 180_000);

  afterAll(async () => {
    await master?.close();
    await cleanup.run();
    await tm?.destroy();
  });

  it('writes exact counts and sums per store and day, and a second run in the period changes no row count', async () => {
    const report = await collectUsage(ctx, { now: clock('2026-01-31T12:00:00Z') });
    expect(report.stores.map((s) => [s.slug, s.sampled, s.error]).sort()).toEqual(
      [
        [pgShop.slug, true, undefined],
        [myShop.slug, true, undefined],
      ].sort(),
    );
    for (const shop of [pgShop, myShop]) {
      const metrics = await rows('usage_metrics', shop);
      expect(metrics).toHaveLength(1);
      expect(metrics[0]).toMatchObject({ product_count: 3, customer_count: 2, order_count: 2, order_item_count: 3, api_calls: 0 });
      expect(Number(metrics[0]?.storage_used_bytes)).toBeGreaterThan(0);
      const analytics = await tm.sql(
        `select to_char(date, 'YYYY-MM-DD') as day, orders, revenue, new_customers, products, average_order_value
           from store_analytics where store_id = $1 order by date`,
        [shop.id],
      );
      expect(analytics).toEqual([
        { day: '2026-01-31', orders: 2, revenue: '30.75', new_customers: 2, products: 3, average_order_value: '15.38' },
      ]);
      const reports = await tm.sql(
        `select period_type, to_char(period_start, 'YYYY-MM-DD') as start, to_char(period_end, 'YYYY-MM-DD') as end,
                total_revenue, order_count from revenue_reports where store_id = $1 order by period_start`,
        [shop.id],
      );
      expect(reports).toEqual([{ period_type: 'monthly', start: '2026-01-01', end: '2026-01-31', total_revenue: '30.75', order_count: 2 }]);
    }
    const stats = await tm.sql(
      `select plan, total_stores, active_stores, total_products::int, total_orders::int from usage_statistics
        where stat_date = '2026-01-31' order by plan`,
    );
    expect(stats).toEqual([
      { plan: 'free', total_stores: 1, active_stores: 1, total_products: 3, total_orders: 2 },
      { plan: 'starter', total_stores: 1, active_stores: 1, total_products: 3, total_orders: 2 },
    ]);
    const duration = await tm.sql(`select value from performance_metrics where metric_name = 'usage_collection_duration_seconds'`);
    expect(duration).toHaveLength(1);
    expect(Number(duration[0]?.value)).toBeGreaterThan(0);

    const counts = async () =>
      tm.sql(`select (select count(*) from usage_metrics)::int as m, (select count(*) from store_analytics)::int as a,
                     (select count(*) from revenue_reports)::int as r, (select count(*) from usage_statistics)::int as s,
                     (select count(*) from performance_metrics)::int as p,
                     (select sum(revenue) from store_analytics)::text as revenue, (select sum(orders) from store_analytics)::int as orders`);
    const before = await counts();
    await collectUsage(ctx, { now: clock('2026-01-31T12:15:00Z') });
    expect(await counts()).toEqual(before);
    expect(before[0]).toMatchObject({ m: 2, a: 2, r: 2, s: 2, revenue: '61.50', orders: 4 });
  });

  it('rolls orders up across a day and a month boundary: late orders go to their day and month', async () => {
    for (const shop of [pgShop, myShop]) {
      await withStoreDb(shop.open(), async (db) => {
        await insertOrder(db, 'A-3', '7.00', '2026-01-31T23:30:00Z');
        await insertOrder(db, 'B-1', '5.00', '2026-02-01T00:30:00Z', 2);
        await insertCustomer(db, 'c@example.com', '2026-02-01T00:20:00Z');
      });
    }
    await collectUsage(ctx, { now: clock('2026-02-01T01:00:00Z') });
    for (const shop of [pgShop, myShop]) {
      const analytics = await tm.sql(
        `select to_char(date, 'YYYY-MM-DD') as day, orders, revenue, new_customers, products from store_analytics where store_id = $1 order by date`,
        [shop.id],
      );
      expect(analytics).toEqual([
        { day: '2026-01-31', orders: 3, revenue: '37.75', new_customers: 2, products: 3 },
        { day: '2026-02-01', orders: 1, revenue: '5.00', new_customers: 1, products: 3 },
      ]);
      const reports = await tm.sql(
        `select to_char(period_start, 'YYYY-MM-DD') as start, total_revenue, order_count from revenue_reports where store_id = $1 order by period_start`,
        [shop.id],
      );
      expect(reports).toEqual([
        { start: '2026-01-01', total_revenue: '37.75', order_count: 3 },
        { start: '2026-02-01', total_revenue: '5.00', order_count: 1 },
      ]);
      const metrics = await tm.sql(
        `select to_char(metric_date, 'YYYY-MM-DD') as day, order_count, order_item_count, customer_count from usage_metrics where store_id = $1 order by metric_date`,
        [shop.id],
      );
      expect(metrics).toEqual([
        { day: '2026-01-31', order_count: 2, order_item_count: 3, customer_count: 2 },
        { day: '2026-02-01', order_count: 4, order_item_count: 6, customer_count: 3 },
      ]);
    }
    const stats = await tm.sql(
      `select to_char(stat_date, 'YYYY-MM-DD') as day, plan, total_orders::int from usage_statistics order by 1, 2`,
    );
    expect(stats).toEqual([
      { day: '2026-01-31', plan: 'free', total_orders: 2 },
      { day: '2026-01-31', plan: 'starter', total_orders: 2 },
      { day: '2026-02-01', plan: 'free', total_orders: 4 },
      { day: '2026-02-01', plan: 'starter', total_orders: 4 },
    ]);
  });

  it('checks quotas: the free plan over 100 products, a StorePlan override, and clearing once rows are deleted', async () => {
    await withStoreDb(pgShop.open(), (db) => insertProducts(db, 98, 'q'));
    const now = clock('2026-02-01T02:00:00Z');
    const over = await collectUsage(ctx, { now });
    const pg = over.stores.find((s) => s.id === pgShop.id);
    expect(pg?.verdict).toEqual({ exceeded: [{ limit: 'maxProducts', figure: 101, max: 100 }], enforcement: 'Warn' });
    expect(pg?.changed).toBe(true);
    expect(over.stores.find((s) => s.id === myShop.id)?.verdict.exceeded).toEqual([]);
    expect((await tm.sql('select quota_state from stores where id = $1', [pgShop.id]))[0]?.quota_state).toEqual({
      exceeded: [{ limit: 'maxProducts', figure: 101, max: 100 }],
      enforcement: 'Warn',
    });
    // Unchanged verdict: not written again.
    expect((await collectUsage(ctx, { now })).stores.find((s) => s.id === pgShop.id)?.changed).toBe(false);

    // A StorePlan for starter: two orders a month at most, suspending.
    const strict = await collectUsage(ctx, {
      now,
      overrides: [{ name: 'strict-starter', spec: { plan: 'starter', limits: { maxOrdersPerMonth: 0 }, enforcement: 'Suspend' } }],
    });
    expect(strict.stores.find((s) => s.id === myShop.id)?.verdict).toEqual({
      exceeded: [{ limit: 'maxOrdersPerMonth', figure: 1, max: 0 }],
      enforcement: 'Suspend',
    });

    await withStoreDb(pgShop.open(), (db) => db.query(`delete from products where sku like 'q-%'`));
    const cleared = await collectUsage(ctx, { now });
    expect(cleared.stores.find((s) => s.id === pgShop.id)).toMatchObject({ changed: true, verdict: { exceeded: [] } });
    expect((await tm.sql('select quota_state from stores where id = $1', [pgShop.id]))[0]?.quota_state).toBeNull();
  });

  it('records a plan change as a new subscription and a zero-amount billing transaction', async () => {
    await upsertStore(master.db, { slug: pgShop.slug, name: `Shop ${pgShop.slug}`, plan: 'professional' });
    const subscriptions = await tm.sql(
      'select plan_name, cancelled_at is null as current from subscriptions where store_id = $1 order by created_at',
      [pgShop.id],
    );
    expect(subscriptions).toEqual([
      { plan_name: 'free', current: false },
      { plan_name: 'professional', current: true },
    ]);
    const billing = await tm.sql('select amount, status, description from billing_transactions where store_id = $1', [pgShop.id]);
    expect(billing).toEqual([{ amount: '0.00', status: 'recorded', description: 'plan change: free -> professional' }]);
    // The same plan again changes nothing.
    await upsertStore(master.db, { slug: pgShop.slug, name: `Shop ${pgShop.slug}`, plan: 'professional' });
    expect(await tm.sql('select count(*)::int as n from billing_transactions where store_id = $1', [pgShop.id])).toEqual([{ n: 1 }]);
  });

  it('serves usage over the API and the CLI, and logs the store and the token id of each API request', async () => {
    const now = new Date();
    await withStoreDb(myShop.open(), (db) => insertOrder(db, 'NOW-1', '12.34', now.toISOString().replace(/\.\d+Z$/, 'Z'), 1));
    const collected = await runCli(['usage', 'collect', '--master-database-url', tm.url, '--home', tm.home], {
      STOREOP_ENCRYPTION_KEYS: tm.keysSpec,
    });
    expect(collected.stderr).toBe('');
    expect(collected).toMatchObject({ code: 0 });
    expect(collected.stdout).toContain('collected 2 of 2 stores');

    const token = randomBytes(16).toString('hex');
    const log = createLogger({ level: 'error' });
    const app = createApi({
      master: ctx,
      tokens: new TokenVerifier([`${TokenVerifier.hash(token)} usage-reader`]),
      provisioner: new LocalProvisioner({ master: ctx, log, home: tm.home }),
      log,
    });
    const call = async (path: string) => app.request(path, { headers: { authorization: `Bearer ${token}`, 'user-agent': 'usage-test' } });
    const response = await call(`/v1/stores/${myShop.slug}/usage?period=month`);
    expect(response.status).toBe(200);
    const usage = (await response.json()) as Record<string, unknown>;
    expect(usage).toMatchObject({
      id: myShop.id,
      slug: myShop.slug,
      plan: 'starter',
      period: 'month',
      usage: { products: 3, customers: 3, orders: 5, orderItems: 7, ordersInPeriod: 1, revenueInPeriod: '12.34', ordersThisMonth: 1 },
      limits: { maxProducts: 1000, maxOrdersPerMonth: 1000, maxStorageMB: 10240, maxApiRequestsPerDay: 3334 },
      enforcement: 'Warn',
      exceeded: [],
    });
    const documented = openApiDocument().paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(documented)).toEqual(expect.arrayContaining(['/v1/stores/{id}/usage', '/v1/usage/summary']));
    expect((await call(`/v1/stores/${myShop.id}/usage?period=day`).then((r) => r.json())) as object).toMatchObject({
      period: 'day',
      usage: { ordersInPeriod: 1, revenueInPeriod: '12.34' },
    });
    expect((await call('/v1/stores/no-such-shop/usage')).status).toBe(404);
    const bad = await call(`/v1/stores/${myShop.slug}/usage?period=week&extra=1`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('period');
    const summary = (await (await call('/v1/usage/summary')).json()) as { period: string; plans: Array<Record<string, unknown>> };
    expect(summary.period).toBe('month');
    expect(summary.plans).toEqual([
      expect.objectContaining({ plan: 'professional', stores: 1, activeStores: 1, storesOverLimit: 0, products: 3, ordersInPeriod: 0 }),
      expect.objectContaining({ plan: 'starter', stores: 1, products: 3, ordersInPeriod: 1, revenueInPeriod: '12.34' }),
    ]);

    // The request log names the store a request concerned and the token's id, never the token.
    let logged: Record<string, unknown>[] = [];
    for (const deadline = Date.now() + 30_000; logged.length < 2 && Date.now() < deadline; await sleep(100))
      logged = await tm.sql('select endpoint, store_id, token_name from api_usage_logs where store_id = $1 order by id', [myShop.id]);
    expect(logged).toEqual([
      { endpoint: `/v1/stores/${myShop.slug}/usage`, store_id: myShop.id, token_name: 'usage-reader' },
      { endpoint: `/v1/stores/${myShop.id}/usage`, store_id: myShop.id, token_name: 'usage-reader' },
    ]);
    expect(JSON.stringify(await tm.sql('select * from api_usage_logs'))).not.toContain(token);

    const table = await runCli(['usage', '--master-database-url', tm.url, '--period', 'month'], { STOREOP_ENCRYPTION_KEYS: tm.keysSpec });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SLUG\s+PLAN\s+STATUS\s+PRODUCTS\s+ORDERS\/MONTH/);
    expect(table.stdout).toMatch(new RegExp(`${myShop.slug}\\s+starter\\s+active\\s+3/1000\\s+1/1000\\s+12\\.34`));
    const one = await runCli(['usage', pgShop.slug, '-o', 'json', '--master-database-url', tm.url], {
      STOREOP_ENCRYPTION_KEYS: tm.keysSpec,
    });
    expect(JSON.parse(one.stdout)).toMatchObject({ slug: pgShop.slug, plan: 'professional', usage: { products: 3 } });
  });
});
