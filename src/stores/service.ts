// The store service: applies a StoreIntent whichever driver built it. One place decides conflicts between
// sources, refuses changes of immutable fields (recorded in the master DB), creates or resumes the job,
// suspends and resumes, and deletes by the deletion policy. The drivers only translate.
import { type Kysely, sql } from 'kysely';
import { storeDatabaseTemplateSpec } from '../api/store-database.js';
import { type EgressPolicy, withEgressPolicy } from '../engines/egress.js';
import { engineFor } from '../engines/index.js';
import { createsStoreRole, type DatabaseTarget } from '../engines/target.js';
import { isStoreopError, StoreopError } from '../errors.js';
import { recordAudit } from '../master/audit.js';
import { deactivateDatabaseConfig } from '../master/integrations.js';
import { failJob, JobTracker } from '../master/jobs.js';
import {
  type DeclaredStoreRow,
  findStore,
  readDeclaredStore,
  type StoreRow,
  setDatabaseFacts,
  storeRow,
  upsertStore,
} from '../master/stores.js';
import type { MasterDB } from '../master/types.js';
import type { ProvisionResult } from '../provisioning/pipeline.js';
import type { Progress } from '../provisioning/progress.js';
import type { TargetSchema } from '../schema/target-schema.js';
import { assertSameIdentity, type DatabaseIdentity, IdentityChangedError, identityChanges } from './identity.js';
import { type DeletionPolicy, knownTarget, type StoreIntent } from './intent.js';
import { describePlacement, type Placement, placement } from './placement.js';
import { type StagedTargetOptions, targetFor } from './prepare-store.js';
import { type MasterContext, type PreparedJob, prepareStoreJob, runStoreJob } from './provision-store.js';
import { resolveTarget } from './resolve-target.js';

export type { MasterContext };

const PGLITE_DEFAULTS = storeDatabaseTemplateSpec.parse({ engine: 'pglite' });

/**
 * Checks, without writing anything, that the intent may act on its slug: no other source declared it,
 * and its database is the one recorded for the store. Returns the store's row when it exists.
 */
export async function checkClaim(db: Kysely<MasterDB>, intent: StoreIntent): Promise<StoreRow | undefined> {
  const found = await checkDeclaredClaim(db, intent);
  return found && storeRow(found);
}

/** checkClaim, answering the row as readDeclaredStore reads it: the upsert that follows needs no second read. */
async function checkDeclaredClaim(db: Kysely<MasterDB>, intent: StoreIntent): Promise<DeclaredStoreRow | undefined> {
  const existing = await readDeclaredStore(db, intent.slug);
  if (!existing) return undefined;
  const target = knownTarget(intent);
  if (existing.source && existing.source !== intent.declaration.source)
    throw new StoreopError('Conflict', `store slug ${intent.slug} already belongs to ${existing.source}`, { retryable: false });
  if (existing.database_identity) {
    assertSameIdentity(intent.slug, existing.database_identity, intent.identity);
  } else if (target) {
    // Provisioned before identities were recorded: the registered connection tells where its database is.
    const active = existing.active_connection;
    const has = active ? describePlacement(active as unknown as Placement) : undefined;
    const wants = describePlacement(placement(target, intent.slug));
    if (has && has !== wants) throw new IdentityChangedError(intent.slug, [`database (was ${has}, now ${wants})`]);
  }
  return existing;
}

/** The store's newest job that is still queued or running, if any. */
export async function openJobOf(db: Kysely<MasterDB>, storeId: string): Promise<string | undefined> {
  const open = await db
    .selectFrom('provisioning_jobs')
    .select('id')
    .where('store_id', '=', storeId)
    .where('status', 'in', ['queued', 'running'])
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return open?.id;
}

export interface ClaimOptions {
  /** A job to take over when it is still open (the controller's status.jobId). */
  resumeJobId?: string | undefined;
  /** Which open jobs of the store a new run adopts: any (the operator), or only those of a dead process (default). */
  adopt?: 'any' | 'abandoned';
}

/** Checks the claim, then registers (or updates) the store and creates or resumes its job. */
export async function claimStore(ctx: MasterContext, intent: StoreIntent, options: ClaimOptions = {}): Promise<PreparedJob> {
  const found = await checkDeclaredClaim(ctx.master.db, intent);
  // The job the driver recorded is continued (one job per failure streak); otherwise an open job is taken
  // over when its runner is gone (a killed `storeop apply`), or whoever left it when adopt is 'any'.
  return prepareStoreJob(
    ctx,
    intent.declaration,
    { resumeJobId: options.resumeJobId, adopt: options.resumeJobId ? 'any' : (options.adopt ?? 'abandoned') },
    { found },
  );
}

export interface ApplyOptions extends ClaimOptions {
  /** A job already claimed (the API claims when it accepts, and runs later). */
  job?: PreparedJob;
  /** The store role's password when the driver keeps it (the controller's connection Secret). */
  password?: string | undefined;
  onProgress?: (p: Progress) => void | Promise<void>;
  /** How a staged engine (Supabase) is waited for before the job provisions it. */
  staged?: StagedTargetOptions;
  /** Hosts the job may reach (storeop api, or apply with --egress-*): checked and pinned for the whole run. */
  egress?: EgressPolicy;
  /**
   * The store schema to provision (a Store's spec.schemaRef resolved, or the version a rollout admitted it
   * to); default: storeop's built-in schema.
   */
  schema?: TargetSchema | undefined;
}

const DEFAULT_STAGED: StagedTargetOptions = { deadlineMs: 15 * 60_000 };

export type ApplyOutcome = { kind: 'ready'; job: PreparedJob; result: ProvisionResult } | { kind: 'suspended'; job: PreparedJob };

/** Makes the store what the intent says: provisioned and ready, or suspended. Idempotent. */
export async function applyIntent(ctx: MasterContext, intent: StoreIntent, options: ApplyOptions = {}): Promise<ApplyOutcome> {
  const job = options.job ?? (await claimStore(ctx, intent, options));
  if (intent.suspend) {
    await suspendStore(ctx, intent, job);
    return { kind: 'suspended', job };
  }
  if (job.store.database_status === 'suspended') await resumeStore(ctx, intent, job.store);
  // A staged engine's target is known once its project is ready; every other engine's already is.
  const target = knownTarget(intent) ?? (await stagedTarget(ctx, job, intent, options));
  const run = () =>
    runStoreJob(ctx, job, {
      target,
      seed: intent.seed,
      ...(options.schema ? { schema: options.schema } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  const result = await (options.egress ? withEgressPolicy(options.egress, target, run) : run());
  await recordIdentity(ctx.master.db, job.store, intent.identity, intent.deletionPolicy);
  return { kind: 'ready', job, result };
}

/**
 * A staged engine's target, once its project is ready. Under an egress policy the Management API URL a
 * request names is checked first: storeop would otherwise send HTTPS requests wherever a caller points it.
 */
async function stagedTarget(ctx: MasterContext, job: PreparedJob, intent: StoreIntent, options: ApplyOptions): Promise<DatabaseTarget> {
  const apiUrl = intent.database.supabase?.apiUrl;
  if (options.egress && apiUrl) {
    try {
      await options.egress.resolve(new URL(apiUrl).hostname);
    } catch (error) {
      await failJob(ctx.master.db, job.jobId, isStoreopError(error) ? error.code : 'ConnectionFailed', (error as Error).message).catch(
        () => {},
      );
      throw error;
    }
  }
  return targetFor(ctx, job, intent.resolution, options.staged ?? DEFAULT_STAGED);
}

/**
 * Records the identity the store's database was provisioned with (once: later applies compare against it)
 * and the deletion policy (every time: it may change).
 */
export async function recordIdentity(
  db: Kysely<MasterDB>,
  store: Pick<StoreRow, 'id'>,
  identity: DatabaseIdentity,
  policy: DeletionPolicy,
): Promise<void> {
  // One statement: a recorded identity is kept (coalesce), and a row that already says both is not written.
  await db
    .updateTable('stores')
    .set({ database_identity: sql`coalesce(database_identity, ${JSON.stringify(identity)}::jsonb)`, deletion_policy: policy })
    .where('id', '=', store.id)
    .where((eb) => eb.or([eb('database_identity', 'is', null), eb('deletion_policy', 'is distinct from', policy)]))
    .execute();
}

/**
 * Suspends the store: its role's login disabled (create mode, once the store has a database) and the store
 * marked suspended. With a job, the job records it (the API answers with one); idempotent.
 */
export async function suspendStore(ctx: MasterContext, intent: StoreIntent, job?: PreparedJob): Promise<StoreRow> {
  const db = ctx.master.db;
  const row = job?.store ?? (await checkClaim(db, intent)) ?? (await upsertStore(db, intent.declaration));
  const tracker = job ? new JobTracker(db, job.jobId) : undefined;
  await tracker?.start();
  try {
    if (row.database_status !== 'suspended') {
      await setStoreLogin(intent, row, false);
      await setDatabaseFacts(db, row.id, { status: 'suspended' });
      await recordAudit(db, { storeId: row.id, actor: ctx.actor, action: 'store.suspended', targetType: 'store', targetId: intent.slug });
    }
    await tracker?.succeed('store suspended: its database login is disabled', { tablesCreated: 0, totalTables: 0 });
  } catch (error) {
    await tracker?.fail(error).catch(() => {});
    throw error;
  }
  return row;
}

/** Re-enables a suspended store's login; provisioning then marks it active again. */
export async function resumeStore(ctx: MasterContext, intent: StoreIntent, row: StoreRow): Promise<void> {
  await setStoreLogin(intent, row, true);
  await recordAudit(ctx.master.db, {
    storeId: row.id,
    actor: ctx.actor,
    action: 'store.resumed',
    targetType: 'store',
    targetId: intent.slug,
  });
}

/** Enables or disables the store role's login: only a create-mode store has one, once it has a database. */
async function setStoreLogin(intent: StoreIntent, row: StoreRow, enabled: boolean): Promise<void> {
  const target = knownTarget(intent);
  if (target && createsStoreRole(target) && row.database_type) await engineFor(target.engine).setLoginEnabled(target, intent.slug, enabled);
}

export interface DeleteRequest {
  slug: string;
  /** Who deletes: only the source that declared the store may (a store without a source: anyone). */
  source: string;
  /** The policy of the manifest; without one, the policy recorded for the store (default Retain). */
  policy?: DeletionPolicy | undefined;
  /** The database as the manifest describes it now: required to drop a create-mode server database. */
  intent?: { identity: DatabaseIdentity; target: DatabaseTarget | undefined } | undefined;
  /** storeop's local folder: where an embedded (PGlite) store lives when its path was not set. */
  home?: string | undefined;
}

export interface DeleteOutcome {
  slug: string;
  policy: DeletionPolicy;
  /** What happened to the database: dropped, kept, or there was no store to delete. */
  outcome: 'dropped' | 'retained' | 'absent';
}

/**
 * Deletes a store by its deletion policy. Retain detaches it (its database and role are kept); Delete drops
 * them first, in create mode only, and only the database recorded as provisioned: a manifest whose
 * immutable fields changed since is refused, so the database storeop created is the one dropped.
 */
export async function deleteStore(ctx: MasterContext, request: DeleteRequest): Promise<DeleteOutcome> {
  const db = ctx.master.db;
  const row = await findStore(db, request.slug);
  const policy: DeletionPolicy = request.policy ?? row?.deletion_policy ?? 'Retain';
  if (!row) return { slug: request.slug, policy, outcome: 'absent' };
  if (row.source && row.source !== request.source)
    throw new StoreopError('Conflict', `store slug ${request.slug} belongs to ${row.source}, not ${request.source}`, { retryable: false });
  let outcome: DeleteOutcome['outcome'] = 'retained';
  const intent = request.intent;
  const recorded = row.database_identity;
  if (policy === 'Delete' && recorded && intent) {
    const changed = identityChanges(recorded, intent.identity);
    if (changed.length)
      throw new StoreopError(
        'InvalidSpec',
        `immutable field(s) changed since provisioning: ${changed.join(', ')}; revert them so that the database storeop created is the one dropped`,
        { retryable: false },
      );
  }
  // Without a recorded identity (a store that never became ready) the manifest says where a failed attempt
  // may have left a database; the engines drop only what storeop created there.
  const identity = recorded ?? intent?.identity;
  if (policy === 'Delete' && identity?.mode === 'create' && identity.engine !== 'supabase') {
    // An embedded store needs no credentials: its recorded identity says which folder to remove.
    const target =
      intent?.target ??
      (identity.engine === 'pglite' && request.home
        ? await resolveTarget(
            { ...PGLITE_DEFAULTS, ...(typeof identity.path === 'string' ? { path: identity.path } : {}) },
            async () => undefined,
            { home: request.home, slug: request.slug },
          )
        : undefined);
    if (!target)
      throw new StoreopError(
        'InvalidSpec',
        `store ${request.slug} has deletionPolicy Delete: give its manifest (-f) so that storeop can reach the server as its admin`,
        { retryable: false },
      );
    await engineFor(target.engine).deprovision(target, request.slug);
    outcome = 'dropped';
  }
  await deactivateDatabaseConfig(db, row.id);
  await setDatabaseFacts(db, row.id, { status: 'detached' });
  // A deleted store's slug may be declared again, for any database (and placed afresh).
  await db.updateTable('stores').set({ database_identity: null, database_server: null }).where('id', '=', row.id).execute();
  await recordAudit(db, {
    storeId: row.id,
    actor: ctx.actor,
    action: `store.database.${outcome}`,
    targetType: 'store',
    targetId: request.slug,
    details: { deletionPolicy: policy, database: outcome },
  });
  return { slug: request.slug, policy, outcome };
}
