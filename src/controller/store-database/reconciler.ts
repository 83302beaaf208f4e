// Reconciles a StoreDatabase: the flow, step by step. Each job lives in its own module: finalize (deletion),
// identity (the recorded-identity annotations), target and supabase (where the database lives), provision
// (the job or the drift check), connection-secret, suspend and status.
import { randomUUID } from 'node:crypto';
import type { Store } from '../../api/store.js';
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { storeDatabaseSpec } from '../../api/store-database.js';
import { StoreopError } from '../../errors.js';
import { isAlreadyExists, SecretConflictError } from '../../kube/client.js';
import type { Logger } from '../../log.js';
import { describeStore, intentForTarget, type StoreDescription } from '../../stores/intent.js';
import { getCondition } from '../conditions.js';
import { CACHE_LAG_RETRY_MS, type ControllerContext, jitter, type ReconcileResult } from '../context.js';
import { findSecretConflict, passwordFromConnectionSecret, reportSecretConflict, writeConnectionSecret } from './connection-secret.js';
import { ensureFinalizer, finalize } from './finalize.js';
import { appliedIdentity, type RecordedIdentity, recordApplied, recordAttempt, recordedChanges } from './identity.js';
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
    const slug = description.slug;

    // Immutable fields stay as provisioned; an attempt is recorded before it may create anything.
    const identity: RecordedIdentity = { slug, ...description.identity };
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
    const upToDate =
      ready?.status === 'True' && sdb.status?.observedGeneration === generation && sdb.status?.schemaVersion === choice.schema.version;

    const resolved = await resolveStoreTarget(ctx, sdb, spec, description, upToDate);
    if ('requeue' in resolved) return resolved.requeue;
    const { target, preparedJob, supabase } = resolved;
    const intent = intentForTarget(description, target);
    if (intent.suspend) return suspend(ctx, sdb, intent);

    // A connection Secret storeop may not write is reported before anything is provisioned for it.
    const secretName = spec.writeConnectionSecretToRef?.name;
    const conflict = await findSecretConflict(ctx, sdb, secretName);
    if (conflict) return reportSecretConflict(ctx, sdb, conflict);

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
    });
    if (outcome.kind === 'suspended') return suspend(ctx, sdb, intent);
    // The admitted version failed (recorded for the rollout): the next run makes the version the store had.
    if (outcome.kind === 'rolledBack') return { requeueAfterMs: 0 };
    const { result, jobId, storeId } = outcome;
    if (storeId) await recordSchemaMade(ctx, storeId, choice);

    if (supabase && target.engine === 'supabase' && storeId) await ensureStorage(ctx, sdb, target, supabase, storeId);
    if (secretName) {
      try {
        await writeConnectionSecret(ctx, sdb, secretName, result.connection, supabase?.exposeServiceRoleKey ?? false);
      } catch (error) {
        if (error instanceof SecretConflictError) return reportSecretConflict(ctx, sdb, error); // created since the check above
        throw error;
      }
    }
    if (!recorded) await recordApplied(ctx, sdb, identity);

    await reportReady(ctx, sdb, { generation, storeId, jobId, result, secretName, seed: spec.seed, announce: !upToDate });
    return { requeueAfterMs: jitter(ctx.resyncPeriodMs) };
  }
}

/** The store as the StoreDatabase and its Store describe it together; an invalid Store spec is InvalidSpec. */
function describeStoreDatabase(namespace: string, spec: StoreDatabaseSpec, store: Store): StoreDescription {
  try {
    const { storeRef: _storeRef, ...template } = spec;
    return describeStore({
      name: store.metadata.name,
      spec: store.spec,
      database: template,
      databasePath: 'spec',
      source: `kubernetes:${namespace}/${store.metadata.name}`,
    });
  } catch (error) {
    const message = (error as Error).message;
    throw new StoreopError('InvalidSpec', `Store ${store.metadata.name} has an invalid spec: ${message}`, { retryable: false });
  }
}
