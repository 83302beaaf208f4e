// A workqueue with controller-runtime's semantics: a key is never processed by two workers at once,
// duplicates collapse while waiting, failures back off per key (5 ms doubling to 1000 s), and keys can
// be re-added after a delay (requeueAfter).

export interface WorkQueueMetrics {
  depth(value: number): void;
  retry(): void;
}

const BASE_DELAY_MS = 5;
const MAX_DELAY_MS = 1_000_000;

/** The delay before the retry that follows `failures` consecutive failures of a key. */
export function backoffDelayMs(failures: number): number {
  return Math.min(BASE_DELAY_MS * 2 ** (Math.max(1, failures) - 1), MAX_DELAY_MS);
}

export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys waiting to be processed (in the queue or re-added while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #waiters: Array<(key: string | undefined) => void> = [];
  #shuttingDown = false;

  constructor(private readonly metrics?: WorkQueueMetrics) {}

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // re-queued by done()
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    } else {
      this.#queue.push(key);
    }
    this.metrics?.depth(this.#queue.length);
  }

  /** Adds the key after `delayMs`; an earlier pending add for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.#timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Adds the key after its per-key exponential backoff. */
  addRateLimited(key: string): void {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    this.metrics?.retry();
    this.addAfter(key, backoffDelayMs(failures));
  }

  /** Clears the key's backoff after a success (or a terminal error). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.metrics?.depth(this.#queue.length);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.#queue.length;
  }

  get processing(): number {
    return this.#processing.size;
  }

  shutdown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const waiter of this.#waiters) waiter(undefined);
    this.#waiters = [];
  }
}
