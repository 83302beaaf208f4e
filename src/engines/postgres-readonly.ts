// PostgreSQL create mode: a store's read-only role (credentials.readOnlyUser). It logs in, reads the store's
// tables (and, through default privileges, the tables the store role creates later) and nothing else. It
// carries its own mark, so storeop changes and drops only the read-only role it created for that store.
import pg from 'pg';
import { StoreopError } from '../errors.js';
import { storeNames } from '../naming.js';
import { storeMark } from './engine.js';
import { connectionLimit } from './place.js';
import type { Layout } from './postgres-place.js';
import { scramSha256Verifier } from './scram.js';
import type { CreateTarget } from './target.js';

const ident = (name: string) => pg.escapeIdentifier(name);
const literal = (value: string) => pg.escapeLiteral(value);

/** The comment storeop puts on a store's read-only role. */
export const readOnlyMark = (slug: string): string => `${storeMark(slug)}:readonly`;

/** Runs `fn` in an admin session connected to `database`. */
export type DatabaseSession = <T>(database: string, doing: string, fn: (client: pg.Client) => Promise<T>) => Promise<T>;

/** Every statement for the read-only role; with a password its SCRAM verifier, never the password. */
export function readOnlySql(target: CreateTarget, l: Layout, password?: string) {
  const ro = ident(storeNames(l.slug).readOnlyRole);
  const secret = password === undefined ? `'<generated>'` : literal(scramSha256Verifier(password));
  const limit = connectionLimit(target);
  const schema = ident(l.schema);
  return {
    create: `CREATE ROLE ${ro} WITH LOGIN PASSWORD ${secret} CONNECTION LIMIT ${limit}`,
    mark: `COMMENT ON ROLE ${ro} IS ${literal(readOnlyMark(l.slug))}`,
    update: `ALTER ROLE ${ro} WITH LOGIN PASSWORD ${secret} CONNECTION LIMIT ${limit}`,
    connect: `GRANT CONNECT ON DATABASE ${ident(l.database)} TO ${ro}`,
    usage: `GRANT USAGE ON SCHEMA ${schema} TO ${ro}`,
    select: `GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${ro}`,
    future: `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(l.role)} IN SCHEMA ${schema} GRANT SELECT ON TABLES TO ${ro}`,
  };
}

interface RoleState {
  mark: string | null;
  powerful: boolean;
}

async function inspect(client: pg.Client, role: string): Promise<RoleState | undefined> {
  const found = await client.query<RoleState>(
    `SELECT shobj_description(oid, 'pg_authid') AS mark,
            (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls) AS powerful
     FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  return found.rows[0];
}

/** An existing role of the read-only name must be this store's read-only role, without server-wide powers. */
function assertOwn(state: RoleState, role: string, slug: string, doing: string): void {
  if (state.mark !== readOnlyMark(slug))
    throw new StoreopError(
      'Conflict',
      `role ${role} already exists and storeop did not create it as store ${slug}'s read-only role (its comment is not '${readOnlyMark(slug)}'): storeop refuses ${doing} it`,
      { retryable: false },
    );
  if (state.powerful)
    throw new StoreopError('Conflict', `role ${role} has server-wide powers: storeop refuses ${doing} it`, { retryable: false });
}

/**
 * Creates (with its mark, in one transaction) or updates the read-only role with `password`, and grants it
 * SELECT on the store's tables, now and later. `admin` is connected to the maintenance database and holds
 * the store's admin lock; the grants run in the store's database.
 */
export async function ensureReadOnlyRole(
  admin: pg.Client,
  inDatabase: DatabaseSession,
  target: CreateTarget,
  l: Layout,
  password: string,
): Promise<string> {
  const role = storeNames(l.slug).readOnlyRole;
  const s = readOnlySql(target, l, password);
  const state = await inspect(admin, role);
  if (state) {
    assertOwn(state, role, l.slug, 'to take over');
    await admin.query(s.update);
  } else {
    await admin.query('BEGIN');
    try {
      await admin.query(s.create);
      await admin.query(s.mark);
      await admin.query('COMMIT');
    } catch (error) {
      await admin.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }
  await admin.query(s.connect);
  await inDatabase(l.database, 'granting the read-only role', async (client) => {
    for (const statement of [s.usage, s.select, s.future]) await client.query(statement);
  });
  return role;
}

/**
 * Drops the store's read-only role (when it exists and is storeop's): its privileges and default privileges
 * in the store's database first (`databaseExists`), then the role. Idempotent.
 */
export async function dropReadOnlyRole(admin: pg.Client, inDatabase: DatabaseSession, l: Layout, databaseExists: boolean): Promise<void> {
  const role = storeNames(l.slug).readOnlyRole;
  const state = await inspect(admin, role);
  if (!state) return;
  assertOwn(state, role, l.slug, 'to drop');
  await admin.query(`ALTER ROLE ${ident(role)} WITH NOLOGIN`);
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
  if (databaseExists) await inDatabase(l.database, 'dropping the read-only role', (client) => client.query(`DROP OWNED BY ${ident(role)}`));
  await admin.query(`DROP ROLE ${ident(role)}`);
}
