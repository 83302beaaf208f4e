// The one statement that reads a store's usage: row counts, database size, open connections, and orders,
// revenue and new customers per day (UTC) since a given time. One round trip per store, per dialect.
import type { SqlDialect } from '../../schema/dialect.js';

export interface DayFigures {
  /** YYYY-MM-DD, UTC. */
  day: string;
  orders: number;
  /** Exact decimal, as the database sums it. */
  revenue: string;
  newCustomers: number;
}

export interface StoreSample {
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  sizeBytes: number;
  /** Sessions of the store's role/user besides the collector's own. */
  openConnections: number;
  /** Days with orders or new customers since the `since` the query was given. */
  days: DayFigures[];
}

const POSTGRES = `SELECT
  (SELECT count(*) FROM products) AS products,
  (SELECT count(*) FROM customers) AS customers,
  (SELECT count(*) FROM orders) AS orders,
  (SELECT count(*) FROM order_items) AS order_items,
  CASE WHEN current_schema() = 'public' THEN pg_database_size(current_database())
       ELSE (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm', 'p')) END AS size_bytes,
  (SELECT greatest(count(*) - 1, 0) FROM pg_stat_activity WHERE usename = current_user) AS open_connections,
  (SELECT coalesce(json_agg(d), '[]'::json) FROM (
     SELECT day, sum(orders)::int AS orders, sum(revenue)::text AS revenue, sum(new_customers)::int AS new_customers FROM (
       SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS orders, sum(total) AS revenue, 0 AS new_customers
         FROM orders WHERE created_at >= $1 GROUP BY 1
       UNION ALL
       SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 0, count(*) FROM customers WHERE created_at >= $1 GROUP BY 1
     ) u GROUP BY day) d) AS days`;

const MYSQL = `SELECT
  (SELECT count(*) FROM products) AS products,
  (SELECT count(*) FROM customers) AS customers,
  (SELECT count(*) FROM orders) AS orders,
  (SELECT count(*) FROM order_items) AS order_items,
  (SELECT coalesce(sum(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = database()) AS size_bytes,
  (SELECT greatest(count(*) - 1, 0) FROM information_schema.processlist WHERE user = substring_index(current_user(), '@', 1)) AS open_connections,
  (SELECT coalesce(json_arrayagg(json_object('day', day, 'orders', orders, 'revenue', revenue, 'new_customers', new_customers)), json_array()) FROM (
     SELECT day, sum(orders) AS orders, cast(sum(revenue) AS char) AS revenue, sum(new_customers) AS new_customers FROM (
       SELECT date_format(created_at, '%Y-%m-%d') AS day, count(*) AS orders, sum(total) AS revenue, 0 AS new_customers
         FROM orders WHERE created_at >= ? GROUP BY 1
       UNION ALL
       SELECT date_format(created_at, '%Y-%m-%d'), 0, 0, count(*) FROM customers WHERE created_at >= ? GROUP BY 1
     ) u GROUP BY day) d) AS days`;

/** The statement and its parameters: `since` is when the figures per day start (UTC). */
export function sampleQuery(dialect: SqlDialect, since: Date): { sql: string; params: unknown[] } {
  return dialect === 'postgres' ? { sql: POSTGRES, params: [since] } : { sql: MYSQL, params: [since, since] };
}

const count = (value: unknown): number => {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n)) throw new Error(`the usage query returned a non-number (${String(value)})`);
  return n;
};

/** The statement's one row as a sample. */
export function parseSample(row: Record<string, unknown> | undefined): StoreSample {
  if (!row) throw new Error('the usage query returned no row');
  const rawDays = typeof row.days === 'string' ? JSON.parse(row.days) : row.days;
  const days = (Array.isArray(rawDays) ? rawDays : []).map((d: Record<string, unknown>) => ({
    day: String(d.day),
    orders: count(d.orders),
    revenue: normalizeDecimal(d.revenue),
    newCustomers: count(d.new_customers),
  }));
  return {
    products: count(row.products),
    customers: count(row.customers),
    orders: count(row.orders),
    orderItems: count(row.order_items),
    sizeBytes: count(row.size_bytes),
    openConnections: count(row.open_connections),
    days: days.sort((a, b) => a.day.localeCompare(b.day)),
  };
}

/** A decimal as text (null: no orders), unchanged in value: money is never a float. */
function normalizeDecimal(value: unknown): string {
  if (value === null || value === undefined) return '0';
  const text = String(value);
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`the usage query returned a non-decimal revenue (${text})`);
  return text;
}
