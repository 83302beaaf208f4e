// MySQL/MariaDB create mode, without a connection: where a store lives (placement) and the text of every
// statement the admin runs for a store. ensureDatabase executes these statements and dry-run prints them.
import { DummyDriver, Kysely, MysqlAdapter, MysqlIntrospector, MysqlQueryCompiler } from 'kysely';
import mysql from 'mysql2/promise';
import { StoreopError } from '../errors.js';
import { assertIdentifier, storeNames } from '../naming.js';
import { createHistoryTable, HISTORY_TABLE } from '../schema/history.js';
import { type AnyKysely, type Placement, storeMark } from './engine.js';
import { connectionLimit, createTargetOf, publicAddress } from './place.js';
import type { CreateTarget, DatabaseTarget } from './target.js';

export interface MysqlLayout {
  slug: string;
  database: string;
  user: string;
  /** The read-only user (credentials.readOnlyUser). */
  readOnlyUser: string;
}

export const ident = (name: string) => `\`${name.replaceAll('`', '``')}\``;
/** In GRANT ... ON `db`.*, `_` and `%` are wildcards: escape them so the grant covers this database only. */
export const grantName = (database: string) => database.replace(/[_%\\]/g, (c) => `\\${c}`);

export function createTarget(target: DatabaseTarget, what: string): CreateTarget {
  return createTargetOf('mysql', target, what);
}

export function layout(target: CreateTarget, slug: string): MysqlLayout {
  const names = storeNames(slug);
  return {
    slug,
    database: assertIdentifier(target.databaseName ?? names.database, 'database name'),
    user: names.mysqlUser,
    readOnlyUser: names.mysqlReadOnlyUser,
  };
}

export function mysqlPlacement(target: DatabaseTarget, slug: string): Placement {
  if (target.engine !== 'mysql') throw new StoreopError('InvalidSpec', 'not a MySQL target');
  if (target.mode === 'connect') {
    const c = target.connection;
    return { engine: 'mysql', host: c.host, port: c.port, database: c.database, role: c.user };
  }
  const l = layout(target, slug);
  return { engine: 'mysql', ...publicAddress(target), database: l.database, role: l.user };
}

/** Compiles Kysely builders to MySQL text without a connection. */
const compiler: AnyKysely = new Kysely({
  dialect: {
    createAdapter: () => new MysqlAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new MysqlIntrospector(db),
    createQueryCompiler: () => new MysqlQueryCompiler(),
  },
});

export interface Statement {
  sql: string;
  params: string[];
}

/**
 * Every statement the admin runs for one store. Values travel as parameters; without a password the
 * statements are for printing and carry '<generated>'.
 */
export function adminSql(target: CreateTarget, l: MysqlLayout, password?: string) {
  const secret = password ?? '<generated>';
  const limit = connectionLimit(target);
  const statement = (sql: string, ...params: string[]): Statement => ({ sql, params });
  return {
    createDatabase: statement(`CREATE DATABASE IF NOT EXISTS ${ident(l.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`),
    /** storeop's history table, created by the admin so that it can carry the owner's mark from the start. */
    createHistory: statement(createHistoryTable(compiler.schema.withSchema(l.database), 'mysql').compile().sql),
    /** MySQL has no comment on users or (MySQL 8) databases: the history table's comment names the owning store. */
    markDatabase: statement(`ALTER TABLE ${ident(l.database)}.${ident(HISTORY_TABLE)} COMMENT = ?`, storeMark(l.slug)),
    createUser: statement(`CREATE USER ?@'%' IDENTIFIED BY ?`, l.user, secret),
    updateUser: statement(`ALTER USER ?@'%' IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${limit}`, l.user, secret),
    grant: statement(`GRANT ALL PRIVILEGES ON ${ident(grantName(l.database))}.* TO ?@'%'`, l.user),
    createReadOnlyUser: statement(`CREATE USER ?@'%' IDENTIFIED BY ?`, l.readOnlyUser, secret),
    updateReadOnlyUser: statement(`ALTER USER ?@'%' IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS ${limit}`, l.readOnlyUser, secret),
    /** On the database: tables created later are covered too. */
    grantReadOnly: statement(`GRANT SELECT ON ${ident(grantName(l.database))}.* TO ?@'%'`, l.readOnlyUser),
  };
}

/** What a first run on a server without the store executes as the admin, in order, for dry-run. */
export function mysqlAdminStatements(target: DatabaseTarget, slug: string): string[] {
  const t = createTarget(target, 'plan');
  const s = adminSql(t, layout(t, slug));
  return [s.createDatabase, s.createHistory, s.markDatabase, s.createUser, s.updateUser, s.grant].map(
    (q) => `${mysql.format(q.sql, q.params)};`,
  );
}
