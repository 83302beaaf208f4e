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
  /** Delayed adds: key → when it is due. One timer serves them all (see #arm). */
  readonly #due = new Map<string, number>();
  /** The delayed adds as a min-heap on due time; an entry whose time no longer matches #due is stale. */
  #heap = new DueHeap();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
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

  /**
   * Adds the key after `delayMs`; an earlier pending add for the same key wins. Thousands of objects wait
   * this way (Pending ones, periodic checks), each with its own jittered delay: one timer and a heap keep a
   * few dozen bytes per key, where a Node timer each (and a timer list per distinct delay) kept hundreds.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.#due.get(key);
    if (pending !== undefined && pending <= at) return;
    this.#due.set(key, at);
    // Earlier times replace later ones in #due and leave stale heap entries: rebuild when they dominate.
    if (this.#heap.size > 64 && this.#heap.size > 2 * this.#due.size) this.#rebuildHeap();
    this.#heap.push(at, key);
    this.#arm();
  }

  /** Keeps the one timer set for the earliest delayed add. */
  #arm(): void {
    const at = this.#heap.firstAt;
    if (at === undefined || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let at = this.#heap.firstAt; at !== undefined && at <= now; at = this.#heap.firstAt) {
      const key = this.#heap.pop() as string;
      if (this.#due.get(key) !== at) continue; // stale: replaced by an earlier add, or already added
      this.#due.delete(key);
      this.add(key);
    }
    if (!this.#shuttingDown) this.#arm();
  }

  #rebuildHeap(): void {
    this.#heap = new DueHeap();
    for (const [key, at] of this.#due) this.#heap.push(at, key);
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
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due.clear();
    this.#heap = new DueHeap();
    for (const waiter of this.#waiters) waiter(undefined);
    this.#waiters = [];
  }
}

/**
 * A min-heap of (due time, key) as two parallel arrays: the times unboxed in a double array and the keys,
 * where an object per entry cost about 60 bytes more (its header, and a boxed number for the time).
 */
class DueHeap {
  readonly #at: number[] = [];
  readonly #keys: string[] = [];

  get size(): number {
    return this.#at.length;
  }

  /** The earliest due time, if any. */
  get firstAt(): number | undefined {
    return this.#at[0];
  }

  push(at: number, key: string): void {
    let i = this.#at.length;
    this.#at.push(at);
    this.#keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.#at[parent] as number) <= at) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#at[i] = at;
    this.#keys[i] = key;
  }

  /** Removes the earliest entry and returns its key. */
  pop(): string | undefined {
    const first = this.#keys[0];
    const at = this.#at.pop();
    const key = this.#keys.pop();
    const size = this.#at.length;
    if (size === 0 || at === undefined || key === undefined) return first;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && (this.#at[right] as number) < (this.#at[left] as number) ? right : left;
      if ((this.#at[child] as number) >= at) break;
      this.#move(child, i);
      i = child;
    }
    this.#at[i] = at;
    this.#keys[i] = key;
    return first;
  }

  #move(from: number, to: number): void {
    this.#at[to] = this.#at[from] as number;
    this.#keys[to] = this.#keys[from] as string;
  }
}
