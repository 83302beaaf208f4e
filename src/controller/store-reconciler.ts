// Reconciles a Store: its master DB row and subscription, its StoreDatabase (created and owned when
// inline, checked when referenced), and a status that mirrors the database's. Reads come from the
// informer caches; the StoreDatabase's events wake the Store (see manager.ts), so nothing is polled.
import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Store, StoreStatus } from '../api/store.js';
import { storeSpec } from '../api/store.js';
import { type StoreDatabase, type StoreDatabaseSpec, storeDatabaseSpec } from '../api/store-database.js';
import { DEFAULT_STORE_SCHEMA_NAME } from '../api/store-schema.js';
import { isStoreopError, StoreopError } from '../errors.js';
import { describeApiError, isAlreadyExists, isNotFound } from '../kube/client.js';
import type { Logger } from '../log.js';
import { recordAudit } from '../master/audit.js';
import { type StoreDeclaration, upsertStore } from '../master/stores.js';
import { STORE_SCHEMA_VERSION } from '../schema/store-schema.js';
import { storeDeclaration, storeSlug } from '../stores/intent.js';
import { type ConditionUpdate, getCondition } from './conditions.js';
import {
  ATTEMPTED_ANNOTATION,
  CACHE_LAG_RETRY_MS,
  type ControllerContext,
  FINALIZER,
  jitter,
  MANAGED_BY_LABELS,
  type ReconcileResult,
  TerminalError,
} from './context.js';
import { withKstatus } from './kstatus.js';
import { newerVersion } from './object-cache.js';
import { applyConditions, statusDiffers } from './status.js';
import { describeStoreDatabase } from './store-database/describe.js';
import { recordedIdentity } from './store-database/identity.js';

export class StoreReconciler {
  /**
   * What the last successful upsert of each Store wrote to the master DB in this process (a hash of the
   * declaration) and the row it gave: a reconcile that would write the same declaration again skips it.
   */
  readonly #upserted = new Map<string, { declaration: string; storeId: string }>();

  constructor(private readonly ctx: ControllerContext) {}

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const store = this.ctx.caches.stores.get(namespace, name);
    if (!store) return {};
    const log = this.ctx.log.child({ controller: 'store', namespace, name, reconcileID: randomUUID() });
    try {
      return await this.#reconcile(store, log);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      // The StoreDatabase exists but the cache does not show it yet: look again once it does.
      log.debug({ err: (error as Error).message }, 'cache behind the API server; requeueing');
      return { requeueAfterMs: CACHE_LAG_RETRY_MS };
    }
  }

  /** A long safety net only: the StoreDatabase's own events wake a waiting Store. */
  #safetyRequeue(): ReconcileResult {
    return { requeueAfterMs: jitter(this.ctx.resyncPeriodMs) };
  }

  async #reconcile(store: Store, log: Logger): Promise<ReconcileResult> {
    const { kube } = this.ctx;
    const namespace = store.metadata.namespace as string;
    const name = store.metadata.name;
    if (store.metadata.deletionTimestamp) return this.#finalize(store);
    if (!store.metadata.finalizers?.includes(FINALIZER)) {
      this.#adopt(store, await kube.setFinalizers<Store>('Store', store.metadata, [...(store.metadata.finalizers ?? []), FINALIZER]));
    }
    const parsed = storeSpec.safeParse(store.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.#invalid(store, `spec.${issue?.path.join('.')}: ${issue?.message}`);
    }
    const spec = parsed.data;
    const source = `kubernetes:${namespace}/${name}`;
    // The slug is checked before the master DB is written: an invalid one leaves no row behind.
    let slug: string;
    try {
      slug = storeSlug(name, spec);
    } catch (error) {
      if (isStoreopError(error, 'InvalidSpec')) return this.#invalid(store, error.message);
      throw error;
    }
    if (store.status?.slug && store.status.slug !== slug)
      return this.#invalid(store, `spec.slug is immutable (was ${store.status.slug}, now ${slug})`);
    if (Boolean(spec.database) === Boolean(spec.databaseRef))
      return this.#invalid(store, 'exactly one of spec.database (inline) and spec.databaseRef must be set');

    let storeId: string;
    try {
      storeId = await this.#upsert(`${namespace}/${name}`, storeDeclaration(slug, spec, source));
    } catch (error) {
      if (isStoreopError(error, 'Conflict')) return this.#invalid(store, error.message);
      throw error;
    }

    let database: StoreDatabase | undefined;
    if (spec.database) {
      const desired: StoreDatabaseSpec = { ...spec.database, storeRef: { name } };
      database = this.ctx.caches.databases.get(namespace, name);
      if (!database) {
        database = await kube.createStoreDatabase(namespace, name, desired, store, creationMetadata(namespace, name, desired, store));
        this.ctx.caches.databases.wrote(database, 'other');
        await this.ctx.events.record(store, 'Normal', 'StoreDatabaseCreated', `created StoreDatabase ${name}`);
      } else if (!database.metadata.ownerReferences?.some((o) => o.uid === store.metadata.uid)) {
        return this.#invalid(
          store,
          `StoreDatabase ${name} already exists and is not owned by this Store; use spec.databaseRef to adopt it`,
        );
      } else if (!isDeepStrictEqual(normalize(database.spec), normalize(desired))) {
        // A merge patch keeps fields it does not name: a field removed from the inline database (a reverted
        // databaseName) is removed from the StoreDatabase with an explicit null.
        database = await kube.patchSpec<StoreDatabase>('StoreDatabase', database.metadata, withRemovals(database.spec, desired));
        this.ctx.caches.databases.wrote(database, 'other');
      }
    } else {
      const refName = spec.databaseRef?.name as string;
      database = this.ctx.caches.databases.get(namespace, refName);
      if (!database) {
        await this.#status(store, { phase: 'Pending', slug, storeId, databaseName: refName }, [
          { type: 'Ready', status: 'False', reason: 'DatabaseNotFound', message: `StoreDatabase ${refName} does not exist` },
        ]);
        // Its creation wakes this Store (the StoreDatabase watch, through the databaseRef index).
        return this.#safetyRequeue();
      }
      if (database.spec.storeRef?.name !== name)
        return this.#invalid(store, `StoreDatabase ${refName} belongs to Store ${database.spec.storeRef?.name}, not ${name}`);
    }

    // A StoreDatabase that has reported nothing yet (just created) is about to: its first status wakes the
    // Store, which then writes one status instead of a Pending replaced a moment later.
    if (!database.status?.phase) return {};
    const dbReady = getCondition(database.status?.conditions, 'Ready');
    const phase = database.status?.phase ?? 'Pending';
    await this.#status(
      store,
      {
        phase,
        slug,
        storeId,
        databaseName: database.metadata.name,
        engine: database.spec.engine,
        ...(database.status?.server ? { database: { server: database.status.server } } : {}),
        ...(database.status?.jobId ? { jobId: database.status.jobId } : {}),
        ...(database.status?.progress ? { progress: database.status.progress } : {}),
        ...(database.status?.message ? { message: database.status.message } : {}),
        ...(database.status?.schemaVersion ? { schemaVersion: database.status.schemaVersion } : {}),
      },
      [
        schemaCurrent(this.ctx, store, database.status?.schemaVersion),
        dbReady?.status === 'True'
          ? { type: 'Ready', status: 'True', reason: 'DatabaseReady', message: `StoreDatabase ${database.metadata.name} is ready` }
          : {
              type: 'Ready',
              status: 'False',
              reason: dbReady?.reason ?? 'Provisioning',
              message: dbReady?.message ?? `waiting for StoreDatabase ${database.metadata.name}`,
            },
      ],
    );
    log.debug({ phase }, 'store reconciled');
    return {};
  }

  async #finalize(store: Store): Promise<ReconcileResult> {
    if (!store.metadata.finalizers?.includes(FINALIZER)) return {};
    const namespace = store.metadata.namespace as string;
    const name = store.metadata.name;
    // Delete the owned StoreDatabase first and wait for its cleanup: tests and some clusters have no
    // garbage collector, and GitOps tools may delete both at once. Its deletion (a watch event) wakes the Store.
    const owned = this.ctx.caches.databases.get(namespace, name);
    if (owned?.metadata.ownerReferences?.some((o) => o.uid === store.metadata.uid)) {
      if (!owned.metadata.deletionTimestamp) {
        await this.ctx.kube.delete('StoreDatabase', namespace, name);
        if (store.status?.phase !== 'Deleting')
          await this.ctx.events.record(store, 'Normal', 'Deleting', `deleting StoreDatabase ${name} first`);
      }
      if (store.status?.phase !== 'Deleting')
        this.#adopt(
          store,
          await this.ctx.kube.patchStatus<Store>(
            'Store',
            store.metadata,
            withKstatus(store.status, { phase: 'Deleting' }, store.metadata.generation),
          ),
        );
      return this.#safetyRequeue();
    }
    const slug = store.status?.slug;
    if (slug && store.status?.storeId) {
      await recordAudit(this.ctx.master.master.db, {
        storeId: store.status.storeId,
        actor: this.ctx.master.actor,
        action: 'store.deleted',
        targetType: 'store',
        targetId: slug,
      }).catch(() => {});
    }
    // Guarded by the resourceVersion of this process's own last write (the cache serves it), not an older one.
    const finalizers = (store.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    this.#upserted.delete(`${namespace}/${name}`);
    let written: Store;
    try {
      written = await this.ctx.kube.setFinalizers<Store>('Store', store.metadata, finalizers);
    } catch (error) {
      if (isNotFound(error)) return {}; // already gone
      throw error;
    }
    if (finalizers.length === 0) this.ctx.caches.stores.removed(written);
    else this.#adopt(store, written);
    return {};
  }

  /** The master DB row for the declaration: upserted, unless this process already wrote the same declaration. */
  async #upsert(key: string, declaration: StoreDeclaration): Promise<string> {
    const digest = createHash('sha256').update(JSON.stringify(declaration)).digest('base64');
    const known = this.#upserted.get(key);
    if (known?.declaration === digest) return known.storeId;
    const storeId = (await upsertStore(this.ctx.master.master.db, declaration)).id;
    this.#upserted.set(key, { declaration: digest, storeId });
    return storeId;
  }

  /** The object a write returned: the next guarded write carries its resourceVersion, the cache serves it. */
  #adopt(store: Store, written: Store): void {
    if (newerVersion(store.metadata.resourceVersion, written.metadata.resourceVersion)) return;
    store.metadata = written.metadata;
    store.status = written.status;
    this.ctx.caches.stores.wrote(written);
  }

  async #invalid(store: Store, message: string): Promise<ReconcileResult> {
    await this.#status(store, { phase: 'Failed', message }, [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }]);
    await this.ctx.events.record(store, 'Warning', 'InvalidSpec', message);
    throw new TerminalError(message);
  }

  async #status(store: Store, status: Partial<StoreStatus>, conditions: Parameters<typeof applyConditions>[1]): Promise<void> {
    const next = withKstatus(
      store.status,
      {
        ...status,
        observedGeneration: store.metadata.generation,
        conditions: applyConditions(store.status?.conditions, conditions, store.metadata.generation),
      },
      store.metadata.generation,
    );
    if (!statusDiffers(store.status, next)) return;
    try {
      this.#adopt(store, await this.ctx.kube.patchStatus<Store>('Store', store.metadata, next));
    } catch (error) {
      throw new StoreopError('ProvisioningFailed', `could not update Store status: ${describeApiError(error)}`);
    }
  }
}

/**
 * What a new inline StoreDatabase is created with: besides its labels, storeop's finalizer and the identity
 * of the attempt its first reconcile records before it creates anything (identity.ts), so that reconcile
 * finds both in place instead of writing them in two more patches (and two more watch events). A spec the
 * StoreDatabase's reconcile will refuse gets no identity: that reconcile reports why.
 */
function creationMetadata(namespace: string, name: string, desired: StoreDatabaseSpec, store: Store) {
  const labels = { ...MANAGED_BY_LABELS, 'storeop.dev/store': name };
  const parsed = storeDatabaseSpec.safeParse(desired);
  let annotations: Record<string, string> = {};
  try {
    if (parsed.success)
      annotations = { [ATTEMPTED_ANNOTATION]: JSON.stringify(recordedIdentity(describeStoreDatabase(namespace, parsed.data, store))) };
  } catch {
    // an invalid Store spec: reported by the StoreDatabase's reconcile
  }
  return { labels, annotations, finalizers: [FINALIZER] };
}

/**
 * SchemaCurrent: whether the store database has the version its StoreSchema rolls out (storeop's built-in
 * version for storeop-default when that object is not published).
 */
function schemaCurrent(ctx: ControllerContext, store: Store, applied: string | undefined): ConditionUpdate {
  const name = store.spec?.schemaRef?.name ?? DEFAULT_STORE_SCHEMA_NAME;
  const wanted = ctx.caches.schemas.get('', name)?.spec?.version ?? (name === DEFAULT_STORE_SCHEMA_NAME ? STORE_SCHEMA_VERSION : undefined);
  if (!applied) return { type: 'SchemaCurrent', status: 'False', reason: 'Provisioning', message: 'no schema version applied yet' };
  if (!wanted) return { type: 'SchemaCurrent', status: 'Unknown', reason: 'SchemaNotFound', message: `StoreSchema ${name} does not exist` };
  return applied === wanted
    ? { type: 'SchemaCurrent', status: 'True', reason: 'SchemaCurrent', message: `version ${applied} of StoreSchema ${name}` }
    : {
        type: 'SchemaCurrent',
        status: 'False',
        reason: 'RolloutPending',
        message: `version ${applied}; StoreSchema ${name} is at ${wanted} (rolled out in stages)`,
      };
}

/** `desired` as a JSON merge patch over `current`: keys `current` has and `desired` lacks become null. */
export function withRemovals(current: unknown, desired: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(current) || !isObject(desired)) return desired;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(current)) if (!(key in desired)) patch[key] = null;
  for (const [key, value] of Object.entries(desired)) patch[key] = withRemovals(current[key], value);
  return patch;
}

/** Specs compared with every default filled in, as the API server and zod both fill them. */
function normalize(spec: unknown): unknown {
  const parsed = storeDatabaseSpec.safeParse(spec);
  return parsed.success ? JSON.parse(JSON.stringify(parsed.data)) : spec;
}
