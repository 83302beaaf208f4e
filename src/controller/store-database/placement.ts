// Where a StoreDatabase placed on DatabaseServers lives: the server recorded in status (or, when status was
// lost, in the master DB), else one chosen now by the pure placement functions and recorded before anything
// is created there. No server with room: Pending with NoServerAvailable until a DatabaseServer change wakes it.
// A placed store whose server is unreachable is Degraded, and recovers when the server's check succeeds.
import type { DatabaseServer } from '../../api/database-server.js';
import { databaseServerSpec } from '../../api/database-server.js';
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { findStore, recordServer, upsertStore } from '../../master/stores.js';
import type { StoreDescription } from '../../stores/intent.js';
import { chooseServer, placementRequest } from '../../stores/server-placement.js';
import type { PlacedServer } from '../../stores/server-target.js';
import { type ControllerContext, jitter, type ReconcileResult } from '../context.js';
import { isReachable } from '../database-server/directory.js';
import { applyConditions } from '../status.js';
import { patchStatus } from './status.js';

export type PlacementOutcome = { server: PlacedServer & { object: DatabaseServer } } | { requeue: ReconcileResult };

export async function placeStoreDatabase(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  description: StoreDescription,
): Promise<PlacementOutcome> {
  const key = `${sdb.metadata.namespace}/${sdb.metadata.name}`;
  const db = ctx.master.master.db;
  let name = sdb.status?.server ?? (await findStore(db, description.slug))?.database_server ?? undefined;
  if (!name) {
    const decision = chooseServer(placementRequest(spec, description.region), ctx.servers.candidates());
    if (decision.kind === 'unavailable') {
      ctx.servers.wait(key);
      return { requeue: await reportWaiting(ctx, sdb, 'NoServerAvailable', decision.missing) };
    }
    // Counted before the first await: the next decision in this process sees it.
    ctx.servers.place(key, decision.server);
    const row = await upsertStore(db, description.declaration);
    name = await recordServer(db, row.id, decision.server);
  }
  ctx.servers.place(key, name);
  if (sdb.status?.server !== name) {
    await patchStatus(ctx, sdb, { server: name });
    await ctx.events.record(sdb, 'Normal', 'Placed', `placed on DatabaseServer ${name}`);
  }
  const object = ctx.servers.get(name);
  const parsed = object && !object.metadata.deletionTimestamp ? databaseServerSpec.safeParse(object.spec) : undefined;
  if (!object || !parsed?.success) {
    // Its (re)creation wakes this StoreDatabase: it waits like a store without a server.
    ctx.servers.wait(key);
    const why = object ? 'is being deleted or has an invalid spec' : 'does not exist';
    return { requeue: await reportWaiting(ctx, sdb, 'ServerNotFound', `DatabaseServer ${name}, where the store is placed, ${why}`) };
  }
  if (!isReachable(object) && object.status?.conditions) return { requeue: await reportDegraded(ctx, sdb, object) };
  return { server: { name, spec: parsed.data, object } };
}

/** Pending, with the reason in the Ready condition and a Warning event (the same one aggregates, not repeats). */
async function reportWaiting(ctx: ControllerContext, sdb: StoreDatabase, reason: string, message: string): Promise<ReconcileResult> {
  const generation = sdb.metadata.generation;
  await patchStatus(ctx, sdb, {
    phase: 'Pending',
    observedGeneration: generation,
    message,
    conditions: applyConditions(sdb.status?.conditions, [{ type: 'Ready', status: 'False', reason, message }], generation),
  });
  await ctx.events.record(sdb, 'Warning', reason, message);
  // A DatabaseServer change wakes it; this is only a long safety net.
  return { requeueAfterMs: jitter(ctx.resyncPeriodMs) };
}

/** Degraded, not Failed: nothing is wrong with the store, and the server's next good check wakes it. */
async function reportDegraded(ctx: ControllerContext, sdb: StoreDatabase, server: DatabaseServer): Promise<ReconcileResult> {
  const generation = sdb.metadata.generation;
  const reachable = server.status?.conditions?.find((c) => c.type === 'Reachable');
  const message = `DatabaseServer ${server.metadata.name} is unreachable: ${reachable?.message ?? 'its last check failed'}`;
  const was = sdb.status?.phase;
  await patchStatus(ctx, sdb, {
    phase: 'Degraded',
    message,
    conditions: applyConditions(
      sdb.status?.conditions,
      [
        { type: 'Degraded', status: 'True', reason: 'ServerUnreachable', message },
        { type: 'Ready', status: 'False', reason: 'ServerUnreachable', message },
      ],
      generation,
    ),
  });
  if (was !== 'Degraded') await ctx.events.record(sdb, 'Warning', 'ServerUnreachable', message);
  return { requeueAfterMs: jitter(ctx.resyncPeriodMs) };
}
