// A staged engine's target for the drivers that wait in-process (`storeop apply`, `storeop api`): the
// engine is asked until it answers ready, the job row shows what it waits for and when it asks again,
// a generated database password is kept encrypted in the master DB before the engine uses it, and a
// failure ends the job with its reason. The operator does the same with requeues instead of sleeping.

import { type PollOptions, prepareUntilReady, type StageCarry } from '../engines/staged.js';
import type { DatabaseTarget } from '../engines/target.js';
import { isStoreopError, redactSecrets } from '../errors.js';
import { readActiveDatabaseConfig } from '../master/integrations.js';
import { failJob, markJobWaiting, scheduleNextAttempt } from '../master/jobs.js';
import { type StoreDeclaration, setDatabaseFacts } from '../master/stores.js';
import type { ProvisionResult } from '../provisioning/pipeline.js';
import {
  keepPendingPassword,
  type MasterContext,
  type PreparedJob,
  pendingPassword,
  prepareStoreJob,
  runStoreJob,
  type StoreProvisionRequest,
} from './provision-store.js';
import type { Resolution } from './resolve-staged.js';

export interface StagedTargetOptions extends Pick<PollOptions, 'deadlineMs' | 'signal'> {
  /** How long the engine should wait between two questions (its default otherwise). */
  pollMs?: number | undefined;
  defaults?: { supabaseApiUrl?: string | undefined };
  /** Told what is awaited, for progress lines. */
  onWaiting?: (reason: string) => void;
}

export async function targetFor(
  ctx: MasterContext,
  job: PreparedJob,
  resolution: Resolution,
  options: StagedTargetOptions,
): Promise<DatabaseTarget> {
  if (resolution.kind === 'target') return resolution.target;
  const db = ctx.master.db;
  const storeId = job.store.id;
  const active = await readActiveDatabaseConfig(db, ctx.keyring, storeId).catch(() => undefined);
  // A store that already has its project continues with it; a crash before that is covered by the engine
  // finding its project by name, created with the password kept below.
  const carry: StageCarry = active?.connection.projectRef ? { projectRef: active.connection.projectRef } : {};
  let generated: string | undefined;
  try {
    const ready = await prepareUntilReady(
      (carry) =>
        resolution.prepare({
          carry,
          keepSecret: async (_name, value) => {
            generated = value;
            await keepPendingPassword(db, ctx.keyring, storeId, resolution.engine, value);
          },
          knownSecret: async () => active?.connection.password ?? (await pendingPassword(db, ctx.keyring, storeId)),
          record: async (carry) => {
            await markJobWaiting(db, job.jobId, 'createDatabase', `${resolution.engine} project ${carry.projectRef ?? ''} recorded`);
          },
          defaults: options.defaults,
          pollMs: options.pollMs,
        }),
      {
        deadlineMs: options.deadlineMs,
        carry,
        ...(options.signal ? { signal: options.signal } : {}),
        onWaiting: async (stage) => {
          options.onWaiting?.(stage.reason);
          await markJobWaiting(db, job.jobId, 'createDatabase', stage.reason);
          await scheduleNextAttempt(db, job.jobId, stage.retryAfterMs);
        },
      },
    );
    return ready.target;
  } catch (error) {
    const message = redactSecrets((error as Error).message, [generated, active?.connection.password]);
    await failJob(db, job.jobId, isStoreopError(error) ? error.code : 'ProvisioningFailed', message).catch(() => {});
    if (job.store.database_status !== 'active') await setDatabaseFacts(db, storeId, { status: 'failed' }).catch(() => {});
    throw error;
  }
}

/**
 * provisionStore for a resolved spec: the job first (so a wait for a staged engine shows in it), then the
 * target (at once, or prepared in stages), then the pipeline.
 */
export async function provisionResolved(
  ctx: MasterContext,
  store: StoreDeclaration,
  resolution: Resolution,
  request: Omit<StoreProvisionRequest, 'target'>,
  options: StagedTargetOptions,
): Promise<PreparedJob & { result: ProvisionResult }> {
  const job = await prepareStoreJob(ctx, store);
  const target = await targetFor(ctx, job, resolution, options);
  const result = await runStoreJob(ctx, job, { ...request, target });
  return { ...job, result };
}
