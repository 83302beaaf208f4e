// Runs provisioning jobs accepted by the API in this process, a bounded number at a time, through the
// store service (the same intent, checks, suspension and deletion as storeop apply and the controller). A
// store that already has a queued or running job gets that job back instead of a second one.
import { isStoreopError, StoreopError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MasterContext, PreparedJob } from '../master/provision-store.js';
import { findStore } from '../master/stores.js';
import { IdentityChangedError } from '../stores/identity.js';
import { buildIntent, type StoreIntent } from '../stores/intent.js';
import { applyIntent, checkClaim, claimStore, type DeleteOutcome, deleteStore, openJobOf } from '../stores/service.js';
import type { DeleteRequestBody, ProvisionRequestBody } from './schemas.js';

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

export class LocalProvisioner implements Provisioner {
  readonly #queue: Array<() => Promise<void>> = [];
  readonly #running = new Set<Promise<void>>();
  /** Per-slug lock: concurrent submissions for one store are decided one after the other. */
  readonly #submitting = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ctx: MasterContext,
    private readonly log: Logger,
    private readonly home: string,
    private readonly concurrency = 4,
  ) {}

  async submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }> {
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
    return deleteStore(this.ctx, { slug, source: API_SOURCE, policy: intent?.deletionPolicy, intent, home: this.home });
  }

  #intent(body: ProvisionRequestBody): Promise<StoreIntent> {
    const { store, database, secrets } = body;
    return buildIntent({
      name: store.slug,
      spec: store,
      database,
      databasePath: 'database',
      source: API_SOURCE,
      readSecret: async (name, key) => secrets?.[name]?.[key],
      home: this.home,
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
    const job = await claimStore(this.ctx, intent);
    this.#enqueue(job, intent);
    return { jobId: job.jobId, storeId: job.store.id };
  }

  #enqueue(job: PreparedJob, intent: StoreIntent): void {
    this.#queue.push(async () => {
      try {
        await applyIntent(this.ctx, intent, { job });
      } catch (error) {
        // The job row holds the failure and its reason; the log names the job only.
        this.log.warn({ jobId: job.jobId, store: job.store.slug, code: (error as StoreopError).code }, 'provisioning job failed');
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
