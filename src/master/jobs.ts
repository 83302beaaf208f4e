// Provisioning jobs: a row per failure streak that follows it from queued to succeeded or failed (a retry
// reopens the job and counts an attempt). Progress writes are throttled to one per window, step changes
// included (a terminal state always writes, with the last step): a job of a few hundred milliseconds costs
// its start and its end, not a write per step or table.
import { hostname } from 'node:os';
import { type Kysely, type RawBuilder, type Selectable, sql, type Updateable } from 'kysely';
import { isStoreopError, redactSecrets } from '../errors.js';
import type { Progress } from '../provisioning/progress.js';
import type { MasterDB, ProvisioningJobsTable } from './types.js';

export type JobRow = Selectable<ProvisioningJobsTable>;
type JobUpdate = { [K in keyof Updateable<ProvisioningJobsTable>]: Updateable<ProvisioningJobsTable>[K] | RawBuilder<unknown> };

/** Identifies this process in job rows, so a restarted server can tell its abandoned jobs. */
export const RUNNER_ID = `${hostname()}:${process.pid}`;

export async function createJob(db: Kysely<MasterDB>, storeId: string): Promise<string> {
  const row = await db
    .insertInto('provisioning_jobs')
    // The runner is recorded from the start: a queued job belongs to a live process too, and another server
    // sweeping abandoned jobs (a second replica, a rolling restart) must not fail it.
    .values({ store_id: storeId, status: 'queued', message: 'queued', runner: RUNNER_ID })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function getJob(db: Kysely<MasterDB>, jobId: string): Promise<JobRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(jobId)) return undefined;
  return db.selectFrom('provisioning_jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
}

export class JobTracker {
  #last: Progress | undefined;
  #lastWrite = 0;
  #pending: Progress | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<MasterDB>,
    readonly jobId: string,
    private readonly throttleMs = 500,
  ) {}

  async start(): Promise<void> {
    this.#lastWrite = Date.now();
    await this.#write({
      status: 'running',
      started_at: sql`now()`,
      runner: RUNNER_ID,
      attempts: sql`attempts + 1`,
      next_attempt_at: null,
      message: 'started',
      error: null,
      error_code: null,
      finished_at: null,
    });
  }

  /**
   * Records progress; safe to call for every event (throttled, never lowers progress). The window starts with
   * the job: the newest progress is written once it has passed, so each step of a slow job still shows.
   */
  progress(p: Progress): void {
    this.#last = p;
    const now = Date.now();
    if (now - this.#lastWrite >= this.throttleMs) {
      this.#flushNow(p);
      return;
    }
    this.#pending = p;
    this.#timer ??= setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#pending) this.#flushNow(this.#pending);
      },
      this.throttleMs - (now - this.#lastWrite),
    );
  }

  async succeed(message: string, tables: { tablesCreated: number; totalTables: number }): Promise<void> {
    this.#cancelPending();
    await this.#writes;
    await this.#write({
      status: 'succeeded',
      step: 'register',
      progress: 100,
      message,
      tables_created: tables.tablesCreated,
      total_tables: tables.totalTables,
      finished_at: sql`now()`,
    });
  }

  async fail(error: unknown, secrets: readonly (string | undefined)[] = []): Promise<void> {
    this.#cancelPending();
    await this.#writes;
    const message = redactSecrets(error instanceof Error ? error.message : String(error), secrets);
    await this.#write({
      status: 'failed',
      error: message,
      last_error: message,
      error_code: isStoreopError(error) ? error.code : 'ProvisioningFailed',
      // The step it failed in, which a throttled progress write may not have recorded yet.
      ...(this.#last ? { step: this.#last.step } : {}),
      message: `failed${this.#last ? ` during ${this.#last.step}` : ''}`,
      finished_at: sql`now()`,
    });
  }

  #cancelPending(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
  }

  #flushNow(p: Progress): void {
    this.#pending = undefined;
    this.#lastWrite = Date.now();
    this.#writes = this.#writes.then(
      () =>
        this.#write({
          step: p.step,
          // Never lower progress, even if writes arrive out of order.
          progress: sql`greatest(progress, ${p.percent})`,
          message: p.message,
          tables_created: p.tablesCreated,
          total_tables: p.totalTables,
        }).catch(() => {}), // a lost progress write must not fail the provisioning run
    );
  }

  async #write(values: JobUpdate): Promise<void> {
    await this.db
      .updateTable('provisioning_jobs')
      .set({ ...(values as object), updated_at: sql`now()` })
      .where('id', '=', this.jobId)
      .execute();
  }
}

/** Marks jobs left queued or running by processes that are gone as failed, with the reason. */
export async function failAbandonedJobs(db: Kysely<MasterDB>, isAlive: (runner: string) => boolean): Promise<number> {
  const open = await db.selectFrom('provisioning_jobs').select(['id', 'runner']).where('status', 'in', ['queued', 'running']).execute();
  const abandoned = open.filter((j) => !j.runner || !isAlive(j.runner)).map((j) => j.id);
  if (!abandoned.length) return 0;
  await db
    .updateTable('provisioning_jobs')
    .set({
      status: 'failed',
      error: 'interrupted: the process running this job stopped before it finished',
      error_code: 'ProvisioningFailed',
      finished_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', 'in', abandoned)
    .execute();
  // Their stores said 'provisioning' (a store with an active database keeps 'active'): with no job left
  // to finish it, that would stay true forever.
  await db
    .updateTable('stores')
    .set({ database_status: 'failed', updated_at: sql`now()` })
    .where('database_status', '=', 'provisioning')
    .where('id', 'in', db.selectFrom('provisioning_jobs').select('store_id').where('id', 'in', abandoned))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('provisioning_jobs as j')
            .select('j.id')
            .whereRef('j.store_id', '=', 'stores.id')
            .where('j.status', 'in', ['queued', 'running']),
        ),
      ),
    )
    .execute();
  return abandoned.length;
}

/** Shows a job waiting on something outside storeop (a Supabase project coming up) without finishing it. */
export async function markJobWaiting(db: Kysely<MasterDB>, jobId: string, step: string, message: string): Promise<void> {
  await db
    .updateTable('provisioning_jobs')
    .set({
      status: 'running',
      step,
      message,
      runner: RUNNER_ID,
      started_at: sql`coalesce(started_at, now())`,
      progress: sql`greatest(progress, 5)`,
      updated_at: sql`now()`,
    })
    .where('id', '=', jobId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
}

/** Fails a job that never reached the pipeline (a Supabase project that failed to come up). */
export async function failJob(db: Kysely<MasterDB>, jobId: string, code: string, error: string): Promise<void> {
  await db
    .updateTable('provisioning_jobs')
    .set({ status: 'failed', error, last_error: error, error_code: code, finished_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', jobId)
    .execute();
}

/** Records when the driver will try a job again (its backoff or a poll interval), for people reading the row. */
export async function scheduleNextAttempt(db: Kysely<MasterDB>, jobId: string, afterMs: number): Promise<void> {
  await db
    .updateTable('provisioning_jobs')
    .set({ next_attempt_at: new Date(Date.now() + Math.max(0, Math.round(afterMs))), updated_at: sql`now()` })
    .where('id', '=', jobId)
    .where('status', '<>', 'succeeded')
    .execute();
}

/** A job's runner is "host:pid"; on this host a dead pid means the job was abandoned. */
export function runnerAlive(runner: string): boolean {
  const at = runner.lastIndexOf(':');
  if (runner.slice(0, at) !== hostname()) return true; // another host: not ours to judge
  const pid = Number(runner.slice(at + 1));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface StreakOptions {
  /** The job the driver recorded for this store (the operator's status.jobId): continued unless it succeeded. */
  resumeJobId?: string | undefined;
  /**
   * Which open (queued/running) jobs of the store may be taken over: 'any' for a driver that is the store's
   * only runner (the operator, behind its leader lease), else those whose runner is gone.
   */
  adopt: 'any' | 'abandoned';
  isAlive?: (runner: string) => boolean;
}

/**
 * The job a new run of a store continues, if any: the driver's own job while its streak has not succeeded,
 * else the newest open job a crashed process left behind (a job created and killed before it ran). The
 * other adoptable open jobs are closed, so no job stays queued forever beside the one that runs.
 */
export async function continueStreak(
  db: Kysely<MasterDB>,
  storeId: string,
  options: StreakOptions,
): Promise<{ jobId: string; attempts: number } | undefined> {
  const isAlive = options.isAlive ?? runnerAlive;
  const resumed = options.resumeJobId ? await getJob(db, options.resumeJobId) : undefined;
  const own = resumed && resumed.store_id === storeId && resumed.status !== 'succeeded' ? resumed.id : undefined;
  const open = await db
    .selectFrom('provisioning_jobs')
    .select(['id', 'runner'])
    .where('store_id', '=', storeId)
    .where('status', 'in', ['queued', 'running'])
    .orderBy('created_at', 'desc')
    .execute();
  const adoptable = open.filter((j) => j.id !== own && (options.adopt === 'any' || !j.runner || !isAlive(j.runner)));
  const chosen = own ?? adoptable[0]?.id;
  if (!chosen) return undefined;
  const superseded = adoptable.map((j) => j.id).filter((id) => id !== chosen);
  if (superseded.length)
    await db
      .updateTable('provisioning_jobs')
      .set({
        status: 'failed',
        error: `superseded by job ${chosen}: the process that created this job stopped before it ran`,
        error_code: 'ProvisioningFailed',
        finished_at: sql`now()`,
        updated_at: sql`now()`,
      })
      .where('id', 'in', superseded)
      .where('status', 'in', ['queued', 'running'])
      .execute();
  // Claimed by this process, so a sweep of abandoned jobs elsewhere leaves it alone.
  const claimed = await db
    .updateTable('provisioning_jobs')
    .set({ runner: RUNNER_ID, updated_at: sql`now()` })
    .where('id', '=', chosen)
    .returning('attempts')
    .executeTakeFirst();
  return { jobId: chosen, attempts: claimed?.attempts ?? 0 };
}
