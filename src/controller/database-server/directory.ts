// What the controller knows about DatabaseServers beyond their cache: which StoreDatabase is placed on
// which server (to count stores and to wake them when their server changes), and which StoreDatabases wait
// for a server with room (woken when any server changes: no polling per store).
import type { DatabaseServer } from '../../api/database-server.js';
import { databaseServerSpec } from '../../api/database-server.js';
import type { StoreDatabase } from '../../api/store-database.js';
import type { ServerCandidate } from '../../stores/server-placement.js';
import { getCondition } from '../conditions.js';
import type { ObjectCache } from '../object-cache.js';

/** The cache key of a cluster-scoped object: no namespace. */
export const CLUSTER = '';

export class ServerDirectory {
  /** StoreDatabase `namespace/name` → the server it is placed on. */
  readonly #placed = new Map<string, string>();
  /** Server name → its StoreDatabases' keys. */
  readonly #stores = new Map<string, Set<string>>();
  /** StoreDatabases waiting for a server with room. */
  readonly #waiting = new Set<string>();

  constructor(
    readonly cache: ObjectCache<DatabaseServer>,
    /** Where an adminSecretRef without a namespace points: the operator's own namespace. */
    readonly operatorNamespace: string,
  ) {}

  get(name: string): DatabaseServer | undefined {
    return this.cache.get(CLUSTER, name);
  }

  /** Follows the StoreDatabase informer: status.server is set once and only ever removed with the object. */
  observeDatabase(sdb: StoreDatabase, event: 'add' | 'update' | 'delete'): void {
    const key = `${sdb.metadata.namespace}/${sdb.metadata.name}`;
    if (event === 'delete') {
      this.#unplace(key);
      this.#waiting.delete(key);
    } else if (sdb.status?.server) {
      this.place(key, sdb.status.server);
    }
  }

  /** Records a placement at once (before it is written anywhere), so the next decision counts it. */
  place(key: string, server: string): void {
    this.#waiting.delete(key);
    if (this.#placed.get(key) === server) return;
    this.#unplace(key);
    this.#placed.set(key, server);
    let keys = this.#stores.get(server);
    if (!keys) {
      keys = new Set();
      this.#stores.set(server, keys);
    }
    keys.add(key);
  }

  #unplace(key: string): void {
    const server = this.#placed.get(key);
    if (server === undefined) return;
    this.#placed.delete(key);
    const keys = this.#stores.get(server);
    keys?.delete(key);
    if (keys?.size === 0) this.#stores.delete(server);
  }

  count(server: string): number {
    return this.#stores.get(server)?.size ?? 0;
  }

  /** Keys (`namespace/name`) of the StoreDatabases placed on `server`. */
  storesOn(server: string): string[] {
    return [...(this.#stores.get(server) ?? [])];
  }

  wait(key: string): void {
    this.#waiting.add(key);
  }

  /** Keys of the StoreDatabases waiting for a server. */
  waiting(): string[] {
    return [...this.#waiting];
  }

  /** Every valid DatabaseServer not being deleted, as placement sees it. */
  candidates(): ServerCandidate[] {
    return this.cache.informer.list().flatMap((server) => {
      const spec = databaseServerSpec.safeParse(server.spec);
      if (!spec.success || server.metadata?.deletionTimestamp) return [];
      const name = server.metadata?.name as string;
      return [
        {
          name,
          engine: spec.data.engine,
          labels: server.metadata?.labels ?? {},
          maxStores: spec.data.capacity?.maxStores,
          storeCount: this.count(name),
          reachable: isReachable(server),
        },
      ];
    });
  }
}

/** Whether the server's last check reached it (a server never checked yet is not). */
export function isReachable(server: DatabaseServer): boolean {
  return getCondition(server.status?.conditions, 'Reachable')?.status === 'True';
}
