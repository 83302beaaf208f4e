// API usage rows name the bearer token that made the request (its configured name, never the token or
// its hash), so an audit can tell which client did what.
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('api_usage_logs').addColumn('token_name', 'varchar(64)').execute();
}

export async function down(): Promise<void> {
  throw new Error('storeop never drops platform columns');
}
