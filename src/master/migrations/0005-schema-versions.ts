// Every StoreSchema version storeop admitted, with its spec: a store still on an older version is checked
// against what that version said (the periodic check) after spec.version moved on. A version is immutable:
// the same name and version with another spec is refused (src/master/schema-versions.ts).
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the database as it was then
type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('store_schema_versions')
    .addColumn('id', sql`uuid`, (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('schema_name', 'varchar(253)', (c) => c.notNull())
    .addColumn('version', 'varchar(64)', (c) => c.notNull())
    .addColumn('spec', sql`jsonb`, (c) => c.notNull())
    .addColumn('checksum', 'varchar(64)', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('uq_store_schema_versions_name_version', ['schema_name', 'version'])
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('store_schema_versions').execute();
}
