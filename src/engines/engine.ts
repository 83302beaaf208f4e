// One interface over the database engines: the pipeline never branches on the engine itself.
import type { StoreDatabaseTemplateSpec } from '../api/store-database.js';
import type { SqlDialect } from '../schema/dialect.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import type { AnyKysely } from '../schema/kysely.js';
import type { PrepareContext, Stage } from './staged.js';
import type { DatabaseTarget, EngineName, Isolation, ServerEndpoint, TenantConnection } from './target.js';

export type { AnyKysely };

export interface ServerHealth {
  version: string;
  /** Client connections open on the server (pg_stat_activity client backends / processlist), this check's own included. */
  connectionsUsed: number;
}

export interface LockOptions {
  /** How long to wait for another run on the same database to finish. */
  waitMs: number;
  /** How long one DDL statement may wait for a table lock before failing with LockTimeout. */
  ddlLockTimeoutMs: number;
}

export interface Tenant {
  readonly dialect: SqlDialect;
  /** A pooled connection as the store's own role/user. */
  readonly db: AnyKysely;
  /** Runs `fn` on one session holding the store's migration lock (scoped to this database/schema). */
  withMigrationLock<T>(fn: (session: AnyKysely) => Promise<T>, options: LockOptions): Promise<T>;
  /** Whether DDL is transactional: PostgreSQL yes, MySQL/MariaDB no (each statement commits). */
  readonly transactionalDdl: boolean;
  /**
   * Whether changes to tables that already exist are made without blocking the store's writes: indexes
   * CREATE INDEX CONCURRENTLY (PostgreSQL), columns and indexes ALGORITHM=INPLACE, LOCK=NONE (MySQL/MariaDB).
   * Not for an embedded database, which has no other sessions to keep working.
   */
  readonly onlineDdl: boolean;
  close(): Promise<void>;
}

export interface TenantOptions {
  /** Connections in the tenant pool (default 2: enough for provisioning). */
  poolSize?: number;
  /** Close a pooled connection after this long unused. */
  idleTimeoutMs?: number;
}

/**
 * Where a store's database lives, worked out by its engine alone: the endpoint apps use, the database, the
 * schema (PostgreSQL) and the role/user storeop creates (create mode) or the given user (connect mode).
 */
export interface Placement {
  engine: EngineName;
  host: string;
  port: number;
  database: string;
  schema?: string;
  role?: string;
  /** PostgreSQL create mode: one database per store, or one schema per store in a shared database. */
  isolation?: Isolation;
}

/**
 * The mark storeop leaves on what it creates for a store (PostgreSQL: the role's and the database's comment;
 * MySQL: the history table's comment), so that it adopts, changes and drops nothing it did not create.
 */
export const storeMark = (slug: string): string => `storeop:store=${slug}`;

export interface Engine {
  readonly dialect: SqlDialect;
  /** Where the store `slug` lives on `target`; pure, no connection. */
  placement(target: DatabaseTarget, slug: string): Placement;
  /** Connects with the target's credentials (admin in create mode) and answers the server version. */
  testConnection(target: DatabaseTarget): Promise<string>;
  /** Network engines: one admin session (within the server's bound) that reads the version and the client connections open. */
  serverHealth?(admin: ServerEndpoint): Promise<ServerHealth>;
  /**
   * Create mode: makes the store's database (or schema) and role/user exist, with `password`, owned
   * by that role; idempotent. Connect mode: nothing is created. Returns how the store connects.
   */
  ensureDatabase(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection>;
  /**
   * Create mode on PostgreSQL and MySQL: makes the store's read-only role/user exist with `password`, with
   * SELECT only on the store's tables (also those created later); idempotent. Returns how it connects.
   * deprovision drops it too.
   */
  ensureReadOnlyUser?(target: DatabaseTarget, slug: string, password: string): Promise<TenantConnection>;
  /** Drops the store's read-only role/user when it exists and is storeop's (readOnlyUser turned off); idempotent. */
  dropReadOnlyUser?(target: DatabaseTarget, slug: string): Promise<void>;
  openTenant(connection: TenantConnection, options?: TenantOptions): Promise<Tenant>;
  /**
   * The periodic check's one session: logs in as the store's own role/user with `connection` (which proves the
   * database and the login exist and the password is right) and fingerprints the store's tables in one query.
   * No admin connection, nothing written.
   */
  fingerprint(connection: TenantConnection, tables: readonly string[]): Promise<Fingerprint>;
  /** Create mode only: drops the database/schema and the role/user after ending their sessions; idempotent. */
  deprovision(target: DatabaseTarget, slug: string): Promise<void>;
  /** Create mode only: enables or disables the store role's login (store suspension). */
  setLoginEnabled(target: DatabaseTarget, slug: string, enabled: boolean): Promise<void>;
  /**
   * Create mode only: the statements ensureDatabase runs as the server admin on a server without the store,
   * built by the same code that ensureDatabase executes (the password printed as '<generated>').
   */
  adminStatements?(target: DatabaseTarget, slug: string): string[];
  /**
   * Engines whose target is made in stages (a Supabase project created, then healthy): one step, answering
   * ready with the target, waiting (ask again after retryAfterMs, with the carry) or failed. Never sleeps.
   * Engines without it get their target from resolveTarget at once.
   */
  prepare?(spec: StoreDatabaseTemplateSpec, ctx: PrepareContext): Promise<Stage>;
}
