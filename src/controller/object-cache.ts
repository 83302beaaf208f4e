// What reconcilers read: an informer's cache, with read-your-writes. A write returns the object as written;
// until the watch delivers that version (or a later one), a read returns the written object instead of
// the older cached one, so a reconcile that runs right after its own write does not act on a stale
// status (and re-run provisioning) or carry a stale resourceVersion into a guarded write (409).
// Reads return copies: a reconcile may change its object freely without touching the cache.
import type { KubernetesObject } from '@kubernetes/client-node';
import { type ResilientInformer, trimForCache } from './informer.js';

/** How long a written object may stand in for the cache: the watch has normally delivered it within a second. */
const WRITTEN_TTL_MS = 60_000;

/**
 * Whether resourceVersion `a` is newer than `b`. resourceVersions are opaque strings in the API, but
 * kube-apiserver's are etcd revisions (decimal integers): compared as numbers when both are, else not newer.
 */
export function newerVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

/**
 * Who wrote an object: the reconciler that watches it ("own": its watch event need not run that reconcile
 * again), or another one (a Store creating its StoreDatabase: the event must run the StoreDatabase's).
 */
export type WriteOrigin = 'own' | 'other';

export class ObjectCache<T extends KubernetesObject> {
  readonly #written = new Map<string, { object: T; at: number; origin: WriteOrigin; gone?: boolean }>();
  #sweptAt = Date.now();

  constructor(readonly informer: ResilientInformer<T>) {}

  /** The object (a copy): the cached one, or this process's own later write of it. */
  get(namespace: string, name: string): T | undefined {
    const key = `${namespace}/${name}`;
    const cached = this.informer.get(name, namespace);
    const own = this.#written.get(key);
    if (own) {
      const fresh = Date.now() - own.at < WRITTEN_TTL_MS;
      // Gone: the cache may show it until the watch delivers the deletion (a new object has a new uid).
      if (fresh && own.gone && (!cached || cached.metadata?.uid === own.object.metadata?.uid)) return undefined;
      if (fresh && !own.gone && (!cached || newerVersion(own.object.metadata?.resourceVersion, cached.metadata?.resourceVersion)))
        return structuredClone(own.object);
      this.#written.delete(key);
    }
    return cached === undefined ? undefined : structuredClone(cached);
  }

  /**
   * Remembers what a write returned, until the informer has it. A watch event can arrive before the write's
   * response: then the cache already holds this version and there is nothing to remember (an entry kept
   * anyway would never be observed again, and stayed until the object was next read: at 10,000 waiting
   * objects, a copy of each).
   */
  wrote(object: T, origin: WriteOrigin = 'own'): void {
    const { namespace = '', name = '' } = object.metadata ?? {};
    const key = `${namespace}/${name}`;
    this.#sweep();
    const cached = this.informer.get(name, namespace);
    if (cached && !newerVersion(object.metadata?.resourceVersion, cached.metadata?.resourceVersion)) {
      this.#written.delete(key);
      return;
    }
    this.#written.set(key, { object: trimForCache(structuredClone(object)), at: Date.now(), origin });
  }

  /**
   * Follows the informer: a delivered version (or a deletion) makes the written object unnecessary. Returns
   * whether the event delivers a write of the object's own reconciler (its handler need not react to it).
   */
  observe(object: T, event: 'add' | 'update' | 'delete'): boolean {
    const { namespace = '', name = '' } = object.metadata ?? {};
    const key = `${namespace}/${name}`;
    const own = this.#written.get(key);
    if (!own) return false;
    const version = own.object.metadata?.resourceVersion;
    if (event === 'delete' || !newerVersion(version, object.metadata?.resourceVersion)) this.#written.delete(key);
    return own.origin === 'own' && event !== 'delete' && version !== undefined && version === object.metadata?.resourceVersion;
  }

  /**
   * The write removed the last finalizer of a deleted object: it is gone, though the cache may still show
   * the version before (a reconcile queued meanwhile must not finalize it twice).
   */
  removed(object: T): void {
    const { namespace = '', name = '' } = object.metadata ?? {};
    this.#sweep();
    this.#written.set(`${namespace}/${name}`, { object: trimForCache(structuredClone(object)), at: Date.now(), origin: 'own', gone: true });
  }

  /** How many written objects are remembered (for tests: they must not pile up). */
  get pendingWrites(): number {
    return this.#written.size;
  }

  /** Forgets expired writes (once a TTL at most): one whose watch event never came must not stay forever. */
  #sweep(): void {
    const now = Date.now();
    if (now - this.#sweptAt < WRITTEN_TTL_MS) return;
    this.#sweptAt = now;
    for (const [key, entry] of this.#written) if (now - entry.at >= WRITTEN_TTL_MS) this.#written.delete(key);
  }
}
