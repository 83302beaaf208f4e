// The schema version a StoreDatabase makes (see stores/rollout/target-schema.ts for how a store receives
// a version), and the record of a run that made it.
import type { Store } from '../../api/store.js';
import type { StoreDatabase } from '../../api/store-database.js';
import { recordSchemaApplied } from '../../master/rollouts.js';
import { type SchemaChoice, storeTargetSchema } from '../../stores/rollout/target-schema.js';
import type { ControllerContext, ReconcileResult } from '../context.js';
import { failStatus, NOT_FOUND_RETRY_MS } from './status.js';

/** The version to make; a schema not known yet (its StoreSchema not rolled out) is waited for. */
export async function chooseSchema(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  store: Store,
): Promise<SchemaChoice | { requeue: ReconcileResult }> {
  const choice = await storeTargetSchema(ctx.master.master.db, {
    storeId: store.status?.storeId ?? sdb.status?.storeId,
    schemaName: store.spec?.schemaRef?.name,
    labels: store.metadata.labels,
  });
  if ('missing' in choice) {
    // The rollout controller wakes this StoreDatabase when it records the schema's first version.
    await failStatus(ctx, sdb, 'SchemaNotFound', choice.missing);
    return { requeue: { requeueAfterMs: NOT_FOUND_RETRY_MS } };
  }
  return choice;
}

/** The store database has the version: the master DB says so (once), and its admission is done. */
export async function recordSchemaMade(ctx: ControllerContext, storeId: string, choice: SchemaChoice): Promise<void> {
  await recordSchemaApplied(ctx.master.master.db, storeId, choice.schemaName, choice.schema.version);
}
