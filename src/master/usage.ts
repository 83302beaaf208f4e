// Usage in the master DB: each collection's figures per store and day, the rollups per plan and month, the
// quota verdicts, and the reads behind `storeop usage` and the API. Every write is an upsert keyed by its
// period, so a collection run twice in one period updates its rows instead of adding to them.
import { type Kysely, sql } from 'kysely';
import type { MasterDB, QuotaStateColumn } from './types.js';

/** YYYY-MM-DD of `at` in UTC. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);
/** The first day of `at`'s month (UTC), YYYY-MM-DD. */
export const monthStart = (at: Date): string => `${at.toISOString().slice(0, 7)}-01`;
/** The last day of the month that starts on `start` (YYYY-MM-DD). */
export function monthEnd(start: string): string {
  const d = new Date(`${start}T00:00:00Z`);
  return utcDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)));
}

/** The days from `from` to `to` (YYYY-MM-DD, both included). */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); utcDay(d) <= to; d = new Date(d.getTime() + 86_400_000)) days.push(utcDay(d));
  return days;
}

export interface CollectableStore {
  id: string;
  slug: string;
  plan: string;
  status: string;
  source: string | null;
  collectedAt: Date | null;
  quotaState: QuotaStateColumn | null;
}

/** Stores with an active database config: active ones are sampled, suspended ones only re-evaluated. */
export async function storesWithDatabases(db: Kysely<MasterDB>): Promise<CollectableStore[]> {
  const rows = await db
    .selectFrom('stores')
    .innerJoin('integration_configs', (j) =>
      j.onRef('integration_configs.store_id', '=', 'stores.id').on('integration_configs.is_active', '=', true),
    )
    .select([
      'stores.id',
      'stores.slug',
      'stores.subscription_plan',
      'stores.database_status',
      'stores.source',
      'stores.usage_collected_at',
      'stores.quota_state',
    ])
    .where('stores.database_status', 'in', ['active', 'suspended'])
    .orderBy('stores.slug')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    plan: r.subscription_plan,
    status: r.database_status,
    source: r.source,
    collectedAt: r.usage_collected_at,
    quotaState: r.quota_state,
  }));
}

export interface SampleRecord {
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  sizeBytes: number;
  openConnections: number;
  /** Every day from the first one read to today, with its absolute figures (absent days had none). */
  days: Array<{ day: string; orders: number; revenue: string; newCustomers: number }>;
  /** The first day read: days from it to today that are not in `days` had no orders or new customers. */
  fromDay: string;
}

/** Writes one store's sample: usage_metrics (today's), store_analytics (each day read), revenue_reports (each month touched). */
export async function recordSample(db: Kysely<MasterDB>, storeId: string, sample: SampleRecord, now: Date): Promise<void> {
  const today = utcDay(now);
  await db.transaction().execute(async (trx) => {
    const apiCalls = sql<number>`(SELECT count(*)::int FROM api_usage_logs WHERE store_id = ${storeId} AND created_at >= ${`${today}T00:00:00Z`}::timestamptz AND created_at < ${`${today}T00:00:00Z`}::timestamptz + interval '1 day')`;
    const metrics = {
      product_count: sample.products,
      customer_count: sample.customers,
      order_count: sample.orders,
      order_item_count: sample.orderItems,
      storage_used_bytes: sample.sizeBytes,
      open_connections: sample.openConnections,
      api_calls: apiCalls,
      collected_at: now,
    };
    await trx
      .insertInto('usage_metrics')
      .values({ store_id: storeId, metric_date: today, ...metrics })
      .onConflict((oc) => oc.columns(['store_id', 'metric_date']).doUpdateSet(metrics))
      .execute();
    for (const d of sample.days) {
      const isToday = d.day === today;
      const aov = sql<string>`round(${d.revenue}::numeric / greatest(${d.orders}::int, 1), 2)`;
      const values = { orders: d.orders, revenue: d.revenue, new_customers: d.newCustomers, average_order_value: aov, updated_at: now };
      await trx
        .insertInto('store_analytics')
        .values({ store_id: storeId, date: d.day, ...values, products: isToday ? sample.products : 0 })
        .onConflict((oc) => oc.columns(['store_id', 'date']).doUpdateSet({ ...values, ...(isToday ? { products: sample.products } : {}) }))
        .execute();
    }
    await trx
      .updateTable('store_analytics')
      .set({ orders: 0, revenue: '0', new_customers: 0, average_order_value: '0', updated_at: now })
      .where('store_id', '=', storeId)
      .where(sql<boolean>`date BETWEEN ${sample.fromDay}::date AND ${today}::date`)
      .where(sql<boolean>`NOT (to_char(date, 'YYYY-MM-DD') = ANY(${sample.days.map((d) => d.day)}::text[]))`)
      .where((eb) => eb.or([eb('orders', '<>', 0), eb('new_customers', '<>', 0)]))
      .execute();
    const months = [...new Set([sample.fromDay, ...sample.days.map((d) => d.day)].map((day) => `${day.slice(0, 7)}-01`))];
    for (const month of months) await rollupStoreMonth(trx, storeId, month, now);
    await trx
      .updateTable('stores')
      .set({ product_count: sample.products, order_count: sample.orders, storage_used_bytes: sample.sizeBytes, usage_collected_at: now })
      .where('id', '=', storeId)
      .execute();
  });
}

/** The store's revenue report of a month: the sum of its days in store_analytics. */
async function rollupStoreMonth(db: Kysely<MasterDB>, storeId: string, month: string, now: Date): Promise<void> {
  const end = monthEnd(month);
  await sql`
    INSERT INTO revenue_reports (store_id, period_type, period_start, period_end, transaction_revenue, total_revenue, transaction_count, order_count, active_stores, generated_at)
    SELECT ${storeId}::uuid, 'monthly', ${month}::date, ${end}::date, coalesce(sum(revenue), 0), coalesce(sum(revenue), 0),
           coalesce(sum(orders), 0)::int, coalesce(sum(orders), 0)::int, 1, ${now}::timestamptz
      FROM store_analytics WHERE store_id = ${storeId}::uuid AND date BETWEEN ${month}::date AND ${end}::date
    ON CONFLICT (store_id, period_type, period_start, currency) WHERE store_id IS NOT NULL DO UPDATE SET
      transaction_revenue = excluded.transaction_revenue, total_revenue = excluded.total_revenue,
      transaction_count = excluded.transaction_count, order_count = excluded.order_count, generated_at = excluded.generated_at`.execute(db);
}

/** usage_statistics for the day: per plan, the stores, active stores and their summed latest figures. */
export async function rollupPlans(db: Kysely<MasterDB>, now: Date): Promise<void> {
  const today = utcDay(now);
  await sql`
    INSERT INTO usage_statistics (stat_date, plan, total_stores, active_stores, total_products, total_orders, total_storage_bytes, total_api_calls)
    SELECT ${today}::date, s.subscription_plan, count(*)::int, (count(*) FILTER (WHERE s.database_status = 'active'))::int,
           coalesce(sum(m.product_count), 0), coalesce(sum(m.order_count), 0), coalesce(sum(m.storage_used_bytes), 0), coalesce(sum(m.api_calls), 0)
      FROM stores s LEFT JOIN usage_metrics m ON m.store_id = s.id AND m.metric_date = ${today}::date
     WHERE s.database_status IN ('active', 'suspended')
     GROUP BY s.subscription_plan
    ON CONFLICT (stat_date, plan) DO UPDATE SET total_stores = excluded.total_stores, active_stores = excluded.active_stores,
      total_products = excluded.total_products, total_orders = excluded.total_orders,
      total_storage_bytes = excluded.total_storage_bytes, total_api_calls = excluded.total_api_calls`.execute(db);
}

export interface PerformanceFigure {
  name: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

/** performance_metrics of the day (recorded_at is the day): one row per metric and labels, updated in place. */
export async function recordPerformance(db: Kysely<MasterDB>, now: Date, figures: readonly PerformanceFigure[]): Promise<void> {
  const day = `${utcDay(now)}T00:00:00Z`;
  for (const f of figures) {
    await sql`
      INSERT INTO performance_metrics (metric_name, value, unit, labels, recorded_at)
      VALUES (${f.name}, ${f.value}, ${f.unit}, ${JSON.stringify(f.labels)}::jsonb, ${day}::timestamptz)
      ON CONFLICT (metric_name, recorded_at, (coalesce(labels, '{}'::jsonb))) DO UPDATE SET value = excluded.value, unit = excluded.unit`.execute(
      db,
    );
  }
}

/** Provisioning durations of the day's finished jobs, per engine (mean and count). */
export async function provisioningDurations(db: Kysely<MasterDB>, now: Date): Promise<PerformanceFigure[]> {
  const today = utcDay(now);
  const rows = await sql<{ engine: string; mean: number; jobs: number; failed: number }>`
    SELECT coalesce(s.database_type, 'unknown') AS engine, avg(extract(epoch FROM j.finished_at - j.started_at))::float8 AS mean,
           count(*)::int AS jobs, (count(*) FILTER (WHERE j.status = 'failed'))::int AS failed
      FROM provisioning_jobs j JOIN stores s ON s.id = j.store_id
     WHERE j.finished_at >= ${today}::date AND j.finished_at < ${today}::date + 1 AND j.started_at IS NOT NULL
     GROUP BY 1`.execute(db);
  return rows.rows.flatMap((r) => [
    { name: 'provisioning_duration_seconds_mean', value: Number(r.mean), unit: 's', labels: { engine: r.engine } },
    { name: 'provisioning_jobs', value: r.jobs, unit: 'count', labels: { engine: r.engine } },
    { name: 'provisioning_jobs_failed', value: r.failed, unit: 'count', labels: { engine: r.engine } },
  ]);
}

export interface StoreFigures {
  products: number;
  ordersThisMonth: number;
  storageBytes: number;
  apiRequestsToday: number;
}

/** The figures quotas are checked against, as the master DB has them (the latest sample, this month's orders, today's API requests). */
export async function storeFigures(db: Kysely<MasterDB>, storeIds: readonly string[], now: Date): Promise<Map<string, StoreFigures>> {
  if (storeIds.length === 0) return new Map();
  const today = utcDay(now);
  const month = monthStart(now);
  const rows = await sql<{ id: string; products: number; orders_month: number; storage: number; api_today: number }>`
    SELECT s.id,
      coalesce((SELECT m.product_count FROM usage_metrics m WHERE m.store_id = s.id ORDER BY m.metric_date DESC LIMIT 1), 0)::int AS products,
      coalesce((SELECT m.storage_used_bytes FROM usage_metrics m WHERE m.store_id = s.id ORDER BY m.metric_date DESC LIMIT 1), 0)::float8 AS storage,
      coalesce((SELECT sum(a.orders) FROM store_analytics a WHERE a.store_id = s.id AND a.date BETWEEN ${month}::date AND ${monthEnd(month)}::date), 0)::int AS orders_month,
      (SELECT count(*) FROM api_usage_logs l WHERE l.store_id = s.id AND l.created_at >= ${today}::date AND l.created_at < ${today}::date + 1)::int AS api_today
    FROM stores s WHERE s.id = ANY(${[...storeIds]}::uuid[])`.execute(db);
  return new Map(
    rows.rows.map((r) => [
      r.id,
      { products: r.products, ordersThisMonth: r.orders_month, storageBytes: Number(r.storage), apiRequestsToday: r.api_today },
    ]),
  );
}

/** Saves the store's quota verdict when it changed; answers whether it did. */
export async function saveQuotaState(db: Kysely<MasterDB>, storeId: string, state: QuotaStateColumn | null): Promise<boolean> {
  const value = state?.exceeded.length ? JSON.stringify(state) : null;
  const result = await db
    .updateTable('stores')
    .set({ quota_state: value })
    .where('id', '=', storeId)
    .where(sql<boolean>`quota_state IS DISTINCT FROM ${value}::jsonb`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** StorePlans declared by `storeop apply`. */
export async function declaredStorePlans(db: Kysely<MasterDB>): Promise<Array<{ name: string; spec: Record<string, unknown> }>> {
  return db.selectFrom('store_plans').select(['name', 'spec']).orderBy('name').execute();
}

export async function saveStorePlan(db: Kysely<MasterDB>, name: string, plan: string, spec: Record<string, unknown>): Promise<boolean> {
  const json = JSON.stringify(spec);
  const result = await db
    .insertInto('store_plans')
    .values({ plan, name, spec: json })
    .onConflict((oc) =>
      oc
        .column('plan')
        .doUpdateSet({ name, spec: json, updated_at: sql`now()` })
        .where(sql<boolean>`store_plans.spec IS DISTINCT FROM ${json}::jsonb OR store_plans.name IS DISTINCT FROM ${name}`),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Replaces the StorePlans recorded in the master DB with those the operator honours (readers use them). */
export async function replaceStorePlans(
  db: Kysely<MasterDB>,
  plans: ReadonlyArray<{ name: string; plan: string; spec: Record<string, unknown> }>,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const keep = plans.map((p) => p.plan);
    await trx
      .deleteFrom('store_plans')
      .where((eb) => (keep.length ? eb('plan', 'not in', keep) : eb.lit(true)))
      .execute();
    for (const p of plans) await saveStorePlan(trx, p.name, p.plan, p.spec);
  });
}

export interface UsageRow {
  id: string;
  slug: string;
  plan: string;
  status: string;
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  storageBytes: number;
  openConnections: number;
  collectedAt: Date | null;
  /** Orders and revenue in the period asked for (today, or this month), and API requests in it. */
  periodOrders: number;
  periodRevenue: string;
  periodApiRequests: number;
  /** Orders this month and API requests today: what the limits are checked against. */
  ordersThisMonth: number;
  apiRequestsToday: number;
  quotaState: QuotaStateColumn | null;
}

/** Each store's latest figures and its figures in the period (day: today, month: this month; UTC). */
export async function usageRows(
  db: Kysely<MasterDB>,
  options: { period: 'day' | 'month'; now: Date; store?: string | undefined },
): Promise<UsageRow[]> {
  const today = utcDay(options.now);
  const month = monthStart(options.now);
  const from = options.period === 'day' ? today : month;
  const to = options.period === 'day' ? today : monthEnd(month);
  const byId = options.store && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(options.store);
  const filter = options.store ? (byId ? sql`AND s.id = ${options.store}::uuid` : sql`AND s.slug = ${options.store}`) : sql``;
  const rows = await sql<Record<string, unknown>>`
    SELECT s.id, s.slug, s.subscription_plan AS plan, s.database_status AS status, s.usage_collected_at, s.quota_state,
           coalesce(m.product_count, 0) AS products, coalesce(m.customer_count, 0) AS customers, coalesce(m.order_count, 0) AS orders,
           coalesce(m.order_item_count, 0) AS order_items, coalesce(m.storage_used_bytes, 0)::float8 AS storage,
           coalesce(m.open_connections, 0) AS connections,
           coalesce((SELECT sum(a.orders) FROM store_analytics a WHERE a.store_id = s.id AND a.date BETWEEN ${from}::date AND ${to}::date), 0)::int AS period_orders,
           coalesce((SELECT sum(a.revenue) FROM store_analytics a WHERE a.store_id = s.id AND a.date BETWEEN ${from}::date AND ${to}::date), 0)::text AS period_revenue,
           (SELECT count(*) FROM api_usage_logs l WHERE l.store_id = s.id AND l.created_at >= ${from}::date AND l.created_at < ${to}::date + 1)::int AS period_api,
           coalesce((SELECT sum(a.orders) FROM store_analytics a WHERE a.store_id = s.id AND a.date BETWEEN ${month}::date AND ${monthEnd(month)}::date), 0)::int AS orders_month,
           (SELECT count(*) FROM api_usage_logs l WHERE l.store_id = s.id AND l.created_at >= ${today}::date AND l.created_at < ${today}::date + 1)::int AS api_today
      FROM stores s
      LEFT JOIN LATERAL (SELECT * FROM usage_metrics um WHERE um.store_id = s.id ORDER BY um.metric_date DESC LIMIT 1) m ON true
     WHERE s.database_status <> 'detached' ${filter}
     ORDER BY s.slug`.execute(db);
  return rows.rows.map((r) => ({
    id: String(r.id),
    slug: String(r.slug),
    plan: String(r.plan),
    status: String(r.status),
    products: Number(r.products),
    customers: Number(r.customers),
    orders: Number(r.orders),
    orderItems: Number(r.order_items),
    storageBytes: Number(r.storage),
    openConnections: Number(r.connections),
    collectedAt: (r.usage_collected_at as Date | null) ?? null,
    periodOrders: Number(r.period_orders),
    periodRevenue: String(r.period_revenue),
    periodApiRequests: Number(r.period_api),
    ordersThisMonth: Number(r.orders_month),
    apiRequestsToday: Number(r.api_today),
    quotaState: (r.quota_state as QuotaStateColumn | null) ?? null,
  }));
}

/** Slugs of the stores whose quota verdict suspends them (over a limit of a plan enforcing Suspend). */
export async function quotaSuspendedSlugs(db: Kysely<MasterDB>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('stores')
    .select('slug')
    .where(sql<boolean>`quota_state->>'enforcement' = 'Suspend' AND jsonb_array_length(quota_state->'exceeded') > 0`)
    .execute();
  return new Set(rows.map((r) => r.slug));
}
