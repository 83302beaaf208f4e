// storeop's built-in schema as the StoreSchema storeop-default: published at start-up when absent, and
// updated when this storeop's built-in version differs, only when the object is storeop's own (its label
// and built-in annotation). A user's storeop-default is never overwritten; the rollout settings a person set
// on storeop's own object are kept.

import { GROUP_VERSION } from '../../api/common.js';
import { BUILT_IN_ANNOTATION } from '../../api/rollout-annotations.js';
import { DEFAULT_STORE_SCHEMA_NAME, type StoreSchema } from '../../api/store-schema.js';
import { isAlreadyExists, type KubeClient, MANAGED_BY_LABELS } from '../../kube/client.js';
import type { Logger } from '../../log.js';
import { defaultStoreSchemaSpec } from '../../schema/default-spec.js';
import { withRemovals } from '../store-reconciler.js';

export type PublishOutcome = 'created' | 'updated' | 'unchanged' | 'foreign';

export function isStoreopsOwn(schema: StoreSchema): boolean {
  const [label, value] = Object.entries(MANAGED_BY_LABELS)[0] as [string, string];
  return schema.metadata.labels?.[label] === value && schema.metadata.annotations?.[BUILT_IN_ANNOTATION] === 'true';
}

export async function publishDefaultSchema(kube: KubeClient, log: Logger): Promise<PublishOutcome> {
  const spec = defaultStoreSchemaSpec();
  const existing = await kube.getStoreSchema(DEFAULT_STORE_SCHEMA_NAME);
  if (!existing) {
    try {
      await kube.createStoreSchema({
        apiVersion: GROUP_VERSION,
        kind: 'StoreSchema',
        metadata: { name: DEFAULT_STORE_SCHEMA_NAME, labels: { ...MANAGED_BY_LABELS }, annotations: { [BUILT_IN_ANNOTATION]: 'true' } },
        spec,
      });
    } catch (error) {
      if (isAlreadyExists(error)) return 'unchanged'; // another replica published it first
      throw error;
    }
    log.info({ version: spec.version }, `published StoreSchema ${DEFAULT_STORE_SCHEMA_NAME}`);
    return 'created';
  }
  if (!isStoreopsOwn(existing)) {
    log.warn(`StoreSchema ${DEFAULT_STORE_SCHEMA_NAME} is not storeop's own (no built-in annotation); left as it is`);
    return 'foreign';
  }
  if (existing.spec?.version === spec.version) return 'unchanged';
  const desired = { ...spec, rollout: existing.spec?.rollout ?? spec.rollout };
  // Guarded by resourceVersion; a merge patch with explicit nulls, so a table the new version drops is gone.
  await kube.patchStoreSchema(DEFAULT_STORE_SCHEMA_NAME, {
    metadata: { resourceVersion: existing.metadata.resourceVersion },
    spec: withRemovals(existing.spec, desired),
  });
  log.info({ from: existing.spec?.version, to: spec.version }, `updated StoreSchema ${DEFAULT_STORE_SCHEMA_NAME}`);
  return 'updated';
}
