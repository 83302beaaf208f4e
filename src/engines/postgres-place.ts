// PostgreSQL create mode, without a connection: where a store lives (placement), the marks storeop puts on
// what it creates, and the text of every statement the admin runs for a store. ensureDatabase executes
// these statements and dry-run prints them, so the SQL is written once.
import pg from 'pg';
import { StoreopError } from '../errors.js';
import { assertIdentifier, storeNames } from '../naming.js';
import { type Placement, storeMark } from './engine.js';
import { connectionLimit, createTargetOf, publicAddress } from './place.js';
import { scramSha256Verifier } from './scram.js';
import type { CreateTarget, DatabaseTarget, Isolation } from './target.js';

export const DEFAULT_SHARED_DATABASE = 'storeop_stores';
/** The comment of a shared database that may hold store schemas (storeop's own, or one an admin marked). */
export const SHARED_DATABASE_MARK = 'storeop:shared-store-database';
/** Server databases that never hold a store, whatever the spec says. */
export const RESERVED_DATABASES: ReadonlySet<string> = new Set(['postgres', 'template0', 'template1']);

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

export interface Layout {
  slug: string;
  isolation: Isolation;
  /** The store's database (database isolation) or the shared one (schema isolation). */
  database: string;
  schema: string;
  role: string;
}

export function createTarget(target: DatabaseTarget, what: string): CreateTarget {
  return createTargetOf('postgresql', target, what);
}

export function layout(target: CreateTarget, slug: string): Layout {
  const names = storeNames(slug);
  const isolation = target.isolation ?? 'database';
  const database = assertIdentifier(
    target.databaseName ?? (isolation === 'schema' ? DEFAULT_SHARED_DATABASE : names.database),
    'database name',
  );
  if (RESERVED_DATABASES.has(database))
    throw new StoreopError('InvalidSpec', `databaseName ${database} is a system database of the server: it never holds a store`, {
      retryable: false,
    });
  return { slug, isolation, database, schema: isolation === 'schema' ? names.schema : 'public', role: names.role };
}

export function postgresPlacement(target: DatabaseTarget, slug: string): Placement {
  if (target.engine !== 'postgresql') throw new StoreopError('InvalidSpec', 'not a PostgreSQL target');
  if (target.mode === 'connect') {
    const c = target.connection;
    return {
      engine: 'postgresql',
      host: c.host,
      port: c.port,
      database: c.database,
      schema: assertIdentifier(target.schema ?? 'public', 'schema'),
      role: c.user,
    };
  }
  const l = layout(target, slug);
  return {
    engine: 'postgresql',
    ...publicAddress(target),
    database: l.database,
    schema: l.schema,
    role: l.role,
    isolation: l.isolation,
  };
}

/**
 * Every statement the admin runs for one store. With a password the role statements carry its SCRAM
 * verifier (never the password itself); without one they show '<generated>', for printing.
 */
export function adminSql(target: CreateTarget, l: Layout, password?: string) {
  const role = ident(l.role);
  const database = ident(l.database);
  const schema = ident(l.schema);
  const secret = password === undefined ? `'<generated>'` : literal(scramSha256Verifier(password));
  const limit = connectionLimit(target);
  const owner = l.isolation === 'database' ? role : ident(target.admin.user);
  const mark = l.isolation === 'database' ? storeMark(l.slug) : SHARED_DATABASE_MARK;
  return {
    createRole: `CREATE ROLE ${role} WITH LOGIN PASSWORD ${secret} CONNECTION LIMIT ${limit}`,
    markRole: `COMMENT ON ROLE ${role} IS ${literal(storeMark(l.slug))}`,
    updateRole: `ALTER ROLE ${role} WITH LOGIN PASSWORD ${secret} CONNECTION LIMIT ${limit}`,
    createDatabase: `CREATE DATABASE ${database} OWNER ${owner} ENCODING 'UTF8'`,
    markDatabase: `COMMENT ON DATABASE ${database} IS ${literal(mark)}`,
    /** Only on a database storeop created: takes CONNECT and TEMP from PUBLIC. */
    closeDatabase: `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
    /** Only in a shared database storeop created, before marking it (PostgreSQL < 15 grants it by default). */
    closePublicSchema: 'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
    grantConnect: `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
    createSchema: `CREATE SCHEMA ${schema} AUTHORIZATION ${role}`,
    closeSchema: `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`,
  };
}

/** What a first run on a server without the store executes as the admin, in order, for dry-run. */
export function postgresAdminStatements(target: DatabaseTarget, slug: string): string[] {
  const t = createTarget(target, 'plan');
  const l = layout(t, slug);
  const s = adminSql(t, l);
  if (l.isolation === 'database') return [s.createRole, s.markRole, s.createDatabase, s.markDatabase, s.closeDatabase].map((q) => `${q};`);
  return [
    `${s.createRole};`,
    `${s.markRole};`,
    `${s.createDatabase}; -- the shared database, unless it exists with the mark below`,
    `${s.closePublicSchema}; -- in ${l.database}, only when storeop created it`,
    `${s.closeDatabase}; -- only when storeop created it`,
    `${s.markDatabase};`,
    `${s.grantConnect};`,
    `${s.createSchema}; -- in ${l.database}`,
    `${s.closeSchema};`,
  ];
}
