// Usage, plans and quotas (issue 16): the figures the collector reads per store and day, usage statistics per
// plan, revenue reports per store, plan overrides declared without a cluster, and each store's quota verdict.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('usage_metrics')
    .addColumn('customer_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('order_item_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('open_connections', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('collected_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .alterTable('store_analytics')
    .addColumn('new_customers', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('products', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // One row per plan and day (it was one per day).
  await db.schema
    .alterTable('usage_statistics')
    .addColumn('plan', 'varchar(32)', (c) => c.notNull().defaultTo('all'))
    .execute();
  await sql`alter table usage_statistics drop constraint usage_statistics_stat_date_key`.execute(db);
  await db.schema.createIndex('uq_usage_statistics_date_plan').on('usage_statistics').columns(['stat_date', 'plan']).unique().execute();

  // Per-store reports beside the platform-wide ones (store_id null), each unique in its period.
  await db.schema
    .alterTable('revenue_reports')
    .addColumn('store_id', sql`uuid`, (c) => c.references('stores.id').onDelete('cascade'))
    .addColumn('order_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`alter table revenue_reports drop constraint uq_revenue_reports_period`.execute(db);
  await sql`create unique index uq_revenue_reports_period on revenue_reports (period_type, period_start, currency) where store_id is null`.execute(
    db,
  );
  await sql`create unique index uq_revenue_reports_store_period on revenue_reports (store_id, period_type, period_start, currency) where store_id is not null`.execute(
    db,
  );

  // One row per metric, day and labels: a collection run again in the same day updates it.
  await sql`create unique index uq_performance_metrics_period on performance_metrics (metric_name, recorded_at, (coalesce(labels, '{}'::jsonb)))`.execute(
    db,
  );

  // Plan overrides declared by `storeop apply` (StorePlan documents); the operator reads StorePlan objects.
  await db.schema
    .createTable('store_plans')
    .addColumn('plan', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(253)', (c) => c.notNull())
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // The last collection (the next reads orders from its day on) and the store's quota verdict.
  await db.schema.alterTable('stores').addColumn('usage_collected_at', 'timestamptz').addColumn('quota_state', 'jsonb').execute();
}

export async function down(): Promise<void> {
  throw new Error('storeop never drops platform tables');
}
