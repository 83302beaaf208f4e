// The pieces the control loop's quiet API traffic rests on, on their own (no cluster needed): the cache
// index, which events run a reconcile, resourceVersion order and when a status patch would change anything.
import { describe, expect, it } from 'vitest';
import type { StoreDatabase, StoreDatabaseStatus } from '../../src/api/store-database.js';
import { CacheIndex } from '../../src/controller/cache-index.js';
import { mirroredChanges, storeDatabaseChanges } from '../../src/controller/change-filter.js';
import { APPLIED_ANNOTATION, FINALIZER } from '../../src/controller/context.js';
import { type ResilientInformer, trimForCache } from '../../src/controller/informer.js';
import { newerVersion, ObjectCache } from '../../src/controller/object-cache.js';
import { statusDiffers } from '../../src/controller/status.js';

function database(name: string, overrides: { storeRef?: string; metadata?: object; status?: object } = {}): StoreDatabase {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreDatabase',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation: 1, resourceVersion: '10', ...overrides.metadata },
    spec: { storeRef: { name: overrides.storeRef ?? name } },
    ...(overrides.status ? { status: overrides.status } : {}),
  } as StoreDatabase;
}

describe('CacheIndex', () => {
  it('finds objects by value per namespace, and follows updates and deletes', () => {
    const index = new CacheIndex<StoreDatabase>((d) => [d.spec.storeRef.name]);
    index.observe(database('a', { storeRef: 'shop' }), 'add');
    index.observe(database('b', { storeRef: 'shop' }), 'add');
    expect(index.names('ns', 'shop').sort()).toEqual(['a', 'b']);
    expect(index.names('other', 'shop')).toEqual([]);

    index.observe(database('a', { storeRef: 'elsewhere' }), 'update');
    expect(index.names('ns', 'shop')).toEqual(['b']);
    expect(index.names('ns', 'elsewhere')).toEqual(['a']);

    index.observe(database('b', { storeRef: 'shop' }), 'delete');
    expect(index.names('ns', 'shop')).toEqual([]);
    expect(index.names('ns', undefined)).toEqual([]);
  });

  it('keeps one name or many under a value, and several values per object, through adds and removals', () => {
    const index = new CacheIndex<StoreDatabase>((d) => [d.spec.storeRef.name, `${d.spec.storeRef.name}-2`]);
    for (const name of ['a', 'b', 'c']) index.observe(database(name, { storeRef: 'shop' }), 'add');
    expect(index.names('ns', 'shop').sort()).toEqual(['a', 'b', 'c']);
    expect(index.names('ns', 'shop-2').sort()).toEqual(['a', 'b', 'c']);
    index.observe(database('a', { storeRef: 'shop' }), 'delete');
    index.observe(database('b', { storeRef: 'shop' }), 'delete');
    expect(index.names('ns', 'shop')).toEqual(['c']);
    index.observe(database('a', { storeRef: 'shop' }), 'add');
    expect(index.names('ns', 'shop').sort()).toEqual(['a', 'c']);
    // An update to the same values changes nothing; an object seen twice is listed once.
    index.observe(database('a', { storeRef: 'shop' }), 'update');
    expect(index.names('ns', 'shop-2').sort()).toEqual(['a', 'c']);
    index.observe(database('c', { storeRef: 'other' }), 'update');
    expect(index.names('ns', 'shop')).toEqual(['a']);
    expect(index.names('ns', 'other-2')).toEqual(['c']);
  });
});

describe('ObjectCache (read-your-writes)', () => {
  /** The informer's side: what the watch has delivered. */
  function cacheOver(delivered: Map<string, StoreDatabase>): ObjectCache<StoreDatabase> {
    const informer = { get: (name: string, namespace?: string) => delivered.get(`${namespace}/${name}`) };
    return new ObjectCache(informer as unknown as ResilientInformer<StoreDatabase>);
  }

  it('returns its own write until the watch delivers that version, then the cached object', () => {
    const delivered = new Map([['ns/a', database('a')]]);
    const cache = cacheOver(delivered);
    cache.wrote(database('a', { metadata: { resourceVersion: '11' }, status: { phase: 'Ready' } }));
    expect(cache.get('ns', 'a')?.status?.phase).toBe('Ready');
    expect(cache.pendingWrites).toBe(1);
    const event = database('a', { metadata: { resourceVersion: '11' }, status: { phase: 'Ready' } });
    delivered.set('ns/a', event);
    expect(cache.observe(event, 'update')).toBe(true); // its own write: the handler need not reconcile it again
    expect(cache.pendingWrites).toBe(0);
  });

  it('keeps nothing when the watch delivered the version before the write returned', () => {
    const written = database('a', { metadata: { resourceVersion: '11' }, status: { phase: 'Ready' } });
    const delivered = new Map([['ns/a', written]]);
    const cache = cacheOver(delivered);
    expect(cache.observe(written, 'update')).toBe(false);
    cache.wrote(structuredClone(written));
    expect(cache.pendingWrites).toBe(0);
    expect(cache.get('ns', 'a')?.status?.phase).toBe('Ready');
  });

  it('keeps a written object trimmed, and a copy: changing what a read returned changes nothing cached', () => {
    const cache = cacheOver(new Map());
    cache.wrote(database('a', { metadata: { managedFields: [{ manager: 'storeop' }] } }));
    const read = cache.get('ns', 'a') as StoreDatabase;
    expect('managedFields' in read.metadata).toBe(false);
    read.metadata.name = 'changed';
    expect(cache.get('ns', 'a')?.metadata.name).toBe('a');
  });
});

describe('change filters', () => {
  it('a StoreDatabase runs again for spec and metadata changes, not for its status or storeop’s own finalizer and identity annotations', () => {
    const filter = storeDatabaseChanges();
    expect(filter.changed(database('a'), 'add')).toBe(true);
    expect(filter.changed(database('a', { status: { phase: 'Ready' }, metadata: { resourceVersion: '11' } }), 'update')).toBe(false);
    expect(filter.changed(database('a', { metadata: { finalizers: [FINALIZER] } }), 'update')).toBe(false);
    expect(
      filter.changed(database('a', { metadata: { finalizers: [FINALIZER], annotations: { [APPLIED_ANNOTATION]: '{}' } } }), 'update'),
    ).toBe(false);
    expect(filter.changed(database('a', { metadata: { finalizers: [FINALIZER], generation: 2 } }), 'update')).toBe(true);
    expect(
      filter.changed(
        database('a', { metadata: { finalizers: [FINALIZER], generation: 2, annotations: { 'storeop.dev/skip-cleanup': 'true' } } }),
        'update',
      ),
    ).toBe(true);
    expect(filter.changed(database('a'), 'delete')).toBe(true);
  });

  it('a Store follows its StoreDatabase only when what it mirrors changes', () => {
    const filter = mirroredChanges();
    const ready = { type: 'Ready', status: 'False', reason: 'Provisioning', message: 'job 1', lastTransitionTime: 't1' };
    expect(filter.changed(database('a'), 'add')).toBe(true);
    expect(filter.changed(database('a', { status: { phase: 'Provisioning', conditions: [ready] } }), 'update')).toBe(true);
    // Conditions the Store does not mirror, and schema facts, do not wake it.
    const connected = { type: 'Connected', status: 'True', reason: 'Connected', message: 'pg', lastTransitionTime: 't2' };
    expect(
      filter.changed(database('a', { status: { phase: 'Provisioning', conditions: [ready, connected], schemaHash: 'h' } }), 'update'),
    ).toBe(false);
    expect(filter.changed(database('a', { status: { phase: 'Ready', conditions: [{ ...ready, status: 'True' }] } }), 'update')).toBe(true);
  });
});

describe('resourceVersion order', () => {
  it('compares kube-apiserver revisions as numbers, and never calls an opaque version newer', () => {
    expect(newerVersion('100', '99')).toBe(true);
    expect(newerVersion('99', '100')).toBe(false);
    expect(newerVersion('100', '100')).toBe(false);
    expect(newerVersion('abc', '1')).toBe(false);
    expect(newerVersion(undefined, '1')).toBe(false);
  });
});

describe('statusDiffers', () => {
  const current: StoreDatabaseStatus = { phase: 'Ready', connection: { host: 'h', port: 5432, secretName: 's' }, message: 'm' };

  it('is false when the merge patch would leave status as it is (undefined fields and nested objects included)', () => {
    expect(statusDiffers(current, { phase: 'Ready', message: 'm', jobId: undefined })).toBe(false);
    // A merge patch keeps nested fields it does not name.
    expect(statusDiffers(current, { connection: { host: 'h', port: 5432 } } as never)).toBe(false);
  });

  it('is true when anything would change', () => {
    expect(statusDiffers(current, { phase: 'Failed' })).toBe(true);
    expect(statusDiffers(current, { connection: { host: 'other', port: 5432 } } as never)).toBe(true);
    expect(statusDiffers<StoreDatabaseStatus>(undefined, { phase: 'Pending' })).toBe(true);
  });
});

describe('what the informer caches keep', () => {
  it("drops managedFields and kubectl's last-applied copy, and keeps every other annotation and the spec", () => {
    const object = database('a', {
      metadata: {
        managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', [APPLIED_ANNOTATION]: '{"slug":"a"}' },
      },
    });
    const trimmed = trimForCache(object);
    expect('managedFields' in trimmed.metadata).toBe(false);
    expect(trimmed.metadata.annotations).toEqual({ [APPLIED_ANNOTATION]: '{"slug":"a"}' });
    expect(trimmed.spec).toEqual({ storeRef: { name: 'a' } });
    expect(trimmed.metadata.resourceVersion).toBe('10');
  });
});
