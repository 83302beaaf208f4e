// A map keyed by (namespace, name), for bookkeeping kept per cached object (index entries, change
// fingerprints). Two levels instead of a `namespace/name` string per entry: the keys are the object's own
// namespace and name strings (shared with the cache, see intern.ts), so an entry costs no string of its
// own; a joined key was a new string (often a cons string, flattened later into a second one) per map.
export class NamespacedMap<V> {
  readonly #namespaces = new Map<string, Map<string, V>>();

  get(namespace: string, name: string): V | undefined {
    return this.#namespaces.get(namespace)?.get(name);
  }

  set(namespace: string, name: string, value: V): void {
    let names = this.#namespaces.get(namespace);
    if (!names) {
      names = new Map();
      this.#namespaces.set(namespace, names);
    }
    names.set(name, value);
  }

  /** Removes the entry (and the namespace's map with its last entry); whether there was one. */
  delete(namespace: string, name: string): boolean {
    const names = this.#namespaces.get(namespace);
    if (!names?.delete(name)) return false;
    if (names.size === 0) this.#namespaces.delete(namespace);
    return true;
  }

  get size(): number {
    let size = 0;
    for (const names of this.#namespaces.values()) size += names.size;
    return size;
  }
}
