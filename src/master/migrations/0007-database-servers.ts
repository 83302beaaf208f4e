// The DatabaseServer each store was placed on (issue 14): recorded before anything is created there, so a
// store never moves when labels or load change, whichever driver (the controller, storeop apply) placed it.
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('stores').addColumn('database_server', 'varchar(253)').execute();
  await db.schema.createIndex('stores_database_server_idx').on('stores').column('database_server').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('stores_database_server_idx').execute();
  await db.schema.alterTable('stores').dropColumn('database_server').execute();
}
