// An index over an informer's cache: which objects of a namespace carry a value (a Store name, a Secret
// name), kept up to date from the informer's add/update/delete events, so that a lookup costs O(matches)
// instead of a scan of every cached object on every event.
//
// Compact because it holds an entry per cached object: most values name one object and most objects have
// one value, so a single name or value is kept as a plain string and only several go into a Set or array
// (a Set per entry cost about 250 bytes each, a quarter of the cached object itself, at 10,000 objects);
// entries are keyed by namespace, then by the object's own value and name strings (no joined key strings).
import type { KubernetesObject } from '@kubernetes/client-node';
import { NamespacedMap } from './namespaced-map.js';

export type IndexFunction<T> = (object: T) => readonly string[];

export class CacheIndex<T extends KubernetesObject> {
  /** (namespace, value) → the name (or names) of the objects in that namespace indexed under value. */
  readonly #entries = new NamespacedMap<string | Set<string>>();
  /** (namespace, name) → the value (or values) the object was last indexed under (to unindex it on update or delete). */
  readonly #valuesOf = new NamespacedMap<string | readonly string[]>();

  constructor(private readonly valuesFor: IndexFunction<T>) {}

  /** Follows one informer event. */
  observe(object: T, event: 'add' | 'update' | 'delete'): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const before = this.#valuesOf.get(namespace, name);
    const values = event === 'delete' ? [] : [...new Set(this.valuesFor(object).filter(Boolean))];
    if (sameValues(before, values)) return;
    for (const value of typeof before === 'string' ? [before] : (before ?? [])) this.#remove(namespace, value, name);
    if (values.length === 0) {
      this.#valuesOf.delete(namespace, name);
      return;
    }
    this.#valuesOf.set(namespace, name, values.length === 1 ? (values[0] as string) : values);
    for (const value of values) this.#add(namespace, value, name);
  }

  /** Names of the objects in `namespace` indexed under `value`. */
  names(namespace: string | undefined, value: string | undefined): string[] {
    if (namespace === undefined || !value) return [];
    const names = this.#entries.get(namespace, value);
    return typeof names === 'string' ? [names] : [...(names ?? [])];
  }

  #add(namespace: string, value: string, name: string): void {
    const names = this.#entries.get(namespace, value);
    if (names === undefined) this.#entries.set(namespace, value, name);
    else if (typeof names === 'string') {
      if (names !== name) this.#entries.set(namespace, value, new Set([names, name]));
    } else names.add(name);
  }

  #remove(namespace: string, value: string, name: string): void {
    const names = this.#entries.get(namespace, value);
    if (names === undefined) return;
    if (typeof names === 'string') {
      if (names === name) this.#entries.delete(namespace, value);
      return;
    }
    names.delete(name);
    if (names.size === 1) this.#entries.set(namespace, value, names.values().next().value as string);
    else if (names.size === 0) this.#entries.delete(namespace, value);
  }
}

/** Whether an object's values are those it is already indexed under (most updates): nothing to do. */
function sameValues(before: string | readonly string[] | undefined, values: readonly string[]): boolean {
  if (before === undefined) return values.length === 0;
  if (typeof before === 'string') return values.length === 1 && values[0] === before;
  return before.length === values.length && before.every((value, i) => value === values[i]);
}
