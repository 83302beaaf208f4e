// An index over an informer's cache: which objects of a namespace carry a value (a Store name, a Secret
// name), kept up to date from the informer's add/update/delete events, so that a lookup costs O(matches)
// instead of a scan of every cached object on every event.
//
// Compact because it holds an entry per cached object: most values name one object and most objects have
// one value, so a single name or value is kept as a plain string and only several go into a Set or array
// (a Set per entry cost about 250 bytes each, a quarter of the cached object itself, at 10,000 objects).
import type { KubernetesObject } from '@kubernetes/client-node';

export type IndexFunction<T> = (object: T) => readonly string[];

export class CacheIndex<T extends KubernetesObject> {
  /** `namespace/value` → the name (or names) of the objects in that namespace indexed under value. */
  readonly #entries = new Map<string, string | Set<string>>();
  /** `namespace/name` → the value (or values) the object was last indexed under (to unindex it on update or delete). */
  readonly #valuesOf = new Map<string, string | readonly string[]>();

  constructor(private readonly valuesFor: IndexFunction<T>) {}

  /** Follows one informer event. */
  observe(object: T, event: 'add' | 'update' | 'delete'): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const key = `${namespace}/${name}`;
    const before = this.#valuesOf.get(key);
    for (const value of typeof before === 'string' ? [before] : (before ?? [])) this.#remove(`${namespace}/${value}`, name);
    this.#valuesOf.delete(key);
    if (event === 'delete') return;
    const values = [...new Set(this.valuesFor(object).filter(Boolean))];
    if (values.length === 0) return;
    this.#valuesOf.set(key, values.length === 1 ? (values[0] as string) : values);
    for (const value of values) this.#add(`${namespace}/${value}`, name);
  }

  /** Names of the objects in `namespace` indexed under `value`. */
  names(namespace: string | undefined, value: string | undefined): string[] {
    if (namespace === undefined || !value) return [];
    const names = this.#entries.get(`${namespace}/${value}`);
    return typeof names === 'string' ? [names] : [...(names ?? [])];
  }

  #add(entry: string, name: string): void {
    const names = this.#entries.get(entry);
    if (names === undefined) this.#entries.set(entry, name);
    else if (typeof names === 'string') {
      if (names !== name) this.#entries.set(entry, new Set([names, name]));
    } else names.add(name);
  }

  #remove(entry: string, name: string): void {
    const names = this.#entries.get(entry);
    if (names === undefined) return;
    if (typeof names === 'string') {
      if (names === name) this.#entries.delete(entry);
      return;
    }
    names.delete(name);
    if (names.size === 1) this.#entries.set(entry, names.values().next().value as string);
    else if (names.size === 0) this.#entries.delete(entry);
  }
}
