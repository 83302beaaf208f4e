// Shares the strings of cached objects. Every watch event and list item is parsed into fresh strings, so
// at thousands of cached objects the same apiVersion, namespace, finalizer, condition type and reason, and
// the same name and uid across an object's versions, are each one copy per object (per version still
// referenced). Two cheap sources of one shared instance, applied as an object enters the cache:
// - the version it replaces: an unchanged string at the same path reuses that version's instance (the
//   object's name, uid, timestamps, messages; the informer's own map key is the first version's name);
// - a small pool for values that repeat across objects (apiVersion, kind, namespace, label values, types,
//   reasons...), bounded and cleared when full, so values unique to one object cannot grow it for ever.

/** Strings no other object carries: a pool of them would only hold garbage. */
const UNIQUE_KEYS = new Set(['uid', 'resourceVersion', 'message']);
/** metadata fields unique to their object (name is shared through the previous version instead). */
const UNIQUE_METADATA = new Set(['name', 'generateName', 'creationTimestamp', 'deletionTimestamp', 'selfLink']);
/** Top-level fields left alone: a Secret's values are not copied into a pool that outlives the Secret. */
const SKIPPED_ROOT_KEYS = new Set(['data', 'stringData', 'binaryData']);
/** Longer strings are rarely shared, and a lookup hashes the whole string. */
const MAX_POOLED_LENGTH = 64;

export class StringPool {
  readonly #strings = new Map<string, string>();

  constructor(readonly capacity = 8192) {}

  /** The pool's instance of `value` (this one when it is new). */
  intern(value: string): string {
    const shared = this.#strings.get(value);
    if (shared !== undefined) return shared;
    // Cleared rather than evicted one by one: what was shared stays shared, later objects start a new copy.
    if (this.#strings.size >= this.capacity) this.#strings.clear();
    this.#strings.set(value, value);
    return value;
  }

  /** Whether the pool holds `value` (for tests: what it takes in and what it leaves out). */
  has(value: string): boolean {
    return this.#strings.has(value);
  }

  get size(): number {
    return this.#strings.size;
  }
}

/** The process's pool: the informers of every kind share it (one namespace string for Stores and StoreDatabases). */
export const cachePool = new StringPool();

type Json = Record<string, unknown> | unknown[];

/**
 * Replaces, in place, the strings of `object` with shared instances: those of `previous` (the cached
 * version it replaces) where a value is unchanged at the same path, else the pool's where the value may
 * repeat across objects. Returns `object`.
 */
export function shareStrings<T extends object>(object: T, previous?: object, pool: StringPool = cachePool): T {
  walk(object as Json, previous as Json | undefined, pool, 'root');
  return object;
}

function walk(node: Json, previous: Json | undefined, pool: StringPool, parentKey: string): void {
  const isArray = Array.isArray(node);
  const before = previous !== undefined && Array.isArray(previous) === isArray ? (previous as Record<string, unknown>) : undefined;
  const entries = node as Record<string, unknown>;
  const keys: Array<string | number> = isArray ? [...node.keys()] : Object.keys(node);
  for (const key of keys) {
    if (parentKey === 'root' && SKIPPED_ROOT_KEYS.has(key as string)) continue;
    const value = entries[key];
    const old = before?.[key];
    if (typeof value === 'string') {
      if (old === value) entries[key] = old;
      else if (value.length <= MAX_POOLED_LENGTH && pooled(parentKey, key)) entries[key] = pool.intern(value);
    } else if (typeof value === 'object' && value !== null) {
      // An array's items share their array's key (finalizers, conditions[].type).
      walk(value as Json, typeof old === 'object' && old !== null ? (old as Json) : undefined, pool, isArray ? parentKey : String(key));
    }
  }
}

function pooled(parentKey: string, key: string | number): boolean {
  if (typeof key === 'number') return true;
  return !UNIQUE_KEYS.has(key) && !(parentKey === 'metadata' && UNIQUE_METADATA.has(key));
}
