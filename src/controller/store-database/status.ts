// StoreDatabase status: patches, failures (status, event, retry scheduling), the progress mirror and the
// Ready report.
import type { Store } from '../../api/store.js';
import type { StoreDatabase, StoreDatabaseStatus } from '../../api/store-database.js';
import { isStoreopError } from '../../errors.js';
import { describeApiError } from '../../kube/client.js';
import { getJob, scheduleNextAttempt } from '../../master/jobs.js';
import type { ProvisionResult } from '../../provisioning/pipeline.js';
import type { Progress } from '../../provisioning/progress.js';
import { type ControllerContext, type ReconcileResult, TerminalError } from '../context.js';
import { applyConditions, failedConditionType } from '../status.js';
import { backoffDelayMs } from '../workqueue.js';

/** How soon something missing (a Store, a Secret) or foreign (a connection Secret) is looked at again. */
export const NOT_FOUND_RETRY_MS = 30_000;

/** Patches status and keeps the in-memory object in step, so later steps build on what was written. */
export async function patchStatus(ctx: ControllerContext, sdb: StoreDatabase, status: Partial<StoreDatabaseStatus>): Promise<void> {
  await ctx.kube.patchStatus('StoreDatabase', sdb.metadata, status);
  sdb.status = { ...sdb.status, ...status };
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
  return store ? {} : { requeueAfterMs: NOT_FOUND_RETRY_MS };
}

/** Mirrors job progress to status, at most once a second, never blocking the pipeline on it. */
export function progressMirror(ctx: ControllerContext, sdb: StoreDatabase): (p: Progress) => void {
  let last = 0;
  let inFlight: Promise<void> | undefined;
  return (p) => {
    const now = Date.now();
    if (inFlight || (now - last < 1000 && p.percent < 100)) return;
    last = now;
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

/** Status of a provisioned store: connection, schema, all conditions True; and the Ready event. */
export async function reportReady(ctx: ControllerContext, sdb: StoreDatabase, report: ReadyReport): Promise<void> {
  const { generation, storeId, jobId, result, secretName, seed } = report;
  const message = `${result.tablesCreated}/${result.totalTables} tables, schema ${result.schemaVersion}`;
  await patchStatus(ctx, sdb, {
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
    lastSyncTime: new Date().toISOString(),
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
        { type: 'Ready', status: 'True', reason: 'Provisioned', message },
      ],
      generation,
    ),
  });
  if (report.announce) await ctx.events.record(sdb, 'Normal', 'Ready', `store database ready: ${message}`);
}
