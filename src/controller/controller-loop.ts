// Runs one reconciler over a workqueue with N workers: results and errors become requeues, backoff
// or nothing (terminal errors), and every reconcile is counted and timed.
import type { Logger } from '../log.js';
import { type ReconcileResult, TerminalError } from './context.js';
import type { ControllerMetrics } from './metrics.js';
import { WorkQueue } from './workqueue.js';

export interface Reconciler {
  reconcile(namespace: string, name: string): Promise<ReconcileResult>;
}

export class ControllerLoop {
  readonly queue: WorkQueue;
  #workers: Promise<void>[] = [];
  #inFlight = 0;

  constructor(
    readonly name: string,
    private readonly reconciler: Reconciler,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
  ) {
    this.queue = new WorkQueue(metrics.queueMetrics(name));
  }

  /** `namespace` is '' for a cluster-scoped object. */
  enqueue(namespace: string | undefined, name: string | undefined): void {
    if (namespace !== undefined && name) this.queue.add(queueKey(namespace, name));
  }

  /** A cluster-scoped object (a StoreSchema): reconciled as namespace "", at once or within `afterMs`. */
  enqueueClusterScoped(name: string | undefined, afterMs = 0): void {
    if (name) this.queue.addAfter(queueKey('', name), afterMs);
  }

  start(workers: number): void {
    for (let i = 0; i < workers; i++) this.#workers.push(this.#work());
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Stops taking keys; resolves when in-flight reconciles finish (the caller bounds the wait). */
  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.#workers);
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.#inFlight++;
      const [namespace, name] = key.split('/') as [string, string];
      const end = this.metrics.reconcileTime.startTimer({ controller: this.name });
      try {
        const result = await this.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, result.requeueAfterMs);
          this.metrics.reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
        } else {
          this.metrics.reconcileTotal.inc({ controller: this.name, result: 'success' });
        }
      } catch (error) {
        this.metrics.reconcileErrors.inc({ controller: this.name });
        if (error instanceof TerminalError) {
          // Not retried: a change to the object (or a Secret it uses) enqueues it again.
          this.queue.forget(key);
          this.metrics.reconcileTotal.inc({ controller: this.name, result: 'error' });
          this.log.info({ controller: this.name, key, reason: error.message }, 'reconcile stopped until the spec changes');
        } else {
          this.queue.addRateLimited(key);
          this.metrics.reconcileTotal.inc({ controller: this.name, result: 'error' });
          this.log.warn(
            { controller: this.name, key, err: (error as Error)?.message, failures: this.queue.failures(key) },
            'reconcile failed; retrying with backoff',
          );
        }
      } finally {
        end();
        this.#inFlight--;
        this.queue.done(key);
      }
    }
  }
}

/**
 * The queue's key of an object, `namespace/name`, as one flat string: thousands wait in the queue at once
 * (Pending objects, periodic checks), and a template literal makes a cons string over its parts that V8
 * flattens into a second string when the key is split (about 60 bytes more per key).
 */
export function queueKey(namespace: string, name: string): string {
  return [namespace, name].join('/');
}
