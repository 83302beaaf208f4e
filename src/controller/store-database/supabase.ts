// Supabase StoreDatabases: the project prepared through the engine's staged contract (requeueing until it is
// healthy), the registered connection reused by periodic checks, and the store's Storage bucket.
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { engineFor } from '../../engines/index.js';
import type { SupabaseSettings } from '../../engines/supabase/prepare.js';
import { ensureMediaBucket } from '../../engines/supabase/storage.js';
import type { SupabaseTarget } from '../../engines/target.js';
import { assertConfigured, readActiveDatabaseConfig } from '../../master/integrations.js';
import { failJob, markJobWaiting, scheduleNextAttempt } from '../../master/jobs.js';
import { type StoreDeclaration, setDatabaseFacts, setStorageFacts } from '../../master/stores.js';
import { type PreparedJob, prepareStoreJob } from '../../stores/provision-store.js';
import { type ControllerContext, MANAGED_BY_LABELS, type ReconcileResult } from '../context.js';
import { applyConditions } from '../status.js';
import { cachedSecretAccess, ownedSecretValue, readSecret } from './secrets.js';
import { fail, patchStatus } from './status.js';

/**
 * Project first, through the engine's staged contract: found or created (once), then asked again by
 * requeueing until healthy; never blocks a worker. The generated database password lives in an owned
 * Secret, the project ref in status (and the master DB): what the next call carries.
 */
export async function prepareSupabase(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  settings: SupabaseSettings,
  slug: string,
  declaration: StoreDeclaration,
): Promise<{ requeue: ReconcileResult } | { target: SupabaseTarget; job: PreparedJob }> {
  const db = ctx.master.master.db;
  const namespace = sdb.metadata.namespace as string;
  let job: PreparedJob;
  try {
    // A job this StoreDatabase started that is still open (waiting for the project, or abandoned) is resumed.
    job = await prepareStoreJob(ctx.master, declaration, { resumeJobId: sdb.status?.jobId, adopt: 'any' });
  } catch (error) {
    return { requeue: await fail(ctx, sdb, error) };
  }
  const { store: row, jobId } = job;
  const passwordSecret = `${sdb.metadata.name}-supabase`;
  const knownRef = sdb.status?.supabaseProjectRef ?? (row.database_type === 'supabase' ? (row.database_name ?? undefined) : undefined);
  const engine = engineFor('supabase');
  const stage = await (engine.prepare as NonNullable<typeof engine.prepare>)(spec, {
    slug,
    read: (secret, key) => readSecret(ctx, namespace, secret, key),
    carry: knownRef ? { projectRef: knownRef } : {},
    knownSecret: (key) => ownedSecretValue(ctx, sdb, passwordSecret, key),
    keepSecret: async (key, value) => {
      await ctx.kube.applySecret(
        namespace,
        passwordSecret,
        { [key]: value },
        sdb,
        { ...MANAGED_BY_LABELS, 'storeop.dev/storedatabase': sdb.metadata.name },
        cachedSecretAccess(ctx, namespace, passwordSecret),
      );
    },
    record: async (carry) => {
      const ref = String(carry.projectRef);
      await patchStatus(ctx, sdb, { supabaseProjectRef: ref, jobId, storeId: row.id });
      await setDatabaseFacts(db, row.id, {
        status: 'provisioning',
        type: 'supabase',
        host: settings.database.host.replaceAll('{ref}', ref),
        name: ref,
      });
      await ctx.events.record(sdb, 'Normal', 'SupabaseProject', `Supabase project ${ref} (${carry.projectName}) is ${carry.projectStatus}`);
    },
    defaults: { supabaseApiUrl: ctx.supabaseApiUrl },
    pollMs: ctx.supabasePollMs,
  });
  if (stage.state === 'waiting') {
    await markJobWaiting(db, jobId, 'createDatabase', stage.reason);
    await scheduleNextAttempt(db, jobId, stage.retryAfterMs);
    await patchStatus(ctx, sdb, {
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
    return { requeue: await fail(ctx, sdb, stage.error, { jobId, storeId: row.id }) };
  }
  return { target: stage.target as SupabaseTarget, job };
}

/** A Ready Supabase store's periodic check reuses the registered connection: no Management API calls. */
export async function supabaseFromMaster(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  settings: SupabaseSettings,
): Promise<{ target: SupabaseTarget; job?: undefined }> {
  const storeId = sdb.status?.storeId as string;
  const config = assertConfigured(await readActiveDatabaseConfig(ctx.master.master.db, ctx.master.keyring, storeId), storeId);
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
export async function ensureStorage(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  target: SupabaseTarget,
  settings: SupabaseSettings,
  storeId: string,
): Promise<void> {
  const db = ctx.master.master.db;
  if (!target.project.serviceRoleKey) {
    await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'unavailable' });
    await ctx.events.record(sdb, 'Warning', 'StorageUnavailable', 'no service-role key: the media bucket was not created');
    return;
  }
  try {
    const outcome = await ensureMediaBucket(target.project.url, target.project.serviceRoleKey, settings.storageBucket);
    await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'active' });
    if (outcome === 'created')
      await ctx.events.record(sdb, 'Normal', 'StorageBucketCreated', `created Storage bucket ${settings.storageBucket}`);
  } catch (error) {
    await setStorageFacts(db, storeId, { type: 'supabase-storage', status: 'failed' });
    throw error;
  }
}
