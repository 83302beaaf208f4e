// Compile-only Kysely instances, one per SQL dialect, for emitting DDL text that the plan shows and the
// pipeline runs. PGlite speaks the PostgreSQL dialect.
import {
  DummyDriver,
  Kysely,
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';

export type SqlDialect = 'postgres' | 'mysql';

// biome-ignore lint/suspicious/noExplicitAny: DDL builders need no table types
const compilers = new Map<SqlDialect, Kysely<any>>();

// biome-ignore lint/suspicious/noExplicitAny: DDL builders need no table types
export function ddlBuilder(dialect: SqlDialect): Kysely<any> {
  let db = compilers.get(dialect);
  if (!db) {
    db =
      dialect === 'postgres'
        ? new Kysely({
            dialect: {
              createAdapter: () => new PostgresAdapter(),
              createDriver: () => new DummyDriver(),
              createIntrospector: (k) => new PostgresIntrospector(k),
              createQueryCompiler: () => new PostgresQueryCompiler(),
            },
          })
        : new Kysely({
            dialect: {
              createAdapter: () => new MysqlAdapter(),
              createDriver: () => new DummyDriver(),
              createIntrospector: (k) => new MysqlIntrospector(k),
              createQueryCompiler: () => new MysqlQueryCompiler(),
            },
          });
    compilers.set(dialect, db);
  }
  return db;
}
