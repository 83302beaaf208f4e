// Reconciles a StoreDatabase: the pipeline with a job in the master DB, progress mirrored to status,
// the connection Secret, conditions, events, suspension, drift repair and cleanup on delete.
import { randomUUID } from 'node:crypto';
import type { Store } from '../api/store.js';
import type { StoreDatabase, StoreDatabaseStatus } from '../api/store-database.js';
import { storeDatabaseSpec } from '../api/store-database.js';
import { engineFor } from '../engines/index.js';
import { resolveSupabaseSettings, type SupabaseSettings } from '../engines/supabase/prepare.js';
import { supabaseDeprovisionTarget } from '../engines/supabase/stage.js';
import { ensureMediaBucket } from '../engines/supabase/storage.js';
import { createsStoreRole, type DatabaseTarget, type SupabaseTarget, type TenantConnection } from '../engines/target.js';
import { connectionUrl } from '../engines/url.js';
import { isStoreopError, redactSecrets, StoreopError } from '../errors.js';
import { describeApiError, ownedSecret, SecretConflictError, secretValue } from '../kube/client.js';
import { assertConfigured, readActiveDatabaseConfig } from '../master/integrations.js';
import { failJob, getJob, markJobWaiting, scheduleNextAttempt } from '../master/jobs.js';
import { type StoreDeclaration, setDatabaseFacts, setStorageFacts } from '../master/stores.js';
import { type ProvisionResult, provision } from '../provisioning/pipeline.js';
import type { Progress } from '../provisioning/progress.js';
import { type DatabaseIdentity, identityChanges, identityOf } from '../stores/identity.js';
import { describeStore, type StoreDescription, type StoreIntent } from '../stores/intent.js';
import { type PreparedJob, prepareStoreJob } from '../stores/provision-store.js';
import { resolveTarget } from '../stores/resolve-target.js';
import { applyIntent, claimStore, deleteStore, recordIdentity, suspendStore } from '../stores/service.js';
import { getCondition } from './conditions.js';
import {
  APPLIED_ANNOTATION,
  ATTEMPTED_ANNOTATION,
  type ControllerContext,
  FINALIZER,
  jitter,
  MANAGED_BY_LABELS,
  type ReconcileResult,
  SKIP_CLEANUP_ANNOTATION,
  TerminalError,
} from './context.js';
import { applyConditions, failedConditionType } from './status.js';
import { backoffDelayMs } from './workqueue.js';

const NOT_FOUND_RETRY_MS = 30_000;

/** What the applied/attempted annotations hold: the slug and the database identity (src/stores/identity.ts). */
type RecordedIdentity = DatabaseIdentity & { slug: string };

/** The immutable fields that differ from the recorded identity, described as "field (was X, now Y)". */
function recordedChanges(before: Partial<RecordedIdentity>, now: RecordedIdentity): string[] {
  const slug = before.slug !== undefined && before.slug !== now.slug ? [`slug (was ${before.slug}, now ${now.slug})`] : [];
  return [...slug, ...identityChanges(before, now, '')];
}

export class StoreDatabaseReconciler {
  constructor(private readonly ctx: ControllerContext) {}

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { kube } = this.ctx;
    const sdb = await kube.get<StoreDatabase>('StoreDatabase', namespace, name);
    if (!sdb) return {};
    const log = this.ctx.log.child({ controller: 'storedatabase', namespace, name, reconcileID: randomUUID() });
    if (sdb.metadata.deletionTimestamp) return this.#finalize(sdb, log);
    if (!sdb.metadata.finalizers?.includes(FINALIZER)) {
      await kube.setFinalizers('StoreDatabase', sdb.metadata, [...(sdb.metadata.finalizers ?? []), FINALIZER]);
      sdb.metadata.finalizers = [...(sdb.metadata.finalizers ?? []), FINALIZER];
    }
    const generation = sdb.metadata.generation;

    const parsed = storeDatabaseSpec.safeParse(sdb.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.#fail(sdb, new StoreopError('InvalidSpec', `spec.${issue?.path.join('.')}: ${issue?.message}`, { retryable: false }));
    }
    const spec = parsed.data;
    const store = await kube.get<Store>('Store', namespace, spec.storeRef.name);
    if (!store || store.metadata.deletionTimestamp) {
      await this.#patchStatus(sdb, {
        phase: store ? 'Deleting' : 'Pending',
        conditions: applyConditions(
          sdb.status?.conditions,
          [
            {
              type: 'Ready',
              status: 'False',
              reason: 'StoreNotFound',
              message: `Store ${spec.storeRef.name} ${store ? 'is being deleted' : 'does not exist'}`,
            },
          ],
          generation,
        ),
      });
      return store ? {} : { requeueAfterMs: NOT_FOUND_RETRY_MS };
    }
    let description: StoreDescription;
    try {
      const { storeRef: _storeRef, ...template } = spec;
      description = describeStore({
        name: store.metadata.name,
        spec: store.spec,
        database: template,
        databasePath: 'spec',
        source: `kubernetes:${namespace}/${store.metadata.name}`,
      });
    } catch (error) {
      const message = (error as Error).message;
      return this.#fail(
        sdb,
        new StoreopError('InvalidSpec', `Store ${store.metadata.name} has an invalid spec: ${message}`, { retryable: false }),
      );
    }
    const slug = description.slug;

    const identity: RecordedIdentity = { slug, ...description.identity };
    const recorded = sdb.metadata.annotations?.[APPLIED_ANNOTATION];
    if (recorded) {
      const changed = recordedChanges(JSON.parse(recorded) as Partial<RecordedIdentity>, identity);
      if (changed.length) {
        return this.#fail(
          sdb,
          new StoreopError('InvalidSpec', `immutable field(s) changed: ${changed.join(', ')}; no database was touched`, {
            retryable: false,
          }),
        );
      }
    }

    if (!recorded && sdb.metadata.annotations?.[ATTEMPTED_ANNOTATION] !== JSON.stringify(identity))
      await kube.annotate('StoreDatabase', sdb.metadata, { [ATTEMPTED_ANNOTATION]: JSON.stringify(identity) });

    const declaration = description.declaration;
    const ready = getCondition(sdb.status?.conditions, 'Ready');
    const upToDate = ready?.status === 'True' && sdb.status?.observedGeneration === generation;

    let target: DatabaseTarget;
    let preparedJob: PreparedJob | undefined;
    let supabase: SupabaseSettings | undefined;
    try {
      if (spec.engine === 'supabase') {
        supabase = await resolveSupabaseSettings(spec, (secret, key) => this.#readSecret(namespace, secret, key), {
          apiUrl: this.ctx.supabaseApiUrl,
        });
        const outcome = upToDate
          ? await this.#supabaseFromMaster(sdb, supabase)
          : await this.#prepareSupabase(sdb, spec, supabase, slug, declaration);
        if ('requeue' in outcome) return outcome.requeue;
        target = outcome.target;
        preparedJob = outcome.job;
      } else {
        target = await resolveTarget(spec, (secret, key) => this.#readSecret(namespace, secret, key), { home: this.ctx.pgliteHome, slug });
      }
    } catch (error) {
      if (isStoreopError(error, 'InvalidSpec') && error.retryable) {
        // A missing Secret: wait for it (its creation re-enqueues us through the Secret watch).
        await this.#failStatus(sdb, 'SecretNotFound', error.message);
        await this.ctx.events.record(sdb, 'Warning', 'SecretNotFound', error.message);
        return { requeueAfterMs: NOT_FOUND_RETRY_MS };
      }
      return this.#fail(sdb, error);
    }

    const intent: StoreIntent = {
      ...description,
      resolution: { kind: 'target', target },
      target,
      identity: identityOf(description.database, target),
    };
    if (intent.suspend) return this.#suspend(sdb, intent);

    // A connection Secret storeop may not write is reported before anything is provisioned for it.
    const secretName = spec.writeConnectionSecretToRef?.name;
    const existingSecret = secretName ? await this.ctx.kube.getSecret(namespace, secretName) : undefined;
    if (secretName && existingSecret && !ownedSecret(existingSecret, sdb))
      return this.#secretConflict(sdb, new SecretConflictError(secretName, sdb));

    const password = await this.#passwordFromConnectionSecret(sdb, target);
    const seed = intent.seed;
    const started = performance.now();
    let result: ProvisionResult;
    let jobId = sdb.status?.jobId;
    let storeId = sdb.status?.storeId;
    try {
      if (upToDate && storeId) {
        // Periodic drift check: the same idempotent pipeline, without a job row unless something changes.
        result = await provision({
          slug,
          target,
          ...(password ? { password } : {}),
          seed,
          register: async (r) => {
            if (r.changed) await setDatabaseFacts(this.ctx.master.master.db, storeId as string, { status: 'active' });
          },
        });
        // A store that became Ready before identities were recorded in the master DB gets its record now.
        await recordIdentity(this.ctx.master.master.db, { id: storeId }, intent.identity, intent.deletionPolicy);
        if (result.changed)
          await this.ctx.events.record(
            sdb,
            'Normal',
            'DriftRepaired',
            `repaired ${result.applied.length} schema change(s) found by the periodic check`,
          );
      } else {
        // A job this StoreDatabase started that is still open was abandoned by a killed operator: resume it.
        // One job per failure streak: a retry continues the job in status.jobId (until it succeeds), and a
        // job a killed operator left open is adopted, never left queued beside a new one.
        const job = preparedJob ?? (await claimStore(this.ctx.master, intent, { resumeJobId: sdb.status?.jobId, adopt: 'any' }));
        jobId = job.jobId;
        storeId = job.store.id;
        const attempt = ((await getJob(this.ctx.master.master.db, jobId))?.attempts ?? 0) + 1;
        await this.#patchStatus(sdb, {
          phase: 'Provisioning',
          storeId,
          jobId,
          conditions: applyConditions(
            sdb.status?.conditions,
            [{ type: 'Ready', status: 'False', reason: 'Provisioning', message: `provisioning job ${jobId}, attempt ${attempt}` }],
            generation,
          ),
        });
        // No job id or attempt in the message: the retries of a streak aggregate into one event with a count.
        await this.ctx.events.record(sdb, 'Normal', 'Provisioning', `provisioning ${spec.engine} database for store ${slug}`);
        const mirror = this.#progressMirror(sdb);
        const applied = await applyIntent(this.ctx.master, intent, { job, ...(password ? { password } : {}), onProgress: mirror });
        if (applied.kind !== 'ready') return this.#suspend(sdb, intent);
        result = applied.result;
      }
    } catch (error) {
      this.ctx.metrics.provisioningDuration.observe({ engine: spec.engine, result: 'error' }, (performance.now() - started) / 1000);
      log.warn({ code: isStoreopError(error) ? error.code : 'ProvisioningFailed', err: (error as Error).message }, 'provisioning failed');
      return this.#fail(sdb, error, { jobId, storeId });
    }
    this.ctx.metrics.provisioningDuration.observe({ engine: spec.engine, result: 'success' }, (performance.now() - started) / 1000);

    if (supabase && target.engine === 'supabase' && storeId) await this.#ensureStorage(sdb, target, supabase, storeId);
    if (secretName) {
      try {
        await this.#writeConnectionSecret(sdb, secretName, result.connection, supabase?.exposeServiceRoleKey ?? false);
      } catch (error) {
        if (error instanceof SecretConflictError) return this.#secretConflict(sdb, error); // created since the check above
        throw error;
      }
    }
    if (!recorded)
      await this.ctx.kube.annotate('StoreDatabase', sdb.metadata, {
        [APPLIED_ANNOTATION]: JSON.stringify(identity),
        [ATTEMPTED_ANNOTATION]: null,
      });

    const message = `${result.tablesCreated}/${result.totalTables} tables, schema ${result.schemaVersion}`;
    await this.#patchStatus(sdb, {
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
            status: spec.seed ? 'True' : 'False',
            reason: spec.seed ? 'Seeded' : 'SeedDisabled',
            message: spec.seed ? 'default rows present' : 'seeding is disabled',
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
    if (!upToDate) await this.ctx.events.record(sdb, 'Normal', 'Ready', `store database ready: ${message}`);
    return { requeueAfterMs: jitter(this.ctx.resyncPeriodMs) };
  }

  /**
   * Project first, through the engine's staged contract: found or created (once), then asked again by
   * requeueing until healthy; never blocks a worker. The generated database password lives in an owned
   * Secret, the project ref in status (and the master DB): what the next call carries.
   */
  async #prepareSupabase(
    sdb: StoreDatabase,
    spec: ReturnType<typeof storeDatabaseSpec.parse>,
    settings: SupabaseSettings,
    slug: string,
    declaration: StoreDeclaration,
  ): Promise<{ requeue: ReconcileResult } | { target: SupabaseTarget; job: PreparedJob }> {
    const db = this.ctx.master.master.db;
    const namespace = sdb.metadata.namespace as string;
    let job: PreparedJob;
    try {
      // A job this StoreDatabase started that is still open (waiting for the project, or abandoned) is resumed.
      job = await prepareStoreJob(this.ctx.master, declaration, { resumeJobId: sdb.status?.jobId, adopt: 'any' });
    } catch (error) {
      return { requeue: await this.#fail(sdb, error) };
    }
    const { store: row, jobId } = job;
    const passwordSecret = `${sdb.metadata.name}-supabase`;
    const knownRef = sdb.status?.supabaseProjectRef ?? (row.database_type === 'supabase' ? (row.database_name ?? undefined) : undefined);
    const engine = engineFor('supabase');
    const stage = await (engine.prepare as NonNullable<typeof engine.prepare>)(spec, {
      slug,
      read: (secret, key) => this.#readSecret(namespace, secret, key),
      carry: knownRef ? { projectRef: knownRef } : {},
      knownSecret: (key) => this.#ownedSecretValue(sdb, passwordSecret, key),
      keepSecret: async (key, value) => {
        await this.ctx.kube.applySecret(namespace, passwordSecret, { [key]: value }, sdb, {
          ...MANAGED_BY_LABELS,
          'storeop.dev/storedatabase': sdb.metadata.name,
        });
      },
      record: async (carry) => {
        const ref = String(carry.projectRef);
        await this.#patchStatus(sdb, { supabaseProjectRef: ref, jobId, storeId: row.id });
        await setDatabaseFacts(db, row.id, {
          status: 'provisioning',
          type: 'supabase',
          host: settings.database.host.replaceAll('{ref}', ref),
          name: ref,
        });
        await this.ctx.events.record(
          sdb,
          'Normal',
          'SupabaseProject',
          `Supabase project ${ref} (${carry.projectName}) is ${carry.projectStatus}`,
        );
      },
      defaults: { supabaseApiUrl: this.ctx.supabaseApiUrl },
      pollMs: this.ctx.supabasePollMs,
    });
    if (stage.state === 'waiting') {
      await markJobWaiting(db, jobId, 'createDatabase', stage.reason);
      await scheduleNextAttempt(db, jobId, stage.retryAfterMs);
      await this.#patchStatus(sdb, {
        phase: 'Provisioning',
        jobId,
        storeId: row.id,
        ...(stage.carry.projectRef ? { supabaseProjectRef: String(stage.carry.projectRef) } : {}),
        message: stage.reason,
        progress: { step: 'createDatabase', percent: 5 },
        conditions: applyConditions(
          sdb.status?.conditions,
          [{ type: 'Ready', status: 'False', reason: 'WaitingForSupabase', message: stage.reason }],
          sdb.metadata.generation,
        ),
      });
      return { requeue: { requeueAfterMs: stage.retryAfterMs } };
    }
    if (stage.state === 'failed') {
      await failJob(db, jobId, stage.error.code, stage.error.message);
      await setDatabaseFacts(db, row.id, { status: 'failed' });
      return { requeue: await this.#fail(sdb, stage.error, { jobId, storeId: row.id }) };
    }
    return { target: stage.target as SupabaseTarget, job };
  }

  /** A Ready Supabase store's periodic check reuses the registered connection: no Management API calls. */
  async #supabaseFromMaster(sdb: StoreDatabase, settings: SupabaseSettings): Promise<{ target: SupabaseTarget; job?: undefined }> {
    const storeId = sdb.status?.storeId as string;
    const config = assertConfigured(await readActiveDatabaseConfig(this.ctx.master.master.db, this.ctx.master.keyring, storeId), storeId);
    const c = config.connection;
    return {
      target: {
        engine: 'supabase',
        mode: settings.mode,
        connection: {
          host: c.host,
          port: c.port,
          user: c.user,
          database: c.database,
          ...(c.password !== undefined ? { password: c.password } : {}),
          ...(c.tls ? { tls: c.tls } : {}),
        },
        project: {
          ref: c.projectRef ?? sdb.status?.supabaseProjectRef ?? '',
          url: c.projectUrl ?? '',
          ...(c.anonKey ? { anonKey: c.anonKey } : {}),
          ...(c.serviceRoleKey ? { serviceRoleKey: c.serviceRoleKey } : {}),
        },
      },
    };
  }

  /** The store's media bucket; its state goes to the master DB as storage_type supabase-storage. */
  async #ensureStorage(sdb: StoreDatabase, target: SupabaseTarget, settings: SupabaseSettings, storeId: string): Promise<void> {
    const db = this.ctx.master.master.db;
    if (!target.project.serviceRoleKey) {
      await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'unavailable' });
      await this.ctx.events.record(sdb, 'Warning', 'StorageUnavailable', 'no service-role key: the media bucket was not created');
      return;
    }
    try {
      const outcome = await ensureMediaBucket(target.project.url, target.project.serviceRoleKey, settings.storageBucket);
      await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'active' });
      if (outcome === 'created')
        await this.ctx.events.record(sdb, 'Normal', 'StorageBucketCreated', `created Storage bucket ${settings.storageBucket}`);
    } catch (error) {
      await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'failed' });
      throw error;
    }
  }

  async #ownedSecretValue(sdb: StoreDatabase, name: string, key: string): Promise<string | undefined> {
    const secret = await this.ctx.kube.getSecret(sdb.metadata.namespace as string, name);
    return secret && ownedSecret(secret, sdb) ? secretValue(secret, key) : undefined;
  }

  async #readSecret(namespace: string, name: string, key: string): Promise<string | undefined> {
    const secret = this.ctx.caches.secrets.get(name, namespace) ?? (await this.ctx.kube.getSecret(namespace, name));
    return secret ? secretValue(secret, key) : undefined;
  }

  /** The store password kept in the connection Secret, so the role is re-adopted instead of rotated. */
  async #passwordFromConnectionSecret(sdb: StoreDatabase, target: DatabaseTarget): Promise<string | undefined> {
    const name = sdb.spec.writeConnectionSecretToRef?.name;
    if (!name || !createsStoreRole(target)) return undefined;
    const secret = await this.ctx.kube.getSecret(sdb.metadata.namespace as string, name);
    return secret && ownedSecret(secret, sdb) ? secretValue(secret, 'password') : undefined;
  }

  async #writeConnectionSecret(
    sdb: StoreDatabase,
    name: string,
    connection: TenantConnection,
    exposeServiceRoleKey: boolean,
  ): Promise<void> {
    const data: Record<string, string> = {
      engine: connection.engine,
      host: connection.host,
      port: String(connection.port),
      database: connection.database,
      username: connection.user,
      password: connection.password ?? '',
      url: connectionUrl(connection, { includePassword: true }),
    };
    if (connection.schema) data.schema = connection.schema;
    if (connection.projectUrl) data.supabaseUrl = connection.projectUrl;
    if (connection.anonKey) data.anonKey = connection.anonKey;
    // The service-role key bypasses row-level security: only when asked for explicitly.
    if (exposeServiceRoleKey && connection.serviceRoleKey) data.serviceRoleKey = connection.serviceRoleKey;
    const outcome = await this.ctx.kube.applySecret(sdb.metadata.namespace as string, name, data, sdb, {
      ...MANAGED_BY_LABELS,
      'storeop.dev/storedatabase': sdb.metadata.name,
    });
    if (outcome !== 'unchanged')
      await this.ctx.events.record(sdb, 'Normal', 'ConnectionSecretWritten', `connection Secret ${name} ${outcome}`);
  }

  /**
   * The connection Secret exists and is not storeop's: nothing is written (or, later, deleted with this
   * object). Re-checked periodically, since a foreign Secret's removal may not reach the Secret watch.
   */
  async #secretConflict(sdb: StoreDatabase, conflict: SecretConflictError): Promise<ReconcileResult> {
    const message = conflict.message;
    await this.#patchStatus(sdb, {
      phase: 'Failed',
      observedGeneration: sdb.metadata.generation,
      message,
      conditions: applyConditions(
        sdb.status?.conditions,
        [
          { type: 'ConnectionSecretReady', status: 'False', reason: 'SecretConflict', message },
          { type: 'Ready', status: 'False', reason: 'SecretConflict', message },
        ],
        sdb.metadata.generation,
      ),
    });
    await this.ctx.events.record(sdb, 'Warning', 'SecretConflict', message);
    return { requeueAfterMs: NOT_FOUND_RETRY_MS };
  }

  /** Mirrors job progress to status, at most once a second, never blocking the pipeline on it. */
  #progressMirror(sdb: StoreDatabase): (p: Progress) => void {
    let last = 0;
    let inFlight: Promise<void> | undefined;
    return (p) => {
      const now = Date.now();
      if (inFlight || (now - last < 1000 && p.percent < 100)) return;
      last = now;
      inFlight = this.#patchStatus(sdb, {
        progress: { step: p.step, percent: p.percent, tablesCreated: p.tablesCreated, totalTables: p.totalTables },
        message: p.message,
      })
        .catch(() => {})
        .finally(() => {
          inFlight = undefined;
        });
    };
  }

  async #suspend(sdb: StoreDatabase, intent: StoreIntent): Promise<ReconcileResult> {
    if (sdb.status?.phase !== 'Suspended') {
      try {
        await suspendStore(this.ctx.master, intent);
      } catch (error) {
        return this.#fail(sdb, error);
      }
      await this.ctx.events.record(sdb, 'Normal', 'Suspended', `store ${intent.slug} suspended: its database login is disabled`);
    }
    await this.#patchStatus(sdb, {
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

  async #finalize(sdb: StoreDatabase, log: ControllerContext['log']): Promise<ReconcileResult> {
    if (!sdb.metadata.finalizers?.includes(FINALIZER)) return {};
    const namespace = sdb.metadata.namespace as string;
    const provisioned = sdb.metadata.annotations?.[APPLIED_ANNOTATION];
    // A StoreDatabase that never became Ready may still have left a database or role behind.
    const recorded = provisioned ?? sdb.metadata.annotations?.[ATTEMPTED_ANNOTATION];
    const skip = sdb.metadata.annotations?.[SKIP_CLEANUP_ANNOTATION] === 'true';
    if (recorded && !skip) {
      const applied = JSON.parse(recorded) as RecordedIdentity;
      const { slug } = applied;
      const policy = sdb.spec.deletionPolicy ?? 'Retain';
      if (sdb.status?.phase !== 'Deleting')
        await this.#patchStatus(sdb, { phase: 'Deleting', message: `deleting (deletionPolicy ${policy})` });
      try {
        const spec = storeDatabaseSpec.parse(sdb.spec);
        if (policy === 'Delete') {
          // Cleanup acts on the spec as it is now. If an immutable field changed after provisioning (the
          // InvalidSpec case), the spec no longer names the database storeop created: a changed
          // databaseName or host would drop someone else's database, a changed mode would leak ours.
          const changed = recordedChanges(applied, { slug, ...identityOf(spec) });
          if (changed.length)
            throw new StoreopError(
              'InvalidSpec',
              `immutable field(s) changed since provisioning: ${changed.join(', ')}; revert them so that the database storeop created is the one dropped`,
              { retryable: false },
            );
        }
        if (policy === 'Delete' && spec.mode === 'create' && spec.engine === 'supabase') {
          const settings = await resolveSupabaseSettings(spec, (secret, key) => this.#readSecret(namespace, secret, key), {
            apiUrl: this.ctx.supabaseApiUrl,
          });
          const ref = sdb.status?.supabaseProjectRef;
          if (ref) {
            await engineFor('supabase').deprovision(supabaseDeprovisionTarget(settings, ref), slug);
            await this.ctx.events.record(sdb, 'Normal', 'Deprovisioned', `deleted Supabase project ${ref}`);
          }
        }
        // The store service drops a create-mode database (Delete), and detaches the store in the master DB.
        const server = policy === 'Delete' && spec.mode === 'create' && spec.engine !== 'supabase';
        const target = server
          ? await resolveTarget(spec, (secret, key) => this.#readSecret(namespace, secret, key), { home: this.ctx.pgliteHome, slug })
          : undefined;
        const done = await deleteStore(this.ctx.master, {
          slug,
          source: `kubernetes:${namespace}/${spec.storeRef.name}`,
          policy,
          intent: target ? { target, identity: identityOf(spec, target) } : undefined,
          home: this.ctx.pgliteHome,
        });
        if (done.outcome === 'dropped')
          await this.ctx.events.record(sdb, 'Normal', 'Deprovisioned', `dropped the database and role of store ${slug}`);
        else if (policy === 'Delete' && spec.mode === 'connect')
          await this.ctx.events.record(sdb, 'Normal', 'Retained', 'connect mode: the database was not created by storeop and is kept');
      } catch (error) {
        const message = redactSecrets(isStoreopError(error) ? error.message : describeApiError(error), []);
        log.warn({ err: message }, 'cleanup failed');
        if (!provisioned) {
          // Never Ready: often nothing was created (a wrong password), so do not hold the deletion for a
          // cleanup that may have nothing to do; say what may be left and let the deletion finish.
          await this.ctx.events.record(
            sdb,
            'Warning',
            'CleanupIncomplete',
            `the database never became Ready and could not be cleaned up: ${message}; anything a failed attempt created on the server is left as it is`,
          );
          return this.#removeFinalizer(sdb);
        }
        await this.#patchStatus(sdb, {
          phase: 'Deleting',
          message: `cleanup failed: ${message}`,
          conditions: applyConditions(
            sdb.status?.conditions,
            [
              {
                type: 'Ready',
                status: 'False',
                reason: 'CleanupFailed',
                message: `${message}; fix it, or annotate ${SKIP_CLEANUP_ANNOTATION}=true to delete without cleanup`,
              },
            ],
            sdb.metadata.generation,
          ),
        }).catch(() => {});
        await this.ctx.events.record(sdb, 'Warning', 'CleanupFailed', message);
        // Not retried until the object changes: retrying the same spec cannot help.
        if (isStoreopError(error) && !error.retryable) throw new TerminalError(message);
        throw error;
      }
    }
    return this.#removeFinalizer(sdb);
  }

  async #removeFinalizer(sdb: StoreDatabase): Promise<ReconcileResult> {
    await this.ctx.kube.setFinalizers(
      'StoreDatabase',
      sdb.metadata,
      (sdb.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    );
    return {};
  }

  async #failStatus(sdb: StoreDatabase, reason: string, message: string, extra: Partial<StoreDatabaseStatus> = {}): Promise<void> {
    const type = failedConditionType(reason as never);
    const updates = [{ type: 'Ready', status: 'False' as const, reason, message }];
    if (type) updates.unshift({ type, status: 'False', reason, message });
    await this.#patchStatus(sdb, {
      phase: 'Failed',
      observedGeneration: sdb.metadata.generation,
      message,
      ...extra,
      conditions: applyConditions(sdb.status?.conditions, updates, sdb.metadata.generation),
    });
  }

  /** Reports a failure in status and an event; retryable ones are thrown again for backoff. */
  async #fail(
    sdb: StoreDatabase,
    error: unknown,
    ids: { jobId?: string | undefined; storeId?: string | undefined } = {},
  ): Promise<ReconcileResult> {
    const storeopError = isStoreopError(error) ? error : undefined;
    const reason = storeopError?.code ?? 'ProvisioningFailed';
    const message = storeopError?.message ?? describeApiError(error);
    await this.#failStatus(sdb, reason, message, {
      ...(ids.jobId ? { jobId: ids.jobId } : {}),
      ...(ids.storeId ? { storeId: ids.storeId } : {}),
    });
    await this.ctx.events.record(sdb, 'Warning', reason, message);
    if (storeopError && !storeopError.retryable) throw new TerminalError(message);
    if (ids.jobId) await this.#scheduleRetry(ids.jobId);
    throw error instanceof Error ? error : new Error(message);
  }

  /** The job row says when the workqueue's backoff will run the next attempt (one more failure per attempt). */
  async #scheduleRetry(jobId: string): Promise<void> {
    const db = this.ctx.master.master.db;
    const attempts = (await getJob(db, jobId).catch(() => undefined))?.attempts ?? 1;
    await scheduleNextAttempt(db, jobId, backoffDelayMs(attempts)).catch(() => {});
  }

  async #patchStatus(sdb: StoreDatabase, status: Partial<StoreDatabaseStatus>): Promise<void> {
    await this.ctx.kube.patchStatus('StoreDatabase', sdb.metadata, status);
    sdb.status = { ...sdb.status, ...status };
  }
}
