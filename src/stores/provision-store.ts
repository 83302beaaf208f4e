// Provisioning with the master DB: the store's row and subscription, a job row that follows the run,
// the password kept (encrypted) before it is used, and the connection registered when the schema is ready.
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { createsStoreRole, secretsOf } from '../engines/target.js';
import { isStoreopError, StoreopError } from '../errors.js';
import { recordAudit } from '../master/audit.js';
import type { MasterDatabase } from '../master/database.js';
import { saveDatabaseConfig, secretsBinding, storedPassword } from '../master/integrations.js';
import { continueStreak, createJob, JobTracker, type StreakOptions } from '../master/jobs.js';
import type { Keyring } from '../master/keyring.js';
import { type DeclaredStoreRow, type StoreDeclaration, type StoreRow, setDatabaseFacts, upsertStore } from '../master/stores.js';
import type { MasterDB, StoredConfig } from '../master/types.js';
import { type ProvisionRequest, type ProvisionResult, provision } from '../provisioning/pipeline.js';

export interface MasterContext {
  master: MasterDatabase;
  keyring: Keyring;
  /** Who acts, for the audit trail ("storeop-apply", "controller", "api:<token id>"). */
  actor: string;
}

export type StoreProvisionRequest = Omit<ProvisionRequest, 'slug' | 'register' | 'persistPassword'>;

export interface PreparedJob {
  store: StoreRow;
  jobId: string;
  /** The job's attempts when it was claimed (0 for a new job): a driver names the attempt without reading the row. */
  attempts?: number;
}

/**
 * Registers (or updates) the store and queues a job for it: what the HTTP API answers 202 with. A job a
 * killed process left queued or running is taken over instead of being left open forever next to a new
 * one. With `resumeJobId` (the operator's status.jobId), that job is continued until it succeeds: one job
 * per failure streak, whose attempts count the retries. A string is `{ resumeJobId, adopt: 'any' }`.
 */
export async function prepareStoreJob(
  ctx: MasterContext,
  store: StoreDeclaration,
  streak: string | StreakOptions = { adopt: 'abandoned' },
  read?: { found: DeclaredStoreRow | undefined },
): Promise<PreparedJob> {
  const row = await upsertStore(ctx.master.db, store, read);
  const options = typeof streak === 'string' ? { resumeJobId: streak, adopt: 'any' as const } : streak;
  const continued = await continueStreak(ctx.master.db, row.id, options);
  if (continued) return { store: row, ...continued };
  const jobId = await createJob(ctx.master.db, row.id);
  return { store: row, jobId, attempts: 0 };
}

/** Runs a prepared job to its end; the job row says succeeded or failed (and why) whatever happens. */
export async function runStoreJob(ctx: MasterContext, job: PreparedJob, request: StoreProvisionRequest): Promise<ProvisionResult> {
  const db = ctx.master.db;
  const { store } = job;
  const tracker = new JobTracker(db, job.jobId);
  let password = request.password;
  try {
    // The job's start, the store's facts and its stored password, side by side: one round trip of waiting
    // instead of three. The password is read before the pipeline changes anything, whatever the target: with
    // the wrong keys the run must stop here rather than take the store for new, rotate its role's password
    // and re-encrypt under those keys.
    const [stored] = await allDone([
      passwordOf(db, ctx.keyring, store),
      tracker.start(),
      store.database_status !== 'active' ? setDatabaseFacts(db, store.id, { status: 'provisioning' }) : undefined,
    ]);
    if (password === undefined && createsStoreRole(request.target)) password = stored;
    const result = await provision({
      ...request,
      slug: store.slug,
      ...(password !== undefined ? { password } : {}),
      persistPassword: (generated) => {
        password = generated; // so that a failure below redacts it too
        return keepPendingPassword(db, ctx.keyring, store.id, request.target.engine, generated);
      },
      onProgress: async (p) => {
        tracker.progress(p);
        await request.onProgress?.(p);
      },
      register: async (result) => {
        const { changed } = await saveDatabaseConfig(db, ctx.keyring, store.id, result.connection);
        // Once the config is active these three are independent: side by side, one round trip of waiting.
        await allDone([
          dropPendingPasswords(db, store.id),
          setDatabaseFacts(db, store.id, {
            status: 'active',
            type: result.connection.engine,
            host: result.connection.host,
            name: result.connection.database,
          }),
          (changed || result.changed) &&
            recordAudit(db, {
              storeId: store.id,
              actor: ctx.actor,
              action: 'store.database.provisioned',
              targetType: 'store',
              targetId: store.slug,
              details: {
                jobId: job.jobId,
                engine: result.connection.engine,
                database: result.connection.database,
                changes: result.applied.length,
                configChanged: changed,
              },
            }),
        ]);
      },
    });
    await tracker.succeed(result.changed ? 'store database ready' : 'store database ready; nothing changed', result);
    return result;
  } catch (error) {
    const secrets = [password, ...secretsOf(request.target)];
    await tracker.fail(error, secrets).catch(() => {});
    await setDatabaseFacts(db, store.id, { status: store.database_status === 'active' ? 'active' : 'failed' }).catch(() => {});
    await recordAudit(db, {
      storeId: store.id,
      actor: ctx.actor,
      action: 'store.database.failed',
      targetType: 'store',
      targetId: store.slug,
      details: { jobId: job.jobId, code: error instanceof StoreopError ? error.code : 'ProvisioningFailed' },
    }).catch(() => {});
    throw error;
  }
}

/**
 * Promise.all that waits for every write to end before it throws the first failure: the failure path then
 * writes the job's and the store's state after them, never under a write still in flight.
 */
async function allDone<const T extends readonly unknown[]>(work: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

export async function provisionStore(
  ctx: MasterContext,
  store: StoreDeclaration,
  request: StoreProvisionRequest,
): Promise<PreparedJob & { result: ProvisionResult }> {
  const job = await prepareStoreJob(ctx, store);
  const result = await runStoreJob(ctx, job, request);
  return { ...job, result };
}

/** The password the store's role already has (active config, else a pending one); DecryptionFailed names the store. */
async function passwordOf(db: Kysely<MasterDB>, keyring: Keyring, store: StoreRow): Promise<string | undefined> {
  try {
    return await storedPassword(db, keyring, store.id);
  } catch (error) {
    if (!isStoreopError(error, 'DecryptionFailed')) throw error;
    throw new StoreopError(
      'DecryptionFailed',
      `cannot read the stored credentials of store ${store.slug}, so nothing was changed: ${error.message}; ` +
        'STOREOP_ENCRYPTION_KEYS must list the key they were encrypted with',
      { retryable: false, cause: error },
    );
  }
}

// A generated password is kept encrypted in an inactive config row before the role is created with it,
// so a crash between the two cannot lose it; the next run re-adopts the role with the same password.

export async function keepPendingPassword(
  db: Kysely<MasterDB>,
  keyring: Keyring,
  storeId: string,
  engine: string,
  password: string,
): Promise<void> {
  const id = randomUUID(); // chosen here: the envelope is bound to the row's id
  const config: StoredConfig = {
    connection: { pending: true, engine },
    secrets: keyring.encrypt(JSON.stringify({ password }), secretsBinding(storeId, id)),
  };
  await db
    .insertInto('integration_configs')
    .values({
      id,
      store_id: storeId,
      integration_type: engine === 'mysql' ? 'mysql' : 'postgresql',
      config_data: JSON.stringify(config),
      is_active: false,
    })
    .execute();
}

export async function pendingPassword(db: Kysely<MasterDB>, keyring: Keyring, storeId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('integration_configs')
    .select(['id', 'config_data'])
    .where('store_id', '=', storeId)
    .where('is_active', '=', false)
    .where(sql<boolean>`(config_data -> 'connection' ->> 'pending') = 'true'`)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!row?.config_data.secrets) return undefined;
  return (JSON.parse(keyring.decrypt(row.config_data.secrets, secretsBinding(storeId, row.id))) as { password?: string }).password;
}

/** Forgets the pending passwords once the one in use is in the active config. */
export async function dropPendingPasswords(db: Kysely<MasterDB>, storeId: string): Promise<void> {
  await db
    .deleteFrom('integration_configs')
    .where('store_id', '=', storeId)
    .where('is_active', '=', false)
    .where(sql<boolean>`(config_data -> 'connection' ->> 'pending') = 'true'`)
    .execute();
}
