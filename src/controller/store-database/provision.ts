// Provisioning a StoreDatabase's store: a job in the master DB on the first run or after a change, the
// same idempotent pipeline without a job row for the periodic drift check.
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { createsStoreRole, type DatabaseTarget } from '../../engines/target.js';
import { isStoreopError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { knownPassword } from '../../master/integrations.js';
import { getJob } from '../../master/jobs.js';
import { recordSchemaFailed } from '../../master/rollouts.js';
import { setDatabaseFacts } from '../../master/stores.js';
import { type ProvisionResult, provision, type TargetSchema } from '../../provisioning/pipeline.js';
import { verifyStore } from '../../provisioning/verify.js';
import type { StoreIntent } from '../../stores/intent.js';
import type { PreparedJob } from '../../stores/provision-store.js';
import { type ApplyOutcome, applyIntent, claimStore, recordIdentity } from '../../stores/service.js';
import type { ControllerContext } from '../context.js';
import { applyAdmittedVersion } from '../rollout/apply-admission.js';
import { applyConditions } from '../status.js';
import { fail, progressMirror, reportProvisioningLater } from './status.js';
import { checkKey, verifiedId, verifiedStores } from './verified.js';

export interface ProvisionRequest {
  intent: StoreIntent;
  target: DatabaseTarget;
  /** spec.engine, for the duration metric and the Provisioning event. */
  engine: StoreDatabaseSpec['engine'];
  /** Whether the object is Ready at its current generation: then this run is a periodic drift check. */
  upToDate: boolean;
  /** The store password kept in the connection Secret, if any. */
  password: string | undefined;
  /** The job Supabase preparation opened. */
  preparedJob: PreparedJob | undefined;
  generation: number | undefined;
  /** The schema version to make. */
  schema: TargetSchema;
  /** Set when that version is a rollout's admission: a failure is recorded for the rollout, not retried. */
  admission?: { schemaName: string } | undefined;
  /**
   * Ready at this generation, and only the schema version differs (a rollout's admission): the rollout's
   * own path (rollout/apply-admission.ts) runs instead of a job when it can.
   */
  versionOnly?: boolean;
}

export type ProvisionOutcome =
  | { kind: 'ready'; result: ProvisionResult; jobId: string | undefined; storeId: string | undefined }
  /** The admitted version failed and was recorded: the store keeps the version it had (the next run makes it). */
  | { kind: 'rolledBack' }
  /** The store service found the store suspended meanwhile. */
  | { kind: 'suspended' };

/** Runs the pipeline, timing it; a failure is reported (status, event, retry scheduling) and thrown. */
export async function provisionStoreDatabase(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  log: Logger,
  request: ProvisionRequest,
): Promise<ProvisionOutcome> {
  const { intent, engine } = request;
  const started = performance.now();
  let result: ProvisionResult;
  let jobId = sdb.status?.jobId;
  let storeId = sdb.status?.storeId;
  try {
    const versionOnly = request.versionOnly && storeId ? await applyAdmittedVersion(ctx, sdb, request, storeId) : undefined;
    if (versionOnly) {
      result = versionOnly;
    } else if (request.upToDate && storeId) {
      result = await checkDrift(ctx, sdb, request, storeId);
    } else {
      // A job this StoreDatabase started that is still open was abandoned by a killed operator: resume it.
      // One job per failure streak: a retry continues the job in status.jobId (until it succeeds), and a
      // job a killed operator left open is adopted, never left queued beside a new one.
      const job = request.preparedJob ?? (await claimStore(ctx.master, intent, { resumeJobId: sdb.status?.jobId, adopt: 'any' }));
      jobId = job.jobId;
      storeId = job.store.id;
      const applied = await runJob(ctx, sdb, job, request);
      if (applied.kind !== 'ready') return { kind: 'suspended' };
      result = applied.result;
      // The job's run is a full check too: the next periodic check can compare with it.
      verifiedStores(ctx).set(verifiedId(sdb), {
        key: checkKey(sdb, intent, request.target),
        result,
      });
    }
  } catch (error) {
    ctx.metrics.provisioningDuration.observe({ engine, result: 'error' }, (performance.now() - started) / 1000);
    log.warn({ code: isStoreopError(error) ? error.code : 'ProvisioningFailed', err: (error as Error).message }, 'provisioning failed');
    if (request.admission && storeId) {
      await rolloutFailed(ctx, sdb, storeId, request.admission.schemaName, request.schema.version, error);
      return { kind: 'rolledBack' };
    }
    return fail(ctx, sdb, error, { jobId, storeId });
  }
  ctx.metrics.provisioningDuration.observe({ engine, result: 'success' }, (performance.now() - started) / 1000);
  return { kind: 'ready', result, jobId, storeId };
}

/**
 * A rollout's version failed on this store: recorded for the rollout (which counts it against the failure
 * budget and names it in status) with an event; the error's message is the pipeline's, secrets redacted.
 */
async function rolloutFailed(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  storeId: string,
  schemaName: string,
  version: string,
  error: unknown,
): Promise<void> {
  const reason = isStoreopError(error) ? error.code : 'ProvisioningFailed';
  const message = (error as Error)?.message ?? String(error);
  await recordSchemaFailed(ctx.master.master.db, storeId, schemaName, version, { reason, message });
  await ctx.events.record(
    sdb,
    'Warning',
    'SchemaRolloutFailed',
    `version ${version} of StoreSchema ${schemaName} failed (${reason}): ${message}; the store keeps its previous version`,
  );
}

/**
 * Periodic drift check. After a full check in this process, one session as the store's role compares the
 * store database's fingerprint with the one that check recorded: equal, nothing is run or written. Otherwise
 * (or on the first check after start) the same idempotent pipeline, without a job row unless something changes.
 */
async function checkDrift(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  { intent, target, password, schema }: ProvisionRequest,
  storeId: string,
): Promise<ProvisionResult> {
  const started = performance.now();
  const memory = verifiedStores(ctx);
  const uid = verifiedId(sdb);
  const key = checkKey(sdb, intent, target);
  const known = memory.get(uid);
  // A password in the connection Secret other than the one the store was checked with needs the full run.
  if (known?.key === key && (password === undefined || password === known.result.connection.password)) {
    const { result } = known;
    const outcome = await verifyStore({
      connection: result.connection,
      fingerprint: result.fingerprint,
      schema,
      seeded: intent.seed !== false,
    });
    if (outcome.kind === 'unchanged') {
      const durationMs = Math.round(performance.now() - started);
      return {
        ...result,
        serverVersion: outcome.serverVersion,
        applied: [],
        migrationsApplied: [],
        seedRowsInserted: 0,
        changed: false,
        durationMs,
      };
    }
    ctx.log.info(
      { namespace: sdb.metadata.namespace, name: sdb.metadata.name, reason: outcome.reason },
      'drift check: running the full pipeline',
    );
  }
  memory.delete(uid);
  // Without a connection Secret the store's password is the one the master DB keeps (as for a job): a check
  // must not rotate it away from what the master DB registered.
  const stored =
    password ?? (createsStoreRole(target) ? await knownPassword(ctx.master.master.db, ctx.master.keyring, storeId) : undefined);
  const result = await provision({
    slug: intent.slug,
    target,
    ...(stored ? { password: stored } : {}),
    seed: intent.seed,
    schema,
    register: async (r) => {
      if (r.changed) await setDatabaseFacts(ctx.master.master.db, storeId, { status: 'active' });
    },
  });
  // A store that became Ready before identities were recorded in the master DB gets its record now.
  await recordIdentity(ctx.master.master.db, { id: storeId }, intent.identity, intent.deletionPolicy);
  if (result.changed)
    await ctx.events.record(
      sdb,
      'Normal',
      'DriftRepaired',
      `repaired ${result.applied.length} schema change(s) found by the periodic check`,
    );
  memory.set(uid, { key, result });
  return result;
}

/**
 * One attempt of the job: an event, the store service's run with its progress mirrored, and Provisioning in
 * status once the run has taken a while (status.ts, reportProvisioningLater): a run of a few hundred
 * milliseconds goes from its previous phase straight to Ready, one status write and one Store wake fewer.
 */
async function runJob(ctx: ControllerContext, sdb: StoreDatabase, job: PreparedJob, request: ProvisionRequest): Promise<ApplyOutcome> {
  const { intent, password } = request;
  const { jobId } = job;
  const attempt = (job.attempts ?? (await getJob(ctx.master.master.db, jobId))?.attempts ?? 0) + 1;
  // No job id or attempt in the message: the retries of a streak aggregate into one event with a count.
  // Written while the job runs (record() never throws) rather than before it: one API round trip fewer in
  // each job's path; it is in before this run reports anything else.
  const announced = ctx.events.record(sdb, 'Normal', 'Provisioning', `provisioning ${request.engine} database for store ${intent.slug}`);
  const provisioning = reportProvisioningLater(ctx, sdb, {
    phase: 'Provisioning',
    storeId: job.store.id,
    jobId,
    conditions: applyConditions(
      sdb.status?.conditions,
      [{ type: 'Ready', status: 'False', reason: 'Provisioning', message: `provisioning job ${jobId}, attempt ${attempt}` }],
      request.generation,
    ),
  });
  try {
    return await applyIntent(ctx.master, intent, {
      job,
      schema: request.schema,
      ...(password ? { password } : {}),
      onProgress: progressMirror(ctx, sdb),
    });
  } finally {
    // Whatever the run's outcome, its status report comes after the Provisioning write (if that started).
    await provisioning.settle();
    await announced;
  }
}
