// An imported store's intent, built by the same code as `storeop apply` builds one from a manifest: the
// Store document as the manifest says it and its Secret as the only Secret there is. Imported stores
// are declared as `storeop apply` declares them, so the manifests written by --write-manifests can later
// be applied or deleted with `storeop apply`/`storeop delete` without a conflict of sources.
import { ownValue } from '../api/common.js';
import { buildIntent, type StoreIntent } from '../stores/intent.js';
import type { ImportedStore } from './records.js';

/** The source imported stores are declared by: the one `storeop apply` uses. */
export const IMPORT_SOURCE = 'apply';

export async function importIntent(record: ImportedStore, home: string): Promise<StoreIntent> {
  const intent = await buildIntent({
    name: record.slug,
    spec: record.store.spec,
    database: record.store.spec.database,
    source: IMPORT_SOURCE,
    readSecret: async (name, key) => (name === record.secret.metadata.name ? ownValue(record.secret.stringData, key) : undefined),
    home,
  });
  // A legacy store's rows are its own: default rows go only into tables that are still empty.
  return { ...intent, seed: intent.seed && { ...intent.seed, onlyEmptyTables: true } };
}
