// A bound on the admin sessions this process holds on each database server, shared by every job: at most
// `limit` at once (the driver sets it to its worker count), plus at most NESTED_SLOTS for the short lookups an
// admin session makes in another database of the same server while it stays open (PostgreSQL schema
// isolation). A fleet of concurrent jobs then never holds more than limit + NESTED_SLOTS admin connections
// per server; the others wait for a slot instead of opening one. A DatabaseServer's
// limits.maxConcurrentOperations replaces that bound for its server with a hard one: at most that many admin
// sessions at once, nested ones included (one slot is kept for them).
import { AsyncLocalStorage } from 'node:async_hooks';

/** The default when no driver set one: storeop's default worker count. */
export const DEFAULT_ADMIN_CONNECTION_LIMIT = 4;
/** Slots for admin sessions opened while the same job already holds one on that server. */
export const NESTED_SLOTS = 2;

class Slots {
  #held = 0;
  get held(): number {
    return this.#held;
  }
  readonly #waiting: Array<() => void> = [];
  constructor(private readonly capacity: () => number) {}

  async acquire(): Promise<() => void> {
    if (this.#held < this.capacity()) this.#held++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the releaser counted it for us
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held--;
      while (this.#held < this.capacity() && this.#waiting.length) {
        this.#held++;
        this.#waiting.shift()?.();
      }
    };
  }
}

let limit = DEFAULT_ADMIN_CONNECTION_LIMIT;
const servers = new Map<string, { sessions: Slots; nested: Slots }>();
/** Per-server hard bounds (DatabaseServer limits.maxConcurrentOperations), by serverKey. */
const serverLimits = new Map<string, number>();
/** The servers the current job (async context) already holds an admin session on. */
const holding = new AsyncLocalStorage<ReadonlySet<string>>();

/** Sets the per-server bound (drivers: their number of concurrent jobs). */
export function setAdminConnectionLimit(value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`admin connection limit must be a positive integer, got ${value}`);
  limit = value;
}

export function adminConnectionLimit(): number {
  return limit;
}

const serverKey = (host: string, port: number) => `${host.toLowerCase()}:${port}`;

/**
 * Bounds the admin sessions on one server to `max` in all (undefined: back to the process-wide bound). The
 * bound holds for nested sessions too: one slot is kept for them, so a job never waits on itself.
 */
export function setServerOperationLimit(host: string, port: number, max: number | undefined): void {
  if (max !== undefined && (!Number.isInteger(max) || max < 2))
    throw new RangeError(`a server's operation limit must be an integer of at least 2, got ${max}`);
  const key = serverKey(host, port);
  if (max === undefined) serverLimits.delete(key);
  else serverLimits.set(key, max);
  // Waiters are let in by the next release, under the new bound.
}

/** Admin sessions this process holds on the server right now (nested ones included). */
export function operationsInFlight(host: string, port: number): number {
  const slots = servers.get(serverKey(host, port));
  return slots ? slots.sessions.held + slots.nested.held : 0;
}

function slotsOf(key: string): { sessions: Slots; nested: Slots } {
  let slots = servers.get(key);
  if (!slots) {
    const hard = () => serverLimits.get(key);
    slots = {
      sessions: new Slots(() => {
        const max = hard();
        return max === undefined ? limit : max - 1;
      }),
      nested: new Slots(() => (hard() === undefined ? NESTED_SLOTS : 1)),
    };
    servers.set(key, slots);
  }
  return slots;
}

/** Runs `fn` (which opens and closes one admin connection to host:port) once a slot on that server is free. */
export async function withAdminSlot<T>(host: string, port: number, fn: () => Promise<T>): Promise<T> {
  const key = serverKey(host, port);
  const slots = slotsOf(key);
  const held = holding.getStore();
  const release = await (held?.has(key) ? slots.nested : slots.sessions).acquire();
  try {
    return await holding.run(new Set([...(held ?? []), key]), fn);
  } finally {
    release();
  }
}
