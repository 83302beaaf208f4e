// ConnectionManager: gives the platform's app a cached, typed connection to each store's database,
// built from the store's active integration config in the master DB. Pools are bounded (LRU), closed when
// idle, and replaced when the config row changes (credential rotation).

import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, type Kysely } from 'kysely';
import { isAuthenticationFailure, isConnectionLost } from '../engines/driver-errors.js';
import type { Tenant } from '../engines/engine.js';
import { engineFor } from '../engines/index.js';
import { redactSecrets, StoreopError } from '../errors.js';
import { type MasterDatabase, openMaster } from '../master/database.js';
import { assertConfigured, readActiveDatabaseConfig } from '../master/integrations.js';
import { type Keyring, loadKeyring } from '../master/keyring.js';
import type { MasterDB } from '../master/types.js';
import type { StoreDB } from '../schema/row-types.js';

export interface ConnectionManagerOptions {
  /** The master DB: postgres:// or pglite:// (default STOREOP_MASTER_DATABASE_URL, then ./.storeop/master). */
  masterUrl?: string;
  /** Or an already open master DB, which the manager then does not close. */
  master?: MasterDatabase;
  /** Keys for decrypting store credentials (default STOREOP_ENCRYPTION_KEYS or the embedded key file). */
  keyring?: Keyring;
  home?: string;
  /** Most store pools open at once; the least recently used is closed to make room (default 50). */
  maxStores?: number;
  /** A store pool unused this long is closed (default 5 minutes). */
  idleTimeoutMs?: number;
  /** Connections per store pool (default 5). */
  poolSize?: number;
  /** How old a cached config may get before it is compared with the master row (default 1000 ms; 0 = every call). */
  revalidateMs?: number;
  /** Called once a store pool is open: for metrics and logs (a hook that throws is ignored). */
  onPoolOpen?: (storeId: string) => void;
  /** Called once a store pool is closed, with why (a hook that throws is ignored). */
  onPoolClose?: (storeId: string, reason: PoolCloseReason) => void;
}

/** Why a store pool was closed. */
export type PoolCloseReason = 'lru' | 'idle' | 'invalidated' | 'config-changed' | 'auth-failed' | 'unavailable' | 'closed';

/**
 * How long query() waits before each new try after a login was refused: a rotation changes the role's
 * password a moment before the master DB has the new one, so a pool opened in between needs a second look.
 */
const AUTH_RETRY_DELAYS_MS = [100, 400, 1600, 3200];

interface Entry {
  storeId: string;
  tenant: Tenant;
  version: string;
  lastUsed: number;
  checkedAt: number;
  checking?: Promise<void> | undefined;
  /** Calls of withStore()/query() running on this pool now: it is not closed under them. */
  leases: number;
  /** Resolves a close that waits for the running calls to end. */
  drained?: (() => void) | undefined;
  /** Set once the pool is being closed. */
  closing?: Promise<void> | undefined;
}

/**
 * A dropped store connection (backend terminated, server restarted) as a typed, retryable error; the
 * pool has discarded the dead connection, so calling again gets a fresh one. Other errors pass unchanged.
 */
function connectionLost(storeId: string, error: unknown): StoreopError | undefined {
  if (!isConnectionLost(error) || error instanceof StoreopError) return undefined;
  const message = redactSecrets(error instanceof Error ? error.message : String(error), []);
  return new StoreopError('ConnectionLost', `store ${storeId}: the database connection was lost during the call (${message})`, {
    retryable: true,
    cause: error,
  });
}

/** A login the store's database refused, typed and retryable: the next call opens a pool from the current config. */
function refusedLogin(storeId: string, error: unknown): StoreopError {
  if (error instanceof StoreopError) return error;
  const message = redactSecrets(error instanceof Error ? error.message : String(error), []);
  return new StoreopError(
    'AuthenticationFailed',
    `store ${storeId}: the database refused the login (${message}); its password changed (a rotation), the next call uses the current config`,
    { retryable: true, cause: error },
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ConnectionManager {
  readonly #master: MasterDatabase;
  readonly #ownsMaster: boolean;
  readonly #keyring: Keyring;
  readonly #options: Required<Pick<ConnectionManagerOptions, 'maxStores' | 'idleTimeoutMs' | 'poolSize' | 'revalidateMs'>>;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #opening = new Map<string, Promise<Entry>>();
  /** Leases wanted on pools still opening (withStore callers waiting for them). */
  readonly #pendingLeases = new Map<string, number>();
  #slots: Promise<unknown> = Promise.resolve();
  readonly #sweeper: NodeJS.Timeout;
  readonly #hooks: Pick<ConnectionManagerOptions, 'onPoolOpen' | 'onPoolClose'>;
  #closed = false;

  private constructor(master: MasterDatabase, ownsMaster: boolean, keyring: Keyring, options: ConnectionManagerOptions) {
    this.#master = master;
    this.#ownsMaster = ownsMaster;
    this.#keyring = keyring;
    this.#options = {
      maxStores: options.maxStores ?? 50,
      idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
      poolSize: options.poolSize ?? 5,
      revalidateMs: options.revalidateMs ?? 1000,
    };
    this.#hooks = { onPoolOpen: options.onPoolOpen, onPoolClose: options.onPoolClose };
    if (this.#options.maxStores < 1) throw new StoreopError('InvalidSpec', 'maxStores must be at least 1');
    this.#sweeper = setInterval(() => void this.#closeIdle(), Math.max(1000, this.#options.idleTimeoutMs / 2));
    this.#sweeper.unref();
  }

  static async open(options: ConnectionManagerOptions = {}): Promise<ConnectionManager> {
    const master = options.master ?? (await openMaster({ url: options.masterUrl, home: options.home }));
    try {
      const keyring = options.keyring ?? loadKeyring({ home: options.home, embedded: master.engine === 'pglite' });
      return new ConnectionManager(master, !options.master, keyring, options);
    } catch (error) {
      if (!options.master) await master.close();
      throw error;
    }
  }

  /** The master (platform) database. */
  master(): Kysely<MasterDB> {
    return this.#master.db;
  }

  /**
   * A typed connection to the store's database; concurrent first calls share one pool. It stays usable
   * until the pool is closed (least recently used with more than maxStores stores, idle, config changed,
   * close()); work that must not race such a close, with many stores busy at once, belongs in withStore().
   * `DB` is the built-in schema's StoreDB, or a custom StoreSchema's (`storeop schema types`).
   */
  async forStore<DB = StoreDB>(storeId: string): Promise<Kysely<DB>> {
    const entry = await this.#entry(storeId);
    return entry.tenant.db as Kysely<DB>;
  }

  /**
   * Runs `fn` with the store's connection; its pool is not closed while `fn` runs (an eviction waits for
   * it, so more than maxStores stores busy at once queue instead of failing). `fn` should not wait for
   * withStore() on other stores: with every pool busy that would wait for itself.
   */
  async withStore<T, DB = StoreDB>(storeId: string, fn: (db: Kysely<DB>) => Promise<T>): Promise<T> {
    // The master (config lookup) or the store's database may drop a connection: either is ConnectionLost.
    const entry = await this.#entry(storeId, true).catch((error: unknown) => {
      throw connectionLost(storeId, error) ?? error;
    });
    try {
      return await fn(entry.tenant.db as Kysely<DB>);
    } catch (error) {
      // A new connection's login refused: the pool's password is out of date (a rotation). The next call
      // opens a pool from the config as the master DB has it then; calls still running here finish first.
      if (isAuthenticationFailure(error)) {
        void this.#evict(entry, 'auth-failed');
        throw refusedLogin(storeId, error);
      }
      throw connectionLost(storeId, error) ?? error;
    } finally {
      entry.leases--;
      entry.lastUsed = Date.now();
      if (entry.leases === 0) entry.drained?.();
    }
  }

  /**
   * Raw SQL on the store's database, with positional parameters ($1 on PostgreSQL, ? on MySQL). A login the
   * server refuses (the password was rotated) means the statement never ran: the store's config is read
   * again from the master DB and the statement tried again on a new pool, a few times over a few seconds.
   */
  async query<Row = Record<string, unknown>>(storeId: string, sqlText: string, params: readonly unknown[] = []): Promise<Row[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.withStore(storeId, async (db) => (await db.executeQuery<Row>(CompiledQuery.raw(sqlText, [...params]))).rows);
      } catch (error) {
        const delay = AUTH_RETRY_DELAYS_MS[attempt];
        if (delay === undefined || !isAuthenticationFailure(error)) throw error;
        await sleep(delay);
      }
    }
  }

  /** Closes the store's pool; the next forStore builds a new one from the current config. */
  async invalidate(storeId: string): Promise<void> {
    await this.#opening.get(storeId)?.catch(() => undefined);
    const entry = this.#entries.get(storeId);
    if (entry) await this.#evict(entry, 'invalidated');
  }

  /** How many store pools are cached now (not counting evicted ones still finishing their running calls). */
  get openPools(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    await Promise.allSettled([...this.#opening.values()]);
    await Promise.allSettled([...this.#entries.values()].map((e) => this.#evict(e, 'closed')));
    if (this.#ownsMaster) await this.#master.close();
  }

  /** With `lease`, the entry comes with a lease taken when it is handed over, before anything can evict it. */
  async #entry(storeId: string, lease = false): Promise<Entry> {
    if (this.#closed) throw new StoreopError('InvalidSpec', 'the ConnectionManager is closed');
    const cached = this.#entries.get(storeId);
    if (cached) {
      if (Date.now() - cached.checkedAt >= this.#options.revalidateMs) {
        cached.checking ??= this.#revalidate(cached).finally(() => {
          cached.checking = undefined;
        });
        await cached.checking;
      }
      if (this.#entries.get(storeId) === cached) {
        this.#touch(cached);
        if (lease) cached.leases++;
        return cached;
      }
    }
    let opening = this.#opening.get(storeId);
    if (!opening) {
      opening = this.#openEntry(storeId).finally(() => {
        this.#opening.delete(storeId);
        this.#pendingLeases.delete(storeId);
      });
      this.#opening.set(storeId, opening);
    }
    // Counted now and set on the entry when it is created, so a just-opened pool cannot be taken as
    // an idle eviction candidate before its callers get to use it.
    if (lease) this.#pendingLeases.set(storeId, (this.#pendingLeases.get(storeId) ?? 0) + 1);
    return opening;
  }

  /** Store status and config version in one query: the cheap check that runs on a stale cache hit. */
  async #status(storeId: string): Promise<{ version: string | undefined }> {
    if (!UUID.test(storeId)) throw new StoreopError('StoreNotFound', `no store with id ${JSON.stringify(storeId)}`, { retryable: false });
    const row = await this.#master.db
      .selectFrom('stores')
      .leftJoin('integration_configs', (j) =>
        j.onRef('integration_configs.store_id', '=', 'stores.id').on('integration_configs.is_active', '=', true),
      )
      .select([
        'stores.slug',
        'stores.database_status',
        'stores.is_active',
        'integration_configs.id as config_id',
        'integration_configs.updated_at as config_updated_at',
      ])
      .where('stores.id', '=', storeId)
      .executeTakeFirst();
    if (!row) throw new StoreopError('StoreNotFound', `no store with id ${storeId}`, { retryable: false });
    if (row.database_status === 'suspended' || !row.is_active) {
      throw new StoreopError('StoreSuspended', `store ${row.slug} is ${row.database_status === 'suspended' ? 'suspended' : 'inactive'}`, {
        retryable: false,
      });
    }
    return {
      version: row.config_id && row.config_updated_at ? `${row.config_id}@${new Date(row.config_updated_at).toISOString()}` : undefined,
    };
  }

  async #revalidate(entry: Entry): Promise<void> {
    let status: { version: string | undefined };
    try {
      status = await this.#status(entry.storeId);
    } catch (error) {
      void this.#evict(entry, 'unavailable');
      throw error;
    }
    // Out of the cache now; closed once calls still running on it end (not awaited: one of them may be
    // the caller's own withStore on this store).
    if (status.version !== entry.version) void this.#evict(entry, 'config-changed');
    else entry.checkedAt = Date.now();
  }

  async #openEntry(storeId: string): Promise<Entry> {
    await this.#status(storeId);
    const config = assertConfigured(await readActiveDatabaseConfig(this.#master.db, this.#keyring, storeId), storeId);
    // Slots are taken one at a time so the bound holds even when many stores open together.
    const slot = this.#slots.then(async () => {
      while (this.#entries.size >= this.#options.maxStores) {
        // The least recently used pool that nothing runs on; if every pool is busy, the least recently
        // used one, closed once its running calls end (the new pool waits: the bound holds).
        const entries = [...this.#entries.values()];
        await this.#evict(entries.find((e) => e.leases === 0) ?? (entries[0] as Entry), 'lru');
      }
      const tenant = await engineFor(config.connection.engine).openTenant(config.connection, {
        poolSize: this.#options.poolSize,
        idleTimeoutMs: Math.min(this.#options.idleTimeoutMs, 60_000),
      });
      const now = Date.now();
      const entry: Entry = {
        storeId,
        tenant,
        version: config.version,
        lastUsed: now,
        checkedAt: now,
        leases: this.#pendingLeases.get(storeId) ?? 0,
      };
      this.#pendingLeases.delete(storeId);
      this.#entries.set(storeId, entry);
      this.#notify(() => this.#hooks.onPoolOpen?.(storeId));
      return entry;
    });
    this.#slots = slot.catch(() => undefined);
    return slot;
  }

  #touch(entry: Entry): void {
    entry.lastUsed = Date.now();
    this.#entries.delete(entry.storeId);
    this.#entries.set(entry.storeId, entry);
  }

  async #evict(entry: Entry, reason: PoolCloseReason): Promise<void> {
    if (this.#entries.get(entry.storeId) === entry) this.#entries.delete(entry.storeId);
    else if (entry.closing) return entry.closing; // already being closed: report it once
    const idle = entry.leases === 0 ? Promise.resolve() : new Promise<void>((resolve) => (entry.drained = resolve));
    entry.closing = idle
      .then(() => entry.tenant.close())
      .then(
        () => this.#notify(() => this.#hooks.onPoolClose?.(entry.storeId, reason)),
        () => this.#notify(() => this.#hooks.onPoolClose?.(entry.storeId, reason)),
      );
    await entry.closing;
  }

  #notify(hook: () => void): void {
    try {
      hook();
    } catch {
      // observers must not break connections
    }
  }

  async #closeIdle(): Promise<void> {
    const cutoff = Date.now() - this.#options.idleTimeoutMs;
    for (const entry of [...this.#entries.values()]) {
      if (entry.lastUsed < cutoff && entry.leases === 0) await this.#evict(entry, 'idle');
    }
  }
}
