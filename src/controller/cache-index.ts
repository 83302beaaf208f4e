// An index over an informer's cache: which objects of a namespace carry a value (a Store name, a Secret
// name), kept up to date from the informer's add/update/delete events, so that a lookup costs O(matches)
// instead of a scan of every cached object on every event.
import type { KubernetesObject } from '@kubernetes/client-node';

export type IndexFunction<T> = (object: T) => readonly string[];

export class CacheIndex<T extends KubernetesObject> {
  /** `namespace/value` → names of the objects in that namespace indexed under value. */
  readonly #entries = new Map<string, Set<string>>();
  /** `namespace/name` → the values the object was last indexed under (to unindex it on update or delete). */
  readonly #valuesOf = new Map<string, readonly string[]>();

  constructor(private readonly valuesFor: IndexFunction<T>) {}

  /** Follows one informer event. */
  observe(object: T, event: 'add' | 'update' | 'delete'): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const key = `${namespace}/${name}`;
    for (const value of this.#valuesOf.get(key) ?? []) {
      const names = this.#entries.get(`${namespace}/${value}`);
      names?.delete(name);
      if (names?.size === 0) this.#entries.delete(`${namespace}/${value}`);
    }
    this.#valuesOf.delete(key);
    if (event === 'delete') return;
    const values = [...new Set(this.valuesFor(object).filter(Boolean))];
    if (values.length === 0) return;
    this.#valuesOf.set(key, values);
    for (const value of values) {
      const entry = `${namespace}/${value}`;
      let names = this.#entries.get(entry);
      if (!names) {
        names = new Set();
        this.#entries.set(entry, names);
      }
      names.add(name);
    }
  }

  /** Names of the objects in `namespace` indexed under `value`. */
  names(namespace: string | undefined, value: string | undefined): string[] {
    if (namespace === undefined || !value) return [];
    return [...(this.#entries.get(`${namespace}/${value}`) ?? [])];
  }
}
