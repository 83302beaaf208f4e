// StoreDatabase status: patches (only of what changed), failures (status, event, retry scheduling), the
// progress mirror and the Ready report.
import type { Store } from '../../api/store.js';
import type { StoreDatabase, StoreDatabaseStatus } from '../../api/store-database.js';
import { isStoreopError } from '../../errors.js';
import { describeApiError } from '../../kube/client.js';
import { getJob, scheduleNextAttempt } from '../../master/jobs.js';
import type { ProvisionResult } from '../../provisioning/pipeline.js';
import type { Progress } from '../../provisioning/progress.js';
import { getCondition } from '../conditions.js';
import { type ControllerContext, jitter, type ReconcileResult, TerminalError } from '../context.js';
import { withKstatus } from '../kstatus.js';
import { applyConditions, failedConditionType, statusDiffers } from '../status.js';
import { backoffDelayMs } from '../workqueue.js';
import { adoptWritten } from './written.js';

/** How soon something missing (a Store, a Secret) or foreign (a connection Secret) is looked at again. */
export const NOT_FOUND_RETRY_MS = 30_000;

/**
 * The first progress write comes this long into a job (a fast job writes none); the next one a minute after
 * it, each later one after twice the previous wait. A job of up to about a minute (a slow machine's) writes
 * Provisioning, one progress and Ready; a long one (a Supabase project) still reports now and then.
 */
const FIRST_PROGRESS_MS = 5_000;
const SECOND_PROGRESS_MS = 60_000;

/**
 * Patches status when it changes anything (a resync that changes nothing writes nothing), and keeps the
 * in-memory object in step, so later steps build on what was written. A patch of the phase or conditions
 * carries the kstatus conditions (Reconciling, Stalled) that follow from them.
 */
export async function patchStatus(ctx: ControllerContext, sdb: StoreDatabase, status: Partial<StoreDatabaseStatus>): Promise<void> {
  const next = withKstatus(sdb.status, status, sdb.metadata.generation);
  if (!statusDiffers(sdb.status, next)) return;
  adoptWritten(ctx, sdb, await ctx.kube.patchStatus<StoreDatabase>('StoreDatabase', sdb.metadata, next));
}

export async function failStatus(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  reason: string,
  message: string,
  extra: Partial<StoreDatabaseStatus> = {},
): Promise<void> {
  const type = failedConditionType(reason as never);
  const updates = [{ type: 'Ready', status: 'False' as const, reason, message }];
  if (type) updates.unshift({ type, status: 'False', reason, message });
  await patchStatus(ctx, sdb, {
    phase: 'Failed',
    observedGeneration: sdb.metadata.generation,
    message,
    ...extra,
    conditions: applyConditions(sdb.status?.conditions, updates, sdb.metadata.generation),
  });
}

/** Reports a failure in status and an event; retryable ones are thrown again for backoff. Never returns. */
export async function fail(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  error: unknown,
  ids: { jobId?: string | undefined; storeId?: string | undefined } = {},
): Promise<never> {
  const storeopError = isStoreopError(error) ? error : undefined;
  const reason = storeopError?.code ?? 'ProvisioningFailed';
  const message = storeopError?.message ?? describeApiError(error);
  await failStatus(ctx, sdb, reason, message, {
    ...(ids.jobId ? { jobId: ids.jobId } : {}),
    ...(ids.storeId ? { storeId: ids.storeId } : {}),
  });
  await ctx.events.record(sdb, 'Warning', reason, message);
  if (storeopError && !storeopError.retryable) throw new TerminalError(message);
  if (ids.jobId) await scheduleRetry(ctx, ids.jobId);
  throw error instanceof Error ? error : new Error(message);
}

/** The job row says when the workqueue's backoff will run the next attempt (one more failure per attempt). */
async function scheduleRetry(ctx: ControllerContext, jobId: string): Promise<void> {
  const db = ctx.master.master.db;
  const attempts = (await getJob(db, jobId).catch(() => undefined))?.attempts ?? 1;
  await scheduleNextAttempt(db, jobId, backoffDelayMs(attempts)).catch(() => {});
}

/** The Store a StoreDatabase names is missing (wait for it) or being deleted (nothing to do). */
export async function reportStoreMissing(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  storeName: string,
  store: Store | undefined,
  generation: number | undefined,
): Promise<ReconcileResult> {
  await patchStatus(ctx, sdb, {
    phase: store ? 'Deleting' : 'Pending',
    conditions: applyConditions(
      sdb.status?.conditions,
      [
        {
          type: 'Ready',
          status: 'False',
          reason: 'StoreNotFound',
          message: `Store ${storeName} ${store ? 'is being deleted' : 'does not exist'}`,
        },
      ],
      generation,
    ),
  });
  // The Store's creation wakes this StoreDatabase (the Store watch, through the storeRef index): only a long
  // safety requeue, so thousands of waiting objects cost nothing between resyncs.
  return store ? {} : { requeueAfterMs: jitter(ctx.resyncPeriodMs) };
}

/**
 * Writes a job's Provisioning status once it has run this long: a job faster than that is reported Ready (or
 * Failed) directly. The same few seconds the issue allows between progress writes.
 */
const PROVISIONING_STATUS_DELAY_MS = 2_000;

/**
 * Schedules the Provisioning status of a job that has just started. settle() cancels it when it has not
 * been written yet, or waits for the write in flight, so that the job's next report always lands after it.
 * Like progress, a failed write is not the job's failure (the next report carries the state).
 */
export function reportProvisioningLater(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  status: Partial<StoreDatabaseStatus>,
): { settle(): Promise<void> } {
  let written: Promise<void> | undefined;
  const timer = setTimeout(() => {
    written = patchStatus(ctx, sdb, status).catch(() => {});
  }, PROVISIONING_STATUS_DELAY_MS);
  return {
    async settle() {
      clearTimeout(timer);
      await written;
    },
  };
}

/**
 * Mirrors job progress to status every few seconds at most (none for a job shorter than that, backing off
 * for a long one), only when it changed, never blocking the pipeline on it; the final progress is part of
 * the Ready report.
 */
export function progressMirror(ctx: ControllerContext, sdb: StoreDatabase): (p: Progress) => void {
  let next = Date.now() + FIRST_PROGRESS_MS;
  let wait = SECOND_PROGRESS_MS / 2; // doubled at each write: the first schedules the second a minute on
  let inFlight: Promise<void> | undefined;
  return (p) => {
    const now = Date.now();
    if (inFlight || p.percent >= 100 || now < next) return;
    wait *= 2;
    next = now + wait;
    inFlight = patchStatus(ctx, sdb, {
      progress: { step: p.step, percent: p.percent, tablesCreated: p.tablesCreated, totalTables: p.totalTables },
      message: p.message,
    })
      .catch(() => {})
      .finally(() => {
        inFlight = undefined;
      });
  };
}

export interface ReadyReport {
  generation: number | undefined;
  storeId: string | undefined;
  jobId: string | undefined;
  result: ProvisionResult;
  secretName: string | undefined;
  seed: boolean;
  /** Whether the object was not Ready yet: only then the Ready event is recorded (not on each periodic check). */
  announce: boolean;
}

/**
 * Status of a provisioned store: connection, schema, all conditions True; and the Ready event. Written only
 * when it differs from what status says: lastSyncTime is the time the synced status last changed, so a
 * periodic check that finds nothing to do leaves the object (and its resourceVersion) as it is.
 */
export async function reportReady(ctx: ControllerContext, sdb: StoreDatabase, report: ReadyReport): Promise<void> {
  const { generation, storeId, jobId, result, secretName, seed } = report;
  const message = `${result.tablesCreated}/${result.totalTables} tables, schema ${result.schemaVersion}`;
  const status: Partial<StoreDatabaseStatus> = {
    phase: 'Ready',
    observedGeneration: generation,
    storeId,
    jobId,
    progress: { step: 'register', percent: 100, tablesCreated: result.tablesCreated, totalTables: result.totalTables },
    schemaVersion: result.schemaVersion,
    schemaHash: result.schemaHash,
    tables: result.tablesCreated,
    connection: {
      host: result.connection.host,
      port: result.connection.port,
      database: result.connection.database,
      ...(result.connection.schema ? { schema: result.connection.schema } : {}),
      user: result.connection.user,
      ...(secretName ? { secretName } : {}),
    },
    message,
    conditions: applyConditions(
      sdb.status?.conditions,
      [
        { type: 'Connected', status: 'True', reason: 'Connected', message: `connected to ${result.serverVersion}` },
        { type: 'SchemaReady', status: 'True', reason: 'SchemaApplied', message },
        {
          type: 'Seeded',
          status: seed ? 'True' : 'False',
          reason: seed ? 'Seeded' : 'SeedDisabled',
          message: seed ? 'default rows present' : 'seeding is disabled',
        },
        { type: 'Registered', status: 'True', reason: 'Registered', message: `registered in the master database as store ${storeId}` },
        ...(secretName
          ? [
              {
                type: 'ConnectionSecretReady',
                status: 'True' as const,
                reason: 'SecretWritten',
                message: `connection Secret ${secretName}`,
              },
            ]
          : []),
        // A store that was Degraded (its server unreachable) says it recovered; others never get the condition.
        ...(getCondition(sdb.status?.conditions, 'Degraded')
          ? [{ type: 'Degraded', status: 'False' as const, reason: 'ServerReachable', message: 'the DatabaseServer is reachable' }]
          : []),
        { type: 'Ready', status: 'True', reason: 'Provisioned', message },
      ],
      generation,
    ),
  };
  if (statusDiffers(sdb.status, withKstatus(sdb.status, status, generation)))
    await patchStatus(ctx, sdb, { ...status, lastSyncTime: new Date().toISOString() });
  if (report.announce) await ctx.events.record(sdb, 'Normal', 'Ready', `store database ready: ${message}`);
}
