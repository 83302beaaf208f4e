// The platform tables: registry, users, subscriptions, billing, usage, API logs, integrations,
// settings, audit trail and the business-intelligence tables. PostgreSQL (and PGlite) only.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

const now = sql`now()`;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('email', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)')
    .addColumn('role', 'varchar(32)', (c) => c.notNull().defaultTo('owner'))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('last_login_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('stores')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('slug', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('owner_id', sql`uuid`, (c) => c.references('users.id').onDelete('set null'))
    .addColumn('database_type', 'varchar(32)')
    .addColumn('database_host', 'varchar(255)')
    .addColumn('database_name', 'varchar(255)')
    .addColumn('database_status', 'varchar(20)', (c) =>
      c.notNull().defaultTo('provisioning').check(sql`database_status in ('provisioning', 'active', 'suspended', 'failed', 'detached')`),
    )
    .addColumn('storage_type', 'varchar(32)')
    .addColumn('storage_status', 'varchar(20)')
    .addColumn('subscription_plan', 'varchar(32)', (c) => c.notNull().defaultTo('free'))
    .addColumn('subscription_status', 'varchar(20)', (c) => c.notNull().defaultTo('trialing'))
    .addColumn('trial_ends_at', 'timestamptz')
    .addColumn('subscription_started_at', 'timestamptz')
    .addColumn('product_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('order_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('storage_used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('api_calls_month', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('is_published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_activity_at', 'timestamptz')
    // Where the store is declared (e.g. "kubernetes:ns/name", "apply", "api"): who owns its lifecycle.
    .addColumn('source', 'varchar(255)')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_stores_owner_id').on('stores').column('owner_id').execute();
  await db.schema.createIndex('idx_stores_database_status').on('stores').column('database_status').execute();

  await db.schema
    .createTable('subscriptions')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('plan_name', 'varchar(32)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull().defaultTo('trialing'))
    .addColumn('price_monthly', 'decimal(10, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('price_annual', 'decimal(10, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('billing_cycle', 'varchar(10)', (c) => c.notNull().defaultTo('monthly'))
    .addColumn('max_products', 'integer')
    .addColumn('max_orders_per_month', 'integer')
    .addColumn('max_storage_gb', 'integer')
    .addColumn('max_api_calls_per_month', 'integer')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('trial_ends_at', 'timestamptz')
    .addColumn('current_period_start', 'timestamptz')
    .addColumn('current_period_end', 'timestamptz')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  // One current subscription per store; cancelled ones stay as history.
  await sql`create unique index uq_subscriptions_current on subscriptions (store_id) where cancelled_at is null`.execute(db);

  await db.schema
    .createTable('billing_transactions')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('subscription_id', sql`uuid`, (c) => c.references('subscriptions.id').onDelete('set null'))
    .addColumn('amount', 'decimal(10, 2)', (c) => c.notNull())
    .addColumn('currency', 'varchar(3)', (c) => c.notNull().defaultTo('USD'))
    .addColumn('status', 'varchar(20)', (c) => c.notNull().defaultTo('pending'))
    .addColumn('payment_method', 'varchar(32)')
    .addColumn('payment_provider_id', 'varchar(255)')
    .addColumn('description', 'text')
    .addColumn('invoice_url', 'varchar(2048)')
    .addColumn('processed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_billing_transactions_store').on('billing_transactions').columns(['store_id', 'created_at']).execute();

  await db.schema
    .createTable('usage_metrics')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('metric_date', 'date', (c) => c.notNull())
    .addColumn('product_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('order_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('storage_used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('api_calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('uq_usage_metrics_store_date', ['store_id', 'metric_date'])
    .execute();

  await db.schema
    .createTable('api_usage_logs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('store_id', sql`uuid`, (c) => c.references('stores.id').onDelete('set null'))
    .addColumn('endpoint', 'varchar(512)', (c) => c.notNull())
    .addColumn('method', 'varchar(10)', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('response_time_ms', 'integer', (c) => c.notNull())
    .addColumn('ip_address', 'varchar(64)')
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_api_usage_logs_created').on('api_usage_logs').column('created_at').execute();
  await db.schema.createIndex('idx_api_usage_logs_store').on('api_usage_logs').columns(['store_id', 'created_at']).execute();

  await db.schema
    .createTable('integration_configs')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('integration_type', 'varchar(32)', (c) =>
      c.notNull().check(sql`integration_type in ('postgresql', 'mysql', 'supabase-database', 'pglite')`),
    )
    // Connection fields in clear, secrets as an AES-256-GCM envelope tagged with its key id.
    .addColumn('config_data', 'jsonb', (c) => c.notNull())
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  // At most one active database config per store.
  await sql`create unique index uq_integration_configs_active_database on integration_configs (store_id) where is_active`.execute(db);

  await db.schema
    .createTable('platform_settings')
    .addColumn('key', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('value', 'jsonb', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('audit_logs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('store_id', sql`uuid`, (c) => c.references('stores.id').onDelete('set null'))
    .addColumn('actor', 'varchar(255)', (c) => c.notNull())
    .addColumn('action', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(64)')
    .addColumn('target_id', 'varchar(255)')
    .addColumn('details', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_audit_logs_store').on('audit_logs').columns(['store_id', 'created_at']).execute();

  await db.schema
    .createTable('store_analytics')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('date', 'date', (c) => c.notNull())
    .addColumn('visitors', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('page_views', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('orders', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('revenue', 'decimal(14, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('conversion_rate', 'decimal(7, 4)', (c) => c.notNull().defaultTo('0'))
    .addColumn('average_order_value', 'decimal(12, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('uq_store_analytics_store_date', ['store_id', 'date'])
    .execute();

  await db.schema
    .createTable('revenue_reports')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('period_type', 'varchar(10)', (c) => c.notNull().check(sql`period_type in ('daily', 'weekly', 'monthly', 'yearly')`))
    .addColumn('period_start', 'date', (c) => c.notNull())
    .addColumn('period_end', 'date', (c) => c.notNull())
    .addColumn('currency', 'varchar(3)', (c) => c.notNull().defaultTo('USD'))
    .addColumn('subscription_revenue', 'decimal(14, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('transaction_revenue', 'decimal(14, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('refunds', 'decimal(14, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('total_revenue', 'decimal(14, 2)', (c) => c.notNull().defaultTo('0.00'))
    .addColumn('transaction_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('active_stores', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('new_stores', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('churned_stores', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('generated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('uq_revenue_reports_period', ['period_type', 'period_start', 'currency'])
    .execute();

  await db.schema
    .createTable('usage_statistics')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('stat_date', 'date', (c) => c.notNull().unique())
    .addColumn('total_stores', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('active_stores', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('total_products', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('total_orders', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('total_storage_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('total_api_calls', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('performance_metrics')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('store_id', sql`uuid`, (c) => c.references('stores.id').onDelete('cascade'))
    .addColumn('metric_name', 'varchar(128)', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('unit', 'varchar(16)', (c) => c.notNull())
    .addColumn('labels', 'jsonb')
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_performance_metrics_name').on('performance_metrics').columns(['metric_name', 'recorded_at']).execute();

  await db.schema
    .createTable('provisioning_jobs')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('status', 'varchar(20)', (c) =>
      c.notNull().defaultTo('queued').check(sql`status in ('queued', 'running', 'succeeded', 'failed')`),
    )
    .addColumn('step', 'varchar(32)')
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0).check(sql`progress between 0 and 100`))
    .addColumn('message', 'text')
    .addColumn('tables_created', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('total_tables', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('error_code', 'varchar(32)')
    // Who runs the job (process id), so a restarted server can tell abandoned jobs from live ones.
    .addColumn('runner', 'varchar(255)')
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('idx_provisioning_jobs_store').on('provisioning_jobs').columns(['store_id', 'created_at']).execute();
  await sql`create index idx_provisioning_jobs_open on provisioning_jobs (status) where status in ('queued', 'running')`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('storeop never drops platform tables');
}
