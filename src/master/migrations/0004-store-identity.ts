// The identity of a store's database (its immutable fields, recorded when it first became ready) and the
// deletion policy it was declared with: in the master DB, so that every driver (storeop apply, the API,
// the controller) refuses the same changes and deletes by the same policy.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('stores').addColumn('database_identity', sql`jsonb`).execute();
  await db.schema
    .alterTable('stores')
    .addColumn('deletion_policy', 'varchar(10)', (c) => c.check(sql`deletion_policy in ('Retain', 'Delete')`))
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('stores').dropColumn('deletion_policy').execute();
  await db.schema.alterTable('stores').dropColumn('database_identity').execute();
}
