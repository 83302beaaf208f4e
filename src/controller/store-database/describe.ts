// The store a StoreDatabase provisions, as the StoreDatabase and its Store describe it together: what its
// reconcile acts on, and what the Store records as the first attempt's identity when it creates one.
import type { Store } from '../../api/store.js';
import type { StoreDatabaseSpec } from '../../api/store-database.js';
import { StoreopError } from '../../errors.js';
import { describeStore, type StoreDescription } from '../../stores/intent.js';

/** The store as the StoreDatabase and its Store describe it together; an invalid Store spec is InvalidSpec. */
export function describeStoreDatabase(namespace: string, spec: StoreDatabaseSpec, store: Store): StoreDescription {
  try {
    const { storeRef: _storeRef, ...template } = spec;
    return describeStore({
      name: store.metadata.name,
      spec: store.spec,
      database: template,
      databasePath: 'spec',
      source: `kubernetes:${namespace}/${store.metadata.name}`,
    });
  } catch (error) {
    const message = (error as Error).message;
    throw new StoreopError('InvalidSpec', `Store ${store.metadata.name} has an invalid spec: ${message}`, { retryable: false });
  }
}
