// The Secret cache of a cluster-wide operator on its own (no cluster needed): which namespaces get an
// informer of their unlabelled Secrets, when it stops, and where a read is answered from. The e2e side
// (no Secret GET at all, against kube-apiserver) is in test/e2e/api-traffic.test.ts.
import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { StoreDatabase } from '../../src/api/store-database.js';
import { createdByItsStore } from '../../src/controller/change-filter.js';
import type { ResilientInformer } from '../../src/controller/informer.js';
import { ObjectCache } from '../../src/controller/object-cache.js';
import { SecretCache } from '../../src/controller/secret-cache.js';
import { createLogger } from '../../src/log.js';

const secret = (namespace: string, name: string): V1Secret => ({ metadata: { namespace, name, resourceVersion: '1' }, data: {} });

/** An informer over fixed objects, that records its life: what SecretCache needs of ResilientInformer. */
class FakeInformer {
  started = 0;
  stopped = 0;
  synced = false;
  release: () => void = () => {};
  constructor(
    readonly namespace: string,
    readonly objects: V1Secret[],
    readonly listFails = false,
  ) {}
  start(): Promise<void> {
    this.started++;
    // The first list completes when the test releases it (a reconcile may read before that).
    return new Promise((resolve) => {
      this.release = () => {
        this.synced = !this.listFails;
        resolve();
      };
    });
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  get(name: string, namespace?: string): V1Secret | undefined {
    return this.objects.find((o) => o.metadata?.name === name && o.metadata?.namespace === namespace);
  }
}

function setUp(options: { holdsAll?: boolean; labelled?: V1Secret[]; failingList?: string[] } = {}) {
  const informers: FakeInformer[] = [];
  const gets: string[] = [];
  const labelled = new FakeInformer('', options.labelled ?? []);
  const cache = new SecretCache({
    labelled: new ObjectCache(labelled as unknown as ResilientInformer<V1Secret>),
    holdsAll: options.holdsAll ?? false,
    namespaceInformer: (namespace) => {
      const informer = new FakeInformer(
        namespace,
        [secret(namespace, 'admin'), secret('elsewhere', 'admin')],
        options.failingList?.includes(namespace),
      );
      informers.push(informer);
      return informer as unknown as ResilientInformer<V1Secret>;
    },
    get: async (namespace, name) => {
      gets.push(`${namespace}/${name}`);
      return undefined;
    },
    log: createLogger({ level: 'silent' }),
  });
  return { cache, informers, gets };
}

describe('SecretCache', () => {
  it('starts one informer per namespace with StoreDatabases that name Secrets, and stops it with the last of them', async () => {
    const { cache, informers } = setUp();
    cache.track('a', 'db1', true, 'add');
    cache.track('a', 'db2', true, 'add');
    cache.track('a', 'db3', false, 'add'); // names no Secret (an embedded store): no reason to cache any
    cache.track('b', 'db4', false, 'add');
    expect(informers.map((i) => i.namespace)).toEqual(['a']);
    expect(cache.namespaces).toEqual(['a']);

    cache.track('a', 'db1', true, 'update');
    cache.track('a', 'db1', true, 'delete');
    expect(informers[0]?.stopped).toBe(0);
    cache.track('a', 'db2', false, 'update'); // its Secret reference removed: the last user is gone
    expect(informers[0]?.stopped).toBe(1);
    expect(cache.namespaces).toEqual([]);

    cache.track('a', 'db5', true, 'add'); // a new one starts afresh
    expect(informers.map((i) => i.namespace)).toEqual(['a', 'a']);
    await cache.stop();
    expect(informers[1]?.stopped).toBe(1);
    cache.track('c', 'db6', true, 'add'); // stopped: no new informers
    expect(informers).toHaveLength(2);
  });

  it('answers from storeop’s labelled Secrets first, then from the namespace’s informer once it has listed, never with a GET', async () => {
    const { cache, informers, gets } = setUp({ labelled: [secret('a', 'conn')] });
    cache.track('a', 'db1', true, 'add');
    expect((await cache.find('a', 'conn'))?.metadata?.name).toBe('conn');
    const reading = cache.find('a', 'admin');
    informers[0]?.release();
    expect((await reading)?.metadata?.name).toBe('admin');
    expect(await cache.find('a', 'missing')).toBeUndefined();
    expect(gets).toEqual([]);
  });

  it('falls back to one GET while a namespace’s informer cannot list, or for a namespace it does not follow', async () => {
    const { cache, informers, gets } = setUp({ failingList: ['a'] });
    cache.track('a', 'db1', true, 'add');
    const reading = cache.find('a', 'admin');
    informers[0]?.release();
    await reading;
    await cache.find('z', 'admin');
    expect(gets).toEqual(['a/admin', 'z/admin']);
  });

  it('with --namespace the labelled cache holds every Secret of the namespace: no other informer, a miss is absent', async () => {
    const { cache, informers, gets } = setUp({ holdsAll: true, labelled: [secret('a', 'admin')] });
    cache.track('a', 'db1', true, 'add');
    expect(informers).toEqual([]);
    expect((await cache.find('a', 'admin'))?.metadata?.name).toBe('admin');
    expect(await cache.find('a', 'missing')).toBeUndefined();
    expect(gets).toEqual([]);
  });
});

describe('createdByItsStore', () => {
  const owned = (status?: object, metadata: object = {}): StoreDatabase =>
    ({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'StoreDatabase',
      metadata: {
        name: 'shop',
        namespace: 'ns',
        ownerReferences: [{ apiVersion: 'storeop.dev/v1alpha1', kind: 'Store', name: 'shop', uid: 'u', controller: true }],
        ...metadata,
      },
      spec: { storeRef: { name: 'shop' } },
      ...(status ? { status } : {}),
    }) as StoreDatabase;

  it('is an inline StoreDatabase before its first status: its Store need not wake; anything else wakes it', () => {
    expect(createdByItsStore(owned(), 'add')).toBe(true);
    expect(createdByItsStore(owned({ phase: 'Provisioning' }), 'update')).toBe(false);
    expect(createdByItsStore(owned(), 'delete')).toBe(false);
    expect(createdByItsStore(owned(undefined, { deletionTimestamp: new Date() }), 'update')).toBe(false);
    // Referenced (databaseRef), not created by the Store: a Pending Store waits for it.
    expect(createdByItsStore(owned(undefined, { ownerReferences: [] }), 'add')).toBe(false);
  });
});
