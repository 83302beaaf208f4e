// The per-server admin session bound (src/engines/admin-limit.ts) on its own: however many jobs run at once,
// at most limit + NESTED_SLOTS sessions are open per server, each job's nested sessions never deadlock behind
// other jobs' outer ones, and servers do not share slots.
import { setImmediate as nextTick } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  adminConnectionLimit,
  NESTED_SLOTS,
  operationsInFlight,
  setAdminConnectionLimit,
  setServerOperationLimit,
  withAdminSlot,
} from '../../src/engines/admin-limit.js';

const previous = adminConnectionLimit();
afterEach(() => setAdminConnectionLimit(previous));

/** Counts sessions open at once per server, as withAdminSlot's callers would open them. */
function sessionCounter() {
  const open = new Map<string, number>();
  const peak = new Map<string, number>();
  return {
    peak: (server: string) => peak.get(server.toLowerCase()) ?? 0,
    async session<T>(address: string, fn: () => Promise<T>): Promise<T> {
      const [host, port] = address.split(':') as [string, string];
      const server = address.toLowerCase(); // one database server, however its name is spelled
      return withAdminSlot(host, Number(port), async () => {
        open.set(server, (open.get(server) ?? 0) + 1);
        peak.set(server, Math.max(peak.get(server) ?? 0, open.get(server) ?? 0));
        try {
          for (let i = 0; i < 3; i++) await nextTick(); // the session's queries
          return await fn();
        } finally {
          open.set(server, (open.get(server) ?? 1) - 1);
        }
      });
    },
  };
}

describe('admin session bound', () => {
  it('holds at most limit + nested slots per server for many jobs that each open a nested session, and all finish', async () => {
    setAdminConnectionLimit(3);
    const counter = sessionCounter();
    const server = 'db.example:5432';
    const jobs = Array.from({ length: 20 }, (_, i) =>
      counter.session(server, async () => {
        const inner = await counter.session(server, async () => `nested ${i}`);
        return `${inner} done`;
      }),
    );
    const results = await Promise.all(jobs);
    expect(results).toHaveLength(20);
    expect(results[7]).toBe('nested 7 done');
    expect(counter.peak(server)).toBeGreaterThan(3); // nested sessions did run beside the outer ones
    expect(counter.peak(server)).toBeLessThanOrEqual(3 + NESTED_SLOTS);
  });

  it('counts each server on its own, host names case-insensitively', async () => {
    setAdminConnectionLimit(2);
    const counter = sessionCounter();
    await Promise.all([
      ...Array.from({ length: 6 }, () => counter.session('a.example:5432', async () => {})),
      ...Array.from({ length: 6 }, () => counter.session('A.EXAMPLE:5432', async () => {})),
      ...Array.from({ length: 6 }, () => counter.session('a.example:3306', async () => {})),
    ]);
    expect(counter.peak('a.example:5432')).toBe(2); // one server, one bound
    expect(counter.peak('a.example:3306')).toBe(2);
  });

  it('refuses a limit that is not a positive whole number', () => {
    expect(() => setAdminConnectionLimit(0)).toThrow(/positive integer/);
    expect(() => setAdminConnectionLimit(1.5)).toThrow(/positive integer/);
  });

  it("holds a DatabaseServer's maxConcurrentOperations in all, nested sessions included, without deadlock", async () => {
    setAdminConnectionLimit(8);
    setServerOperationLimit('limited.example', 5432, 2);
    try {
      const counter = sessionCounter();
      const server = 'limited.example:5432';
      let seenInFlight = 0;
      const jobs = Array.from({ length: 12 }, (_, i) =>
        counter.session(server, async () => {
          seenInFlight = Math.max(seenInFlight, operationsInFlight('limited.example', 5432));
          return counter.session(server, async () => i);
        }),
      );
      expect((await Promise.all(jobs)).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(counter.peak(server)).toBe(2); // one outer session and its nested one, never more
      expect(seenInFlight).toBeGreaterThanOrEqual(1);
      expect(operationsInFlight('limited.example', 5432)).toBe(0);
      // Another server keeps the process-wide bound.
      const other = sessionCounter();
      await Promise.all(Array.from({ length: 12 }, () => other.session('free.example:5432', async () => {})));
      expect(other.peak('free.example:5432')).toBe(8);
    } finally {
      setServerOperationLimit('limited.example', 5432, undefined);
    }
  });

  it('refuses a server operation limit below 2 (one slot is kept for nested sessions)', () => {
    expect(() => setServerOperationLimit('x', 1, 1)).toThrow(/at least 2/);
  });
});
