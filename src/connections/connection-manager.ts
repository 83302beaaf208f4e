// ConnectionManager: gives the platform's app a cached, typed connection to each store's database,
// built from the store's active integration config in the master DB. Pools are bounded (LRU), closed when
// idle, and replaced when the config row changes (credential rotation).
import { CompiledQuery, type Kysely } from 'kysely';
import type { Tenant } from '../engines/engine.js';
import { engineFor } from '../engines/index.js';
import { StoreopError } from '../errors.js';
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
}

interface Entry {
  storeId: string;
  tenant: Tenant;
  version: string;
  lastUsed: number;
  checkedAt: number;
  checking?: Promise<void> | undefined;
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
  #slots: Promise<unknown> = Promise.resolve();
  readonly #sweeper: NodeJS.Timeout;
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

  /** A typed connection to the store's database; concurrent first calls share one pool. */
  async forStore(storeId: string): Promise<Kysely<StoreDB>> {
    const entry = await this.#entry(storeId);
    return entry.tenant.db as Kysely<StoreDB>;
  }

  /** Raw SQL on the store's database, with positional parameters ($1 on PostgreSQL, ? on MySQL). */
  async query<Row = Record<string, unknown>>(storeId: string, sqlText: string, params: readonly unknown[] = []): Promise<Row[]> {
    const db = await this.forStore(storeId);
    const result = await db.executeQuery<Row>(CompiledQuery.raw(sqlText, [...params]));
    return result.rows;
  }

  /** Closes the store's pool; the next forStore builds a new one from the current config. */
  async invalidate(storeId: string): Promise<void> {
    await this.#opening.get(storeId)?.catch(() => undefined);
    const entry = this.#entries.get(storeId);
    if (entry) await this.#evict(entry);
  }

  /** How many store pools are open now. */
  get openPools(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    await Promise.allSettled([...this.#opening.values()]);
    await Promise.allSettled([...this.#entries.values()].map((e) => this.#evict(e)));
    if (this.#ownsMaster) await this.#master.close();
  }

  async #entry(storeId: string): Promise<Entry> {
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
        return cached;
      }
    }
    let opening = this.#opening.get(storeId);
    if (!opening) {
      opening = this.#openEntry(storeId).finally(() => this.#opening.delete(storeId));
      this.#opening.set(storeId, opening);
    }
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
      await this.#evict(entry);
      throw error;
    }
    if (status.version !== entry.version) await this.#evict(entry);
    else entry.checkedAt = Date.now();
  }

  async #openEntry(storeId: string): Promise<Entry> {
    await this.#status(storeId);
    const config = assertConfigured(await readActiveDatabaseConfig(this.#master.db, this.#keyring, storeId), storeId);
    // Slots are taken one at a time so the bound holds even when many stores open together.
    const slot = this.#slots.then(async () => {
      while (this.#entries.size >= this.#options.maxStores) {
        const lru = this.#entries.values().next().value as Entry;
        await this.#evict(lru);
      }
      const tenant = await engineFor(config.connection.engine).openTenant(config.connection, {
        poolSize: this.#options.poolSize,
        idleTimeoutMs: Math.min(this.#options.idleTimeoutMs, 60_000),
      });
      const now = Date.now();
      const entry: Entry = { storeId, tenant, version: config.version, lastUsed: now, checkedAt: now };
      this.#entries.set(storeId, entry);
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

  async #evict(entry: Entry): Promise<void> {
    if (this.#entries.get(entry.storeId) === entry) this.#entries.delete(entry.storeId);
    await entry.tenant.close().catch(() => {});
  }

  async #closeIdle(): Promise<void> {
    const cutoff = Date.now() - this.#options.idleTimeoutMs;
    for (const entry of [...this.#entries.values()]) {
      if (entry.lastUsed < cutoff) await this.#evict(entry);
    }
  }
}
