// Runs provisioning jobs accepted by the API in this process, a bounded number at a time, through the
// store service (the same intent, checks, suspension and deletion as storeop apply and the controller). A
// store that already has a queued or running job gets that job back instead of a second one.
import { ownValue } from '../api/common.js';
import type { EgressPolicy } from '../engines/egress.js';
import { secretsOf } from '../engines/target.js';
import { isStoreopError, redactSecrets, StoreopError } from '../errors.js';
import type { Logger } from '../log.js';
import { findStore } from '../master/stores.js';
import { IdentityChangedError } from '../stores/identity.js';
import { buildIntent, knownTarget, type StoreIntent } from '../stores/intent.js';
import type { StagedTargetOptions } from '../stores/prepare-store.js';
import type { MasterContext, PreparedJob } from '../stores/provision-store.js';
import { applyIntent, checkClaim, claimStore, type DeleteOutcome, deleteStore, openJobOf } from '../stores/service.js';
import { TooManyRequests } from './rate-limit.js';
import type { DeleteRequestBody, ProvisionRequestBody } from './schemas.js';

// How long a client is asked to wait when the job queue is full: about one job's length.
const QUEUE_FULL_RETRY_SECONDS = 10;

/** The source of the stores this API declares: another source's slug is a 409. */
export const API_SOURCE = 'api';

export interface Provisioner {
  /** Accepts a validated request; throws InvalidSpec (bad database spec) or Conflict (slug owned elsewhere). */
  submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }>;
  /**
   * Deletes a store this API declared, by its deletionPolicy (the body's database spec, else the one recorded);
   * Delete on a server needs the body's database spec and Secrets. Throws Conflict for another source's store.
   * In cluster mode there is none: the Store object is deleted and the controller honours its policy.
   */
  remove?(slug: string, body: DeleteRequestBody): Promise<DeleteOutcome>;
  /** Resolves when every accepted job has finished (for shutdown). */
  drain(): Promise<void>;
}

export interface LocalProvisionerOptions {
  /** The master DB, keyring and actor the jobs run with. */
  master: MasterContext;
  log: Logger;
  /** storeop's local folder: where an embedded (PGlite) store lives when its path is not set. */
  home: string;
  /** Jobs run at once; default 4. */
  concurrency?: number;
  /** Jobs that may wait for a slot, default 100; beyond, submit throws TooManyRequests (HTTP 429) instead of queueing in memory. */
  maxQueued?: number;
  /** How a staged engine (Supabase) is waited for inside a job; default: the store service's (a 15-minute deadline). */
  staged?: StagedTargetOptions;
  /** Where API callers may point jobs (checked and pinned per job); default: anywhere. */
  egress?: EgressPolicy;
}

export class LocalProvisioner implements Provisioner {
  readonly #queue: Array<() => Promise<void>> = [];
  readonly #running = new Set<Promise<void>>();
  /** Per-slug lock: concurrent submissions for one store are decided one after the other. */
  readonly #submitting = new Map<string, Promise<unknown>>();
  /** Submissions past the queue check that have not reached the queue yet (their job row is being written). */
  #admitting = 0;
  private readonly ctx: MasterContext;
  private readonly log: Logger;
  private readonly home: string;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly staged: StagedTargetOptions | undefined;
  private readonly egress: EgressPolicy | undefined;

  constructor(options: LocalProvisionerOptions) {
    this.ctx = options.master;
    this.log = options.log;
    this.home = options.home;
    this.concurrency = options.concurrency ?? 4;
    this.maxQueued = options.maxQueued ?? 100;
    this.staged = options.staged;
    this.egress = options.egress;
  }

  async submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }> {
    // Without a cluster there is no status or Secret to keep rotation and the read-only user in: refused, not ignored.
    if (body.database.credentials)
      throw new StoreopError(
        'InvalidSpec',
        'database.credentials: is handled by the operator (storeop run --api-bind-address): rotation and the read-only user keep their state in status and Secrets',
        { retryable: false },
      );
    const intent = await this.#intent(body);
    const slug = intent.slug;
    const previous = this.#submitting.get(slug) ?? Promise.resolve();
    const decided = previous.catch(() => undefined).then(() => this.#decide(intent));
    this.#submitting.set(slug, decided);
    try {
      return await decided;
    } finally {
      if (this.#submitting.get(slug) === decided) this.#submitting.delete(slug);
    }
  }

  async remove(idOrSlug: string, body: DeleteRequestBody): Promise<DeleteOutcome> {
    const existing = await findStore(this.ctx.master.db, idOrSlug);
    if (!existing) return { slug: idOrSlug, policy: 'Retain', outcome: 'absent' };
    const slug = existing.slug;
    const intent = body.database
      ? await this.#intent({ store: { slug, displayName: existing.name }, ...body } as ProvisionRequestBody)
      : undefined;
    return deleteStore(this.ctx, {
      slug,
      source: API_SOURCE,
      policy: intent?.deletionPolicy,
      intent: intent && { identity: intent.identity, target: knownTarget(intent) },
      home: this.home,
    });
  }

  #intent(body: ProvisionRequestBody): Promise<StoreIntent> {
    const { store, database, secrets } = body;
    return buildIntent({
      name: store.slug,
      spec: store,
      database,
      databasePath: 'database',
      source: API_SOURCE,
      readSecret: async (name, key) => ownValue(ownValue(secrets, name), key),
      home: this.home,
      defaults: this.staged?.defaults,
    });
  }

  async #decide(intent: StoreIntent): Promise<{ jobId: string; storeId: string }> {
    const db = this.ctx.master.db;
    let existing: Awaited<ReturnType<typeof checkClaim>>;
    try {
      existing = await checkClaim(db, intent);
    } catch (error) {
      // Over the API a store is its slug and its database: the same slug on another database is another store.
      if (error instanceof IdentityChangedError)
        throw new StoreopError('Conflict', `store slug ${intent.slug} belongs to another store: ${error.changes.join(', ')}`, {
          retryable: false,
        });
      if (isStoreopError(error, 'Conflict'))
        throw new StoreopError('Conflict', `store slug ${intent.slug} belongs to another store (${error.message})`, { retryable: false });
      throw error;
    }
    const ownerEmail = intent.declaration.ownerEmail;
    if (existing?.owner_id && ownerEmail) {
      // Over the API a store is its slug and its owner: the same slug for another owner is another store.
      const owner = await db.selectFrom('users').select('email').where('id', '=', existing.owner_id).executeTakeFirst();
      if (owner && owner.email !== ownerEmail.toLowerCase())
        throw new StoreopError('Conflict', `store slug ${existing.slug} belongs to another owner`, { retryable: false });
    }
    if (existing) {
      const open = await openJobOf(db, existing.id);
      if (open) return { jobId: open, storeId: existing.id };
    }
    const waiting = this.#queue.length + this.#admitting;
    if (this.#running.size + waiting >= this.concurrency && waiting >= this.maxQueued)
      throw new TooManyRequests(`the job queue is full (${this.maxQueued} jobs waiting)`, QUEUE_FULL_RETRY_SECONDS);
    this.#admitting += 1;
    try {
      const job = await claimStore(this.ctx, intent);
      this.#enqueue(job, intent);
      return { jobId: job.jobId, storeId: job.store.id };
    } finally {
      this.#admitting -= 1;
    }
  }

  #enqueue(job: PreparedJob, intent: StoreIntent): void {
    this.#queue.push(async () => {
      try {
        await applyIntent(this.ctx, intent, {
          job,
          ...(this.staged ? { staged: this.staged } : {}),
          ...(this.egress ? { egress: this.egress } : {}),
        });
      } catch (error) {
        const target = knownTarget(intent);
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
