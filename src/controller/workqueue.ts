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
  #heap: Array<{ at: number; key: string }> = [];
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
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#due.size) this.#rebuildHeap();
    heapPush(this.#heap, { at, key });
    this.#arm();
  }

  /** Keeps the one timer set for the earliest delayed add. */
  #arm(): void {
    const next = this.#heap[0];
    if (!next || next.at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = next.at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, next.at - Date.now()));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let next = this.#heap[0]; next && next.at <= now; next = this.#heap[0]) {
      heapPop(this.#heap);
      if (this.#due.get(next.key) !== next.at) continue; // stale: replaced by an earlier add, or already added
      this.#due.delete(next.key);
      this.add(next.key);
    }
    if (!this.#shuttingDown) this.#arm();
  }

  #rebuildHeap(): void {
    const entries = [...this.#due].map(([key, at]) => ({ at, key }));
    this.#heap = [];
    for (const entry of entries) heapPush(this.#heap, entry);
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
    this.#heap = [];
    for (const waiter of this.#waiters) waiter(undefined);
    this.#waiters = [];
  }
}

type HeapEntry = { at: number; key: string };

function heapPush(heap: HeapEntry[], entry: HeapEntry): void {
  heap.push(entry);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as HeapEntry).at <= entry.at) break;
    heap[i] = heap[parent] as HeapEntry;
    heap[parent] = entry;
    i = parent;
  }
}

function heapPop(heap: HeapEntry[]): void {
  const last = heap.pop();
  if (!last || heap.length === 0) return;
  heap[0] = last;
  for (let i = 0; ; ) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < heap.length && (heap[left] as HeapEntry).at < (heap[smallest] as HeapEntry).at) smallest = left;
    if (right < heap.length && (heap[right] as HeapEntry).at < (heap[smallest] as HeapEntry).at) smallest = right;
    if (smallest === i) return;
    [heap[i], heap[smallest]] = [heap[smallest] as HeapEntry, heap[i] as HeapEntry];
    i = smallest;
  }
}
