// Per-client request limits for the provisioning API: a token bucket per API token (and per address for
// requests without a valid token), and the error that says "later" (HTTP 429 with Retry-After).

/** A request refused for now; `retryAfterSeconds` is when trying again can succeed. */
export class TooManyRequests extends Error {
  override name = 'TooManyRequests';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** Above this many tracked clients, buckets that have refilled (idle clients) are dropped. */
const SWEEP_ABOVE = 10_000;

/**
 * `perMinute` requests a minute per key, in bursts of up to `perMinute`. Time comes from `now` (ms) so
 * that the arithmetic does not depend on the clock's resolution.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new RangeError('perMinute must be a positive integer');
    this.#perMs = perMinute / 60_000;
  }

  /** Takes one request from `key`'s bucket: undefined when allowed, else the seconds until one is. */
  take(key: string): number | undefined {
    const now = this.now();
    const previous = this.#buckets.get(key);
    if (!previous && this.#buckets.size >= SWEEP_ABOVE) this.#sweep(now);
    const bucket = this.#refilled(previous, now);
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }

  #refilled(bucket: Bucket | undefined, now: number): Bucket {
    if (!bucket) return { tokens: this.perMinute, updated: now };
    return { tokens: Math.min(this.perMinute, bucket.tokens + (now - bucket.updated) * this.#perMs), updated: now };
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now).tokens >= this.perMinute) this.#buckets.delete(key);
    }
  }
}
