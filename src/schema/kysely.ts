// The Kysely handle of a store database: untyped, because tenant tables are reached through the schema plan.
import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: tenant databases are reached through the schema plan, untyped here
export type AnyKysely = Kysely<any>;
