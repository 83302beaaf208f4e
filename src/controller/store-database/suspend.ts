// Suspension: the store service disables the store's database login; status says Suspended.
import type { StoreDatabase } from '../../api/store-database.js';
import type { StoreIntent } from '../../stores/intent.js';
import { suspendStore } from '../../stores/service.js';
import type { ControllerContext, ReconcileResult } from '../context.js';
import { applyConditions } from '../status.js';
import { fail, patchStatus } from './status.js';

export async function suspend(ctx: ControllerContext, sdb: StoreDatabase, intent: StoreIntent): Promise<ReconcileResult> {
  if (sdb.status?.phase !== 'Suspended') {
    try {
      await suspendStore(ctx.master, intent);
    } catch (error) {
      return fail(ctx, sdb, error);
    }
    await ctx.events.record(sdb, 'Normal', 'Suspended', `store ${intent.slug} suspended: its database login is disabled`);
  }
  await patchStatus(ctx, sdb, {
    phase: 'Suspended',
    observedGeneration: sdb.metadata.generation,
    conditions: applyConditions(
      sdb.status?.conditions,
      [{ type: 'Ready', status: 'False', reason: 'Suspended', message: 'the store is suspended' }],
      sdb.metadata.generation,
    ),
  });
  return {};
}
