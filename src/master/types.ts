// Row types of the master database, for `Kysely<MasterDB>`; they follow migrations/ (a test compares
// them with the live catalog, so the two cannot drift apart silently).
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type DateOnly = ColumnType<Date, Date | string, Date | string>;
/** DECIMAL comes back as a string: exact money. */
type Decimal = ColumnType<string, string | number | undefined, string | number>;
/** BIGINT as number (both drivers are set up so); counters stay far below 2^53. */
type Int8 = ColumnType<number, number | undefined, number>;

export type DatabaseStatus = 'provisioning' | 'active' | 'suspended' | 'failed' | 'detached';
export type IntegrationType = 'postgresql' | 'mysql' | 'supabase-database' | 'pglite';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string | null;
  role: Generated<string>;
  is_active: Generated<boolean>;
  last_login_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface StoresTable {
  id: Generated<string>;
  name: string;
  slug: string;
  owner_id: string | null;
  database_type: string | null;
  database_host: string | null;
  database_name: string | null;
  database_status: ColumnType<DatabaseStatus, DatabaseStatus | undefined, DatabaseStatus>;
  storage_type: string | null;
  storage_status: string | null;
  subscription_plan: Generated<string>;
  subscription_status: Generated<string>;
  trial_ends_at: NullableTimestamp;
  subscription_started_at: NullableTimestamp;
  product_count: Generated<number>;
  order_count: Generated<number>;
  storage_used_bytes: Int8;
  api_calls_month: Generated<number>;
  is_active: Generated<boolean>;
  is_published: Generated<boolean>;
  last_activity_at: NullableTimestamp;
  source: string | null;
  /** The immutable fields of the store's database, recorded when it first became ready (src/stores/identity.ts). */
  database_identity: ColumnType<Record<string, string | number | null> | null, string | null | undefined, string | null>;
  deletion_policy: ColumnType<'Retain' | 'Delete' | null, 'Retain' | 'Delete' | null | undefined, 'Retain' | 'Delete' | null>;
  /** The DatabaseServer the store was placed on; set once (src/stores/server-placement.ts). */
  database_server: ColumnType<string | null, string | null | undefined, string | null>;
  /** The StoreSchema the store database has, and its version (src/master/rollouts.ts). */
  schema_name: string | null;
  schema_version: string | null;
  /** When usage was last collected (src/stores/usage/). */
  usage_collected_at: NullableTimestamp;
  /** The store's quota verdict: limits exceeded and the plan's enforcement (src/stores/usage/quota.ts). */
  quota_state: JSONColumnType<QuotaStateColumn | null, string | null, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What stores.quota_state holds. */
export interface QuotaStateColumn {
  exceeded: Array<{ limit: string; figure: number; max: number }>;
  enforcement: 'Warn' | 'Suspend';
}

export interface SubscriptionsTable {
  id: Generated<string>;
  store_id: string;
  plan_name: string;
  status: Generated<string>;
  price_monthly: Decimal;
  price_annual: Decimal;
  billing_cycle: Generated<string>;
  max_products: number | null;
  max_orders_per_month: number | null;
  max_storage_gb: number | null;
  max_api_calls_per_month: number | null;
  started_at: Timestamp;
  trial_ends_at: NullableTimestamp;
  current_period_start: NullableTimestamp;
  current_period_end: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface BillingTransactionsTable {
  id: Generated<string>;
  store_id: string;
  subscription_id: string | null;
  amount: Decimal;
  currency: Generated<string>;
  status: Generated<string>;
  payment_method: string | null;
  payment_provider_id: string | null;
  description: string | null;
  invoice_url: string | null;
  processed_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface UsageMetricsTable {
  id: Generated<number>;
  store_id: string;
  metric_date: DateOnly;
  product_count: Generated<number>;
  order_count: Generated<number>;
  storage_used_bytes: Int8;
  api_calls: Generated<number>;
  customer_count: Generated<number>;
  order_item_count: Generated<number>;
  open_connections: Generated<number>;
  collected_at: Timestamp;
  created_at: Timestamp;
}

export interface ApiUsageLogsTable {
  id: Generated<number>;
  store_id: string | null;
  endpoint: string;
  method: string;
  status_code: number;
  response_time_ms: number;
  ip_address: string | null;
  user_agent: string | null;
  error_message: string | null;
  /** The API token's configured name (never the token or its hash); null without a valid token. */
  token_name: Generated<string | null>;
  created_at: Timestamp;
}

export interface IntegrationConfigsTable {
  id: Generated<string>;
  store_id: string;
  integration_type: IntegrationType;
  config_data: JSONColumnType<StoredConfig, string, string>;
  is_active: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What integration_configs.config_data holds: connection fields in clear, secrets encrypted. */
export interface StoredConfig {
  connection: Record<string, unknown>;
  secrets?: EncryptedEnvelope;
}

export interface EncryptedEnvelope {
  /** Envelope format version. */
  v: 1 | 2;
  alg: 'aes-256-gcm';
  /** Key id: which key of STOREOP_ENCRYPTION_KEYS encrypted it. */
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

export interface PlatformSettingsTable {
  key: string;
  value: JSONColumnType<Record<string, unknown>, string, string>;
  description: string | null;
  updated_at: Timestamp;
}

export interface AuditLogsTable {
  id: Generated<number>;
  store_id: string | null;
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  created_at: Timestamp;
}

export interface StoreAnalyticsTable {
  id: Generated<number>;
  store_id: string;
  date: DateOnly;
  visitors: Generated<number>;
  page_views: Generated<number>;
  orders: Generated<number>;
  revenue: Decimal;
  conversion_rate: Decimal;
  average_order_value: Decimal;
  new_customers: Generated<number>;
  products: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RevenueReportsTable {
  id: Generated<number>;
  period_type: 'daily' | 'weekly' | 'monthly' | 'yearly';
  period_start: DateOnly;
  period_end: DateOnly;
  currency: Generated<string>;
  subscription_revenue: Decimal;
  transaction_revenue: Decimal;
  refunds: Decimal;
  total_revenue: Decimal;
  transaction_count: Generated<number>;
  active_stores: Generated<number>;
  new_stores: Generated<number>;
  churned_stores: Generated<number>;
  /** A store's own report; null: the platform's. */
  store_id: string | null;
  order_count: Generated<number>;
  generated_at: Timestamp;
}

export interface UsageStatisticsTable {
  id: Generated<number>;
  stat_date: DateOnly;
  total_stores: Generated<number>;
  active_stores: Generated<number>;
  total_products: Int8;
  total_orders: Int8;
  total_storage_bytes: Int8;
  total_api_calls: Int8;
  /** The plan the row sums up ("all" for rows written before plans were counted apart). */
  plan: Generated<string>;
  created_at: Timestamp;
}

/** A StorePlan declared by `storeop apply`: limits and enforcement overriding a plan's built-in ones. */
export interface StorePlansTable {
  plan: string;
  name: string;
  spec: JSONColumnType<Record<string, unknown>, string, string>;
  updated_at: Timestamp;
}

export interface PerformanceMetricsTable {
  id: Generated<number>;
  store_id: string | null;
  metric_name: string;
  value: number;
  unit: string;
  labels: JSONColumnType<Record<string, string> | null, string | null, string | null>;
  recorded_at: Timestamp;
}

export interface ProvisioningJobsTable {
  id: Generated<string>;
  store_id: string;
  status: ColumnType<JobStatus, JobStatus | undefined, JobStatus>;
  step: string | null;
  progress: Generated<number>;
  message: string | null;
  tables_created: Generated<number>;
  total_tables: Generated<number>;
  error: string | null;
  error_code: string | null;
  runner: string | null;
  /** Runs of this job: a retry after a failure reopens the job and counts one more. */
  attempts: Generated<number>;
  /** The error of the latest failed attempt, kept while a retry runs (error is cleared then). */
  last_error: string | null;
  /** When the driver will try again (a failure's backoff, a wait on something outside storeop). */
  next_attempt_at: NullableTimestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The rollout of one StoreSchema: the version rolled out, where it stands and the gates a person controls. */
export interface SchemaRolloutsTable {
  schema_name: string;
  version: string;
  /** The version before: what stores of a stage that has not started get. */
  previous_version: string | null;
  /** The last stage that has started. */
  current_stage: string | null;
  complete: Generated<boolean>;
  /** The gated stage (pause: true) waiting for approval, which a resume approves. */
  awaiting_stage: string | null;
  /** The gated stage approved for this version. */
  approved_stage: string | null;
  /** A failure budget was reached; cleared only by a resume. */
  halted: Generated<boolean>;
  /** storeop rollout pause without a cluster. */
  paused: Generated<boolean>;
  /** The last resume request acted on (the annotation's value in cluster mode). */
  resume_token: string | null;
  updated_at: Timestamp;
}

export type AdmissionState = 'admitted' | 'updated' | 'failed';

/** A store admitted to a version by the rollout, and how its migration ended. */
export interface SchemaRolloutStoresTable {
  schema_name: string;
  version: string;
  store_id: string;
  stage: string;
  state: AdmissionState;
  reason: string | null;
  message: string | null;
  admitted_at: Timestamp;
  finished_at: NullableTimestamp;
}

export interface StoreSchemaVersionsTable {
  id: Generated<string>;
  schema_name: string;
  version: string;
  /** The validated StoreSchema spec of this version. */
  spec: JSONColumnType<Record<string, unknown>, string, string>;
  /** specChecksum(spec) (src/master/schema-versions.ts): a version is immutable. */
  checksum: string;
  first_seen_at: Timestamp;
}

export interface MasterDB {
  users: UsersTable;
  stores: StoresTable;
  subscriptions: SubscriptionsTable;
  billing_transactions: BillingTransactionsTable;
  usage_metrics: UsageMetricsTable;
  api_usage_logs: ApiUsageLogsTable;
  integration_configs: IntegrationConfigsTable;
  platform_settings: PlatformSettingsTable;
  audit_logs: AuditLogsTable;
  store_analytics: StoreAnalyticsTable;
  revenue_reports: RevenueReportsTable;
  usage_statistics: UsageStatisticsTable;
  performance_metrics: PerformanceMetricsTable;
  provisioning_jobs: ProvisioningJobsTable;
  store_schema_versions: StoreSchemaVersionsTable;
  schema_rollouts: SchemaRolloutsTable;
  schema_rollout_stores: SchemaRolloutStoresTable;
  store_plans: StorePlansTable;
}

export const MASTER_TABLES = [
  'users',
  'stores',
  'subscriptions',
  'billing_transactions',
  'usage_metrics',
  'api_usage_logs',
  'integration_configs',
  'platform_settings',
  'audit_logs',
  'store_analytics',
  'revenue_reports',
  'usage_statistics',
  'performance_metrics',
  'provisioning_jobs',
  'store_schema_versions',
  'schema_rollouts',
  'schema_rollout_stores',
  'store_plans',
] as const satisfies readonly (keyof MasterDB)[];
