// Reconciles a StoreDatabase: the flow, step by step. Each job lives in its own module: finalize (deletion),
// identity (the recorded-identity annotations), target and supabase (where the database lives), provision
// (the job or the drift check), connection-secret, suspend and status.
import { randomUUID } from 'node:crypto';
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { storeDatabaseSpec } from '../../api/store-database.js';
import { createsStoreRole } from '../../engines/target.js';
import { StoreopError } from '../../errors.js';
import { isAlreadyExists, SecretConflictError } from '../../kube/client.js';
import type { Logger } from '../../log.js';
import { intentForTarget, type StoreDescription } from '../../stores/intent.js';
import { getCondition } from '../conditions.js';
import { CACHE_LAG_RETRY_MS, type ControllerContext, jitter, type ReconcileResult } from '../context.js';
import { suspendedForQuota } from '../usage/quota-condition.js';
import { findSecretConflict, passwordFromConnectionSecret, reportSecretConflict, writeConnectionSecret } from './connection-secret.js';
import { rotateCredentials, rotationDue, settleCredentials, untilPeriodicRotation } from './credentials.js';
import { describeStoreDatabase } from './describe.js';
import { ensureFinalizer, finalize } from './finalize.js';
import { appliedIdentity, type RecordedIdentity, recordApplied, recordAttempt, recordedChanges, recordedIdentity } from './identity.js';
import { provisionStoreDatabase } from './provision.js';
import { chooseSchema, recordSchemaMade } from './schema-version.js';
import { fail, reportReady, reportStoreMissing } from './status.js';
import { ensureStorage } from './supabase.js';
import { suspend } from './suspend.js';
import { resolveStoreTarget } from './target.js';

export class StoreDatabaseReconciler {
  constructor(private readonly ctx: ControllerContext) {}

  /** Every read comes from the informer caches (with this process's own writes): a no-op resync reads nothing from the API server. */
  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const sdb = this.ctx.caches.databases.get(namespace, name);
    if (!sdb) return {};
    const log = this.ctx.log.child({ controller: 'storedatabase', namespace, name, reconcileID: randomUUID() });
    try {
      return await this.#reconcile(sdb, log);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      // A create met an object the cache does not show yet: it exists; look again once the cache has it.
      log.debug({ err: (error as Error).message }, 'cache behind the API server; requeueing');
      return { requeueAfterMs: CACHE_LAG_RETRY_MS };
    }
  }

  async #reconcile(sdb: StoreDatabase, log: Logger): Promise<ReconcileResult> {
    const ctx = this.ctx;
    const namespace = sdb.metadata.namespace as string;
    if (sdb.metadata.deletionTimestamp) return finalize(ctx, sdb, log);
    await ensureFinalizer(ctx, sdb);
    const generation = sdb.metadata.generation;

    // What is asked for: the spec, the Store it belongs to, and the store described from both.
    const parsed = storeDatabaseSpec.safeParse(sdb.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(ctx, sdb, new StoreopError('InvalidSpec', `spec.${issue?.path.join('.')}: ${issue?.message}`, { retryable: false }));
    }
    const spec = parsed.data;
    const store = ctx.caches.stores.get(namespace, spec.storeRef.name);
    if (!store || store.metadata.deletionTimestamp) return reportStoreMissing(ctx, sdb, spec.storeRef.name, store, generation);
    let description: StoreDescription;
    try {
      description = describeStoreDatabase(namespace, spec, store);
    } catch (error) {
      return fail(ctx, sdb, error);
    }
    // Over a quota whose plan enforces Suspend: suspended exactly as spec.suspend would (data untouched).
    if (suspendedForQuota(store)) description = { ...description, suspend: true };

    // Immutable fields stay as provisioned; an attempt is recorded before it may create anything.
    const slug = description.slug;
    const identity: RecordedIdentity = recordedIdentity(description);
    const recorded = appliedIdentity(sdb);
    const changed = recorded ? recordedChanges(JSON.parse(recorded) as Partial<RecordedIdentity>, identity) : [];
    if (changed.length) {
      return fail(
        ctx,
        sdb,
        new StoreopError('InvalidSpec', `immutable field(s) changed: ${changed.join(', ')}; no database was touched`, { retryable: false }),
      );
    }
    if (!recorded) await recordAttempt(ctx, sdb, identity);

    // The schema version to make: the one a rollout admitted the store to, else the one it has.
    const choice = await chooseSchema(ctx, sdb, store);
    if ('requeue' in choice) return choice.requeue;

    // Ready at this generation and version: this run is the periodic drift check.
    const ready = getCondition(sdb.status?.conditions, 'Ready');
    const readyAtGeneration = ready?.status === 'True' && sdb.status?.observedGeneration === generation;
    const upToDate = readyAtGeneration && sdb.status?.schemaVersion === choice.schema.version;
    // Only the schema version differs, and a rollout admitted it: the store's database, role and credentials stay as they are.
    const versionOnly = readyAtGeneration && !upToDate && choice.admitted;

    const resolved = await resolveStoreTarget(ctx, sdb, spec, description, upToDate);
    if ('requeue' in resolved) return resolved.requeue;
    const { target, preparedJob, supabase } = resolved;
    const intent = intentForTarget(description, target);
    if (intent.suspend) return suspend(ctx, sdb, intent);

    // A connection Secret storeop may not write is reported before anything is provisioned for it.
    const secretName = spec.writeConnectionSecretToRef?.name;
    const conflict = await findSecretConflict(ctx, sdb, secretName);
    if (conflict) return reportSecretConflict(ctx, sdb, conflict);

    // A due rotation of a provisioned store runs first: the run below then checks the store with the new password.
    const rotation = upToDate && createsStoreRole(target) ? rotationDue(sdb, spec, Date.now()) : undefined;
    const provisionedId = sdb.status?.storeId;
    if (rotation && provisionedId && createsStoreRole(target)) {
      await rotateCredentials(ctx, sdb, spec, target, { id: provisionedId, slug }, rotation).catch((error: unknown) =>
        fail(ctx, sdb, error),
      );
    }

    const password = await passwordFromConnectionSecret(ctx, sdb, target);
    const outcome = await provisionStoreDatabase(ctx, sdb, log, {
      intent,
      target,
      engine: spec.engine,
      upToDate,
      password,
      preparedJob,
      generation,
      schema: choice.schema,
      admission: choice.admitted ? { schemaName: choice.schemaName } : undefined,
      versionOnly,
    });
    if (outcome.kind === 'suspended') return suspend(ctx, sdb, intent);
    // The admitted version failed (recorded for the rollout): the next run makes the version the store had.
    if (outcome.kind === 'rolledBack') {
      ctx.admissionDone?.(choice.schemaName);
      return { requeueAfterMs: 0 };
    }
    const { result, jobId, storeId } = outcome;
    if (storeId) await recordSchemaMade(ctx, storeId, choice);
    // The rollout admits its next stores as soon as one finishes, not at its next poll.
    if (choice.admitted) ctx.admissionDone?.(choice.schemaName);

    if (supabase && target.engine === 'supabase' && storeId) await ensureStorage(ctx, sdb, target, supabase, storeId);
    const secretRef = spec.writeConnectionSecretToRef;
    if (secretRef) {
      try {
        await writeConnectionSecret(ctx, sdb, secretRef.name, result.connection, {
          ref: secretRef,
          exposeServiceRoleKey: supabase?.exposeServiceRoleKey ?? false,
        });
      } catch (error) {
        if (error instanceof SecretConflictError) return reportSecretConflict(ctx, sdb, error); // created since the check above
        throw error;
      }
    }
    if (!recorded) await recordApplied(ctx, sdb, identity);

    if (createsStoreRole(target)) {
      try {
        await settleCredentials(ctx, sdb, spec, target, result.connection, {
          slug,
          rotated: rotation !== undefined,
          upToDate: upToDate || versionOnly,
        });
      } catch (error) {
        if (error instanceof SecretConflictError) return reportSecretConflict(ctx, sdb, error);
        return fail(ctx, sdb, error, { jobId, storeId });
      }
    }

    await reportReady(ctx, sdb, { generation, storeId, jobId, result, secretName, seed: spec.seed, announce: !upToDate && !versionOnly });
    // A rotation asked for while the store was provisioning runs on the next pass; a periodic one when due.
    const nextRotation = createsStoreRole(target) ? pendingRotationAfterJob(sdb, spec, rotation) : undefined;
    return { requeueAfterMs: Math.min(jitter(ctx.resyncPeriodMs), nextRotation ?? Number.POSITIVE_INFINITY) };
  }
}

/** How soon to look again for a rotation: at once when one is due (asked for during a job), else when the period ends. */
function pendingRotationAfterJob(sdb: StoreDatabase, spec: StoreDatabaseSpec, handled: string | undefined): number | undefined {
  if (!handled && rotationDue(sdb, spec, Date.now())) return CACHE_LAG_RETRY_MS;
  return untilPeriodicRotation(sdb, spec, Date.now());
}
