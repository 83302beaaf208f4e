// PGlite: an embedded PostgreSQL in a folder, for the embedded default and quick starts. One store per
// folder; there are no roles or network, so create and connect mode differ only in creating the folder.
import { rmSync } from 'node:fs';
import { sql } from 'kysely';
import { StoreopError } from '../errors.js';
import { type Fingerprint, readFingerprint } from '../schema/fingerprint.js';
import { toStoreopError } from './driver-errors.js';
import type { AnyKysely, Engine, LockOptions, Placement, Tenant } from './engine.js';
import { assertStoreFolder } from './pglite-paths.js';
import { closePglite, openPglite, type PgliteHandle } from './pglite-registry.js';
import type { DatabaseTarget, TenantConnection } from './target.js';

function pgliteTarget(target: DatabaseTarget) {
  if (target.engine !== 'pglite') throw new StoreopError('InvalidSpec', 'not a PGlite target');
  return target;
}

export class PgliteEngine implements Engine {
  readonly dialect = 'postgres' as const;

  /** One store per folder: the folder is the database, as ensureDatabase() reports it. */
  placement(target: DatabaseTarget): Placement {
    const t = pgliteTarget(target);
    return { engine: 'pglite', host: 'localhost', port: 0, database: t.dataDir, schema: 'public', role: 'postgres' };
  }

  async testConnection(target: DatabaseTarget): Promise<string> {
    const t = pgliteTarget(target);
    const handle = await openPglite(t.dataDir).catch((error: unknown) => {
      throw toStoreopError(error, { engine: 'pglite', database: t.dataDir }, [], 'opening the embedded database');
    });
    try {
      const result = await sql<{ server_version: string }>`SHOW server_version`.execute(handle.db);
      return `${result.rows[0]?.server_version ?? 'unknown'} (PGlite)`;
    } finally {
      await handle.release();
    }
  }

  async ensureDatabase(target: DatabaseTarget): Promise<TenantConnection> {
    const { host, port, database, schema } = this.placement(target);
    return { engine: 'pglite', host, port, database, dataDir: database, schema: schema as string, user: 'postgres' };
  }

  /** In-process: no login to prove; the same fingerprint query through the shared instance. */
  async fingerprint(connection: TenantConnection, tables: readonly string[]): Promise<Fingerprint> {
    const dataDir = connection.dataDir ?? connection.database;
    const handle = await openPglite(dataDir);
    try {
      return await handle.exclusive(() => readFingerprint(handle.db, 'postgres', tables));
    } catch (error) {
      throw toStoreopError(error, { engine: 'pglite', database: dataDir }, [], 'checking the store database');
    } finally {
      await handle.release();
    }
  }

  async openTenant(connection: TenantConnection): Promise<Tenant> {
    const dataDir = connection.dataDir ?? connection.database;
    return new PgliteTenant(await openPglite(dataDir), dataDir);
  }

  async deprovision(target: DatabaseTarget, slug: string): Promise<void> {
    const t = pgliteTarget(target);
    // Removing a folder is only safe for the store's own folder under <home>/stores: never a path a spec chose elsewhere.
    if (!t.storesRoot)
      throw new StoreopError('InvalidSpec', `not removing ${t.dataDir}: only a store folder under <home>/stores is removed`, {
        retryable: false,
      });
    assertStoreFolder(t.dataDir, t.storesRoot, slug, 'dataDir');
    await closePglite(t.dataDir);
    rmSync(t.dataDir, { recursive: true, force: true });
  }

  async setLoginEnabled(): Promise<void> {
    // An embedded database has no login to disable; the master DB's store status is what suspends it.
  }
}

class PgliteTenant implements Tenant {
  readonly dialect = 'postgres' as const;
  readonly transactionalDdl = true;
  readonly onlineDdl = false;
  readonly db: AnyKysely;

  constructor(
    private readonly handle: PgliteHandle,
    private readonly dataDir: string,
  ) {
    this.db = handle.db;
  }

  async withMigrationLock<T>(fn: (session: AnyKysely) => Promise<T>, _options: LockOptions): Promise<T> {
    // Only this process can open the folder, so an in-process lock is the whole lock.
    try {
      return await this.handle.exclusive(() => fn(this.db));
    } catch (error) {
      throw toStoreopError(error, { engine: 'pglite', database: this.dataDir }, [], 'provisioning the schema');
    }
  }

  async close(): Promise<void> {
    await this.handle.release();
  }
}
