// Runs provisioning jobs accepted by the API in this process, a bounded number at a time. A store that
// already has a queued or running job gets that job back instead of a second one.
import { ownValue } from '../api/common.js';
import { type EgressPolicy, withEgressPolicy } from '../engines/egress.js';
import { engineFor } from '../engines/index.js';
import { type DatabaseTarget, secretsOf, type TenantConnection } from '../engines/target.js';
import { redactSecrets, StoreopError } from '../errors.js';
import type { Logger } from '../log.js';
import { findStore, type StoreDeclaration } from '../master/stores.js';
import type { SeedSettings } from '../provisioning/seed.js';
import { type StagedTargetOptions, targetFor } from '../stores/prepare-store.js';
import { type MasterContext, type PreparedJob, prepareStoreJob, runStoreJob } from '../stores/provision-store.js';
import { type Resolution, resolveStaged } from '../stores/resolve-staged.js';
import { TooManyRequests } from './rate-limit.js';
import type { ProvisionRequestBody } from './schemas.js';

interface Submission {
  declaration: StoreDeclaration;
  resolution: Resolution;
  seed: false | SeedSettings;
}

/** Where a target puts the store's tables, as the connection the engine registers describes it. */
function targetPlace(target: DatabaseTarget, slug: string): Partial<TenantConnection> {
  return engineFor(target.engine).placement(target, slug);
}

const placeOf = (c: Partial<TenantConnection>): string =>
  `${c.engine} ${c.engine === 'pglite' ? '' : `${c.host}:${c.port}/`}${c.database}${c.schema && c.schema !== 'public' ? ` schema ${c.schema}` : ''}`;

export interface Provisioner {
  /** Accepts a validated request; throws InvalidSpec (bad database spec) or Conflict (slug owned elsewhere). */
  submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }>;
  /** Resolves when every accepted job has finished (for shutdown). */
  drain(): Promise<void>;
}

/** A guess at when a slot frees up: provisioning one store takes seconds to a minute. */
const QUEUE_FULL_RETRY_SECONDS = 10;

export class LocalProvisioner implements Provisioner {
  readonly #queue: Array<() => Promise<void>> = [];
  readonly #running = new Set<Promise<void>>();
  /** Per-slug lock: concurrent submissions for one store are decided one after the other. */
  readonly #submitting = new Map<string, Promise<unknown>>();
  /** Submissions past the queue check whose job is not queued yet: they count against maxQueued too. */
  #admitting = 0;

  constructor(
    private readonly ctx: MasterContext,
    private readonly log: Logger,
    private readonly home: string,
    private readonly concurrency = 4,
    /** How a staged engine (Supabase) is waited for inside a job. */
    private readonly staged: StagedTargetOptions = { deadlineMs: 15 * 60_000 },
    /** Where API callers may point jobs (checked and pinned per job); none = anywhere. */
    private readonly egress?: EgressPolicy,
    /** Jobs that may wait for a slot; beyond, submit throws TooManyRequests (HTTP 429) instead of queueing in memory. */
    private readonly maxQueued = 100,
  ) {}

  async submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }> {
    const { store, database, secrets } = body;
    const resolution = await resolveStaged(database, async (name, key) => ownValue(ownValue(secrets, name), key), {
      home: this.home,
      slug: store.slug,
      defaults: this.staged.defaults,
    });
    const submission: Submission = {
      declaration: { slug: store.slug, name: store.displayName, ownerEmail: store.owner, plan: store.plan, source: 'api' },
      resolution,
      seed: database.seed
        ? { currency: store.settings?.currency ?? 'USD', locale: store.settings?.locale ?? 'en-US', displayName: store.displayName }
        : false,
    };
    const slug = store.slug;
    const previous = this.#submitting.get(slug) ?? Promise.resolve();
    const decided = previous.catch(() => undefined).then(() => this.#decide(submission));
    this.#submitting.set(slug, decided);
    try {
      return await decided;
    } finally {
      if (this.#submitting.get(slug) === decided) this.#submitting.delete(slug);
    }
  }

  async #decide(submission: Submission): Promise<{ jobId: string; storeId: string }> {
    const db = this.ctx.master.db;
    const existing = await findStore(db, submission.declaration.slug);
    if (existing?.source && existing.source !== 'api') {
      throw new StoreopError('Conflict', `store slug ${existing.slug} belongs to another store (declared by ${existing.source})`, {
        retryable: false,
      });
    }
    if (existing?.owner_id && submission.declaration.ownerEmail) {
      // Over the API a store is its slug and its owner: the same slug for another owner is another store.
      const owner = await db.selectFrom('users').select('email').where('id', '=', existing.owner_id).executeTakeFirst();
      if (owner && owner.email !== submission.declaration.ownerEmail.toLowerCase())
        throw new StoreopError('Conflict', `store slug ${existing.slug} belongs to another owner`, { retryable: false });
    }
    if (existing) {
      // A store that already has its database keeps it: a request for another one (another engine, server,
      // database or schema) would leave that database behind and hand the store's apps a different one.
      // The operator refuses such a change as immutable; over the API it means the slug is another store's.
      const active = await db
        .selectFrom('integration_configs')
        .select('config_data')
        .where('store_id', '=', existing.id)
        .where('is_active', '=', true)
        .executeTakeFirst();
      const has = active ? placeOf(active.config_data.connection as Partial<TenantConnection>) : undefined;
      const { resolution } = submission;
      // A staged engine's place (the project) is known once prepared: the engine is what can be compared now.
      const wants =
        resolution.kind === 'target'
          ? placeOf(targetPlace(resolution.target, existing.slug))
          : has?.startsWith(`${resolution.engine} `)
            ? has
            : `${resolution.engine} project`;
      if (has && has !== wants)
        throw new StoreopError('Conflict', `store slug ${existing.slug} belongs to another store, whose database is ${has}, not ${wants}`, {
          retryable: false,
        });
      const open = await db
        .selectFrom('provisioning_jobs')
        .select('id')
        .where('store_id', '=', existing.id)
        .where('status', 'in', ['queued', 'running'])
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      if (open) return { jobId: open.id, storeId: existing.id };
    }
    const waiting = this.#queue.length + this.#admitting;
    if (this.#running.size + waiting >= this.concurrency && waiting >= this.maxQueued)
      throw new TooManyRequests(`the job queue is full (${this.maxQueued} jobs waiting)`, QUEUE_FULL_RETRY_SECONDS);
    this.#admitting += 1;
    try {
      const job = await prepareStoreJob(this.ctx, submission.declaration);
      this.#enqueue(job, submission);
      return { jobId: job.jobId, storeId: job.store.id };
    } finally {
      this.#admitting -= 1;
    }
  }

  #enqueue(job: PreparedJob, submission: Submission): void {
    this.#queue.push(async () => {
      // The target is known only now for a staged engine (a Supabase project); the egress policy pins
      // the addresses of whatever hosts it names before the job connects to them.
      let target: DatabaseTarget | undefined;
      try {
        const resolved = await targetFor(this.ctx, job, submission.resolution, this.staged);
        target = resolved;
        const run = () => runStoreJob(this.ctx, job, { target: resolved, seed: submission.seed });
        await (this.egress ? withEgressPolicy(this.egress, resolved, run) : run());
      } catch (error) {
        // The log keeps the reason (already free of secrets); API callers only see a generic one for
        // connection failures (publicJobError), so a job's error is no port scanner.
        this.log.warn(
          {
            jobId: job.jobId,
            store: job.store.slug,
            code: (error as StoreopError).code,
            reason: redactSecrets((error as Error).message, target ? secretsOf(target) : []),
          },
          'provisioning job failed',
        );
      }
    });
    this.#pump();
  }

  #pump(): void {
    while (this.#running.size < this.concurrency && this.#queue.length) {
      const task = this.#queue.shift() as () => Promise<void>;
      const running: Promise<void> = task().finally(() => {
        this.#running.delete(running);
        this.#pump();
      });
      this.#running.add(running);
    }
  }

  async drain(): Promise<void> {
    while (this.#running.size || this.#queue.length) await Promise.all([...this.#running]);
  }
}
