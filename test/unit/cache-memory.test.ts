// What keeps the informer caches' memory per object small, on its own (no cluster needed): shared strings,
// bookkeeping keyed by the object's own namespace and name, nothing left behind by deleted objects. The
// memory itself is measured by `npm run bench:fleet` (bench/README.md, "Issue 19, memory").
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/api/store.js';
import type { StoreDatabase } from '../../src/api/store-database.js';
import { CacheIndex } from '../../src/controller/cache-index.js';
import { mirroredChanges, storeChanges, storeDatabaseChanges } from '../../src/controller/change-filter.js';
import { queueKey } from '../../src/controller/controller-loop.js';
import { StringPool, shareStrings } from '../../src/controller/intern.js';
import { NamespacedMap } from '../../src/controller/namespaced-map.js';

function store(name: string, resourceVersion = '1'): Store {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: {
      name,
      namespace: 'shop-ns',
      uid: `uid-${name}-0000-0000-0000-000000000000`,
      resourceVersion,
      generation: 1,
      creationTimestamp: '2026-12-02T10:00:00Z',
      finalizers: ['storeop.dev/cleanup'],
      labels: { 'app.kubernetes.io/part-of': 'shop' },
    },
    spec: { displayName: `Shop ${name}`, databaseRef: { name: `${name}-db` } },
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'DatabaseNotFound',
          message: `StoreDatabase ${name}-db does not exist`,
          lastTransitionTime: '2026-12-02T10:00:01Z',
          observedGeneration: 1,
        },
      ],
    },
  } as unknown as Store;
}

describe('shareStrings', () => {
  it('pools values that repeat across objects and leaves out those unique to one', () => {
    const pool = new StringPool();
    const object = store('a');
    const before = structuredClone(object);
    expect(shareStrings(object, undefined, pool)).toBe(object);
    expect(object).toEqual(before);
    for (const shared of [
      'storeop.dev/v1alpha1',
      'Store',
      'shop-ns',
      'storeop.dev/cleanup',
      'shop',
      'Ready',
      'DatabaseNotFound',
      'Pending',
    ])
      expect(pool.has(shared), shared).toBe(true);
    for (const unique of ['a', before.metadata.uid as string, '1', '2026-12-02T10:00:00Z', 'StoreDatabase a-db does not exist'])
      expect(pool.has(unique), unique).toBe(false);
  });

  it("never pools a Secret's values, and leaves long strings alone", () => {
    const pool = new StringPool();
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' }, data: { password: 'c2VjcmV0' } };
    shareStrings(secret, undefined, pool);
    expect(pool.has('c2VjcmV0')).toBe(false);
    expect(pool.has('Secret')).toBe(true);
    const long = 'x'.repeat(65);
    shareStrings({ spec: { note: long } }, undefined, pool);
    expect(pool.has(long)).toBe(false);
  });

  it('keeps the values of a new version exactly, changed and unchanged, against the version it replaces', () => {
    const previous = store('a');
    const next = store('a', '2');
    next.status = { ...next.status, phase: 'Ready' } as Store['status'];
    next.metadata.finalizers = [];
    const expected = structuredClone(next);
    shareStrings(next, previous, new StringPool());
    expect(next).toEqual(expected);
    // An array where an object was (or the reverse) is walked without the previous version.
    const odd = { spec: { items: ['a', 'b'] } };
    shareStrings(odd, { spec: { items: { 0: 'a' } } }, new StringPool());
    expect(odd).toEqual({ spec: { items: ['a', 'b'] } });
  });

  it('stays within its capacity: values unique to one object cannot grow the pool for ever', () => {
    const pool = new StringPool(100);
    for (let i = 0; i < 1000; i++) shareStrings({ spec: { displayName: `Shop ${i}` } }, undefined, pool);
    expect(pool.size).toBeLessThanOrEqual(100);
    expect(pool.intern('Shop 999')).toBe('Shop 999');
  });
});

describe('bookkeeping per cached object', () => {
  it('NamespacedMap keeps entries per namespace and drops a namespace with its last entry', () => {
    const map = new NamespacedMap<number>();
    map.set('a', 'x', 1);
    map.set('a', 'y', 2);
    map.set('b', 'x', 3);
    expect([map.get('a', 'x'), map.get('a', 'y'), map.get('b', 'x'), map.get('b', 'y')]).toEqual([1, 2, 3, undefined]);
    expect(map.size).toBe(3);
    expect(map.delete('a', 'x')).toBe(true);
    expect(map.delete('a', 'x')).toBe(false);
    expect(map.delete('b', 'x')).toBe(true);
    expect(map.size).toBe(1);
  });

  it('change filters forget deleted objects, and a repeated event of the same object is not a change', () => {
    const stores = storeChanges();
    const databases = storeDatabaseChanges();
    const mirrored = mirroredChanges();
    for (let i = 0; i < 100; i++) {
      const s = store(`s${i}`);
      expect(stores.changed(s, 'add')).toBe(true);
      expect(stores.changed(store(`s${i}`, '2'), 'update')).toBe(false);
      const d = { ...store(`d${i}`), kind: 'StoreDatabase', spec: { storeRef: { name: `s${i}` } } } as unknown as StoreDatabase;
      databases.changed(d, 'add');
      mirrored.changed(d, 'add');
    }
    expect([stores.size, databases.size, mirrored.size]).toEqual([100, 100, 100]);
    for (let i = 0; i < 100; i++) {
      stores.changed(store(`s${i}`), 'delete');
      const d = { ...store(`d${i}`), kind: 'StoreDatabase', spec: { storeRef: { name: `s${i}` } } } as unknown as StoreDatabase;
      databases.changed(d, 'delete');
      mirrored.changed(d, 'delete');
    }
    expect([stores.size, databases.size, mirrored.size]).toEqual([0, 0, 0]);
  });

  it('an index forgets deleted objects and their values', () => {
    const index = new CacheIndex<Store>((s) => [s.spec?.databaseRef?.name ?? '']);
    for (let i = 0; i < 50; i++) index.observe(store(`s${i}`), 'add');
    expect(index.names('shop-ns', 's7-db')).toEqual(['s7']);
    for (let i = 0; i < 50; i++) index.observe(store(`s${i}`), 'delete');
    expect(index.names('shop-ns', 's7-db')).toEqual([]);
    // Re-added under the same value after a delete: found again.
    index.observe(store('s7'), 'add');
    expect(index.names('shop-ns', 's7-db')).toEqual(['s7']);
  });

  it('queue keys are namespace/name, cluster-scoped ones with an empty namespace', () => {
    expect(queueKey('ns', 'a')).toBe('ns/a');
    expect(queueKey('', 'storeop-default')).toBe('/storeop-default');
    expect(queueKey('ns', 'a').split('/')).toEqual(['ns', 'a']);
  });
});
