// storeop's built-in schema published as the StoreSchema `storeop-default`: built from the same definition
// and migrations the pipeline uses (store-schema.ts, migrations.ts), so the two cannot drift apart.

import { GROUP_VERSION } from '../api/common.js';
import { BUILT_IN_ANNOTATION } from '../api/rollout-annotations.js';
import { DEFAULT_STORE_SCHEMA_NAME, type StoreSchemaSpec, storeSchemaSpec } from '../api/store-schema.js';
import type { SchemaDef } from './definition.js';
import { type Migration, STORE_MIGRATIONS } from './migrations.js';
import { STORE_SCHEMA_VERSION, storeSchema } from './store-schema.js';

export function specFromDefinition(definition: SchemaDef, version: string, migrations: readonly Migration[]): StoreSchemaSpec {
  return storeSchemaSpec.parse({
    version,
    tables: definition,
    migrations: migrations.map((m) => ({ version: m.version, description: m.description, up: m.up })),
  });
}

/** The spec of `storeop-default`: the built-in tables and migrations at STORE_SCHEMA_VERSION. */
export function defaultStoreSchemaSpec(): StoreSchemaSpec {
  return specFromDefinition(storeSchema, STORE_SCHEMA_VERSION, STORE_MIGRATIONS);
}

/** The StoreSchema object `storeop-default`, as manifests/base/storeop-default-schema.yaml holds it. */
export function defaultStoreSchemaObject() {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'StoreSchema' as const,
    // storeop's own marks (as the operator publishes it): a later storeop may update this object to its
    // built-in version; a storeop-default without them is a user's and is never overwritten.
    metadata: {
      name: DEFAULT_STORE_SCHEMA_NAME,
      labels: { 'app.kubernetes.io/name': 'storeop', 'app.kubernetes.io/managed-by': 'storeop' },
      annotations: { [BUILT_IN_ANNOTATION]: 'true' },
    },
    spec: defaultStoreSchemaSpec(),
  };
}
