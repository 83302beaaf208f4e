// StoreSchema rollouts (issue 13): the schema and version each store has, the rollout of a schema (its
// version, the stage it is at and the gates a person controls) and which stores were admitted to a version
// and how that ended (each version's spec is in store_schema_versions, migration 0005). Durable, so a restarted operator (or the next leader) resumes a
// rollout without re-running finished stores and counts what is in flight.
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

const now = sql`now()`;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('stores').addColumn('schema_name', 'varchar(253)').execute();
  await db.schema.alterTable('stores').addColumn('schema_version', 'varchar(64)').execute();

  await db.schema
    .createTable('schema_rollouts')
    .addColumn('schema_name', 'varchar(253)', (c) => c.primaryKey())
    .addColumn('version', 'varchar(64)', (c) => c.notNull())
    .addColumn('previous_version', 'varchar(64)')
    .addColumn('current_stage', 'varchar(64)')
    .addColumn('complete', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('awaiting_stage', 'varchar(64)')
    .addColumn('approved_stage', 'varchar(64)')
    .addColumn('halted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('paused', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('resume_token', 'varchar(64)')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('schema_rollout_stores')
    .addColumn('schema_name', 'varchar(253)', (c) => c.notNull())
    .addColumn('version', 'varchar(64)', (c) => c.notNull())
    .addColumn('store_id', sql`uuid`, (c) => c.notNull().references('stores.id').onDelete('cascade'))
    .addColumn('stage', 'varchar(64)', (c) => c.notNull())
    .addColumn('state', 'varchar(10)', (c) => c.notNull().check(sql`state in ('admitted', 'updated', 'failed')`))
    .addColumn('reason', 'varchar(64)')
    .addColumn('message', 'text')
    .addColumn('admitted_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('finished_at', 'timestamptz')
    .addPrimaryKeyConstraint('pk_schema_rollout_stores', ['schema_name', 'version', 'store_id'])
    .execute();
  await db.schema.createIndex('idx_schema_rollout_stores_store').on('schema_rollout_stores').columns(['store_id', 'state']).execute();
}

export async function down(): Promise<void> {
  throw new Error('storeop never drops platform columns');
}
