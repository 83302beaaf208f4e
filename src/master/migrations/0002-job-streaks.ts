// One job row per failure streak: a retry reopens the open (or last failed) job instead of adding one, so
// the row counts its attempts, keeps the last error across attempts and says when the next one is due.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('provisioning_jobs')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0).check(sql`attempts >= 0`))
    .execute();
  await db.schema.alterTable('provisioning_jobs').addColumn('last_error', 'text').execute();
  await db.schema.alterTable('provisioning_jobs').addColumn('next_attempt_at', 'timestamptz').execute();
}

export async function down(): Promise<void> {
  throw new Error('storeop never drops platform columns');
}
