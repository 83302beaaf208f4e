// The workqueue's controller-runtime semantics, on its own (no cluster needed).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/controller/workqueue.js';

describe('WorkQueue', () => {
  it('collapses duplicates while a key waits', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands one key to two workers at once, and re-queues a key added while it is processed', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // arrives while "a" is being processed
    expect(q.length).toBe(0);
    let second: string | undefined;
    const waiting = q.get().then((k) => {
      second = k;
    });
    await sleep(10);
    expect(second).toBeUndefined();
    q.done(first as string);
    await waiting;
    expect(second).toBe('a');
  });

  it('backs off per key, doubling from 5 ms, and forget() resets it', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 4; i++) q.addRateLimited('k');
    expect(q.failures('k')).toBe(4);
    // The delayed add those retries left (the earliest of them is kept) runs first: forget() resets the
    // count, not what is already due, so it must not be mistaken below for the new 5 ms one.
    expect(await q.get()).toBe('k');
    q.done('k');
    q.forget('k');
    expect(q.failures('k')).toBe(0);
    const started = Date.now();
    q.addRateLimited('k'); // 5 ms
    expect(await q.get()).toBe('k');
    expect(Date.now() - started).toBeGreaterThanOrEqual(4);
  });

  it('keeps the earliest of several delayed adds for a key', async () => {
    const q = new WorkQueue();
    q.addAfter('x', 1000);
    q.addAfter('x', 20);
    const started = Date.now();
    expect(await q.get()).toBe('x');
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('hands out delayed keys in the order they fall due, each once, from one timer', async () => {
    const q = new WorkQueue();
    const delays = [60, 10, 40, 20, 50, 30];
    for (const [i, delay] of delays.entries()) q.addAfter(`k${i}`, delay);
    q.addAfter('k0', 5); // an earlier add for the same key wins; its later entry must not add it again
    const order: string[] = [];
    for (let i = 0; i < delays.length; i++) {
      const key = (await q.get()) as string;
      order.push(key);
      q.done(key);
    }
    expect(order).toEqual(['k0', 'k1', 'k3', 'k5', 'k2', 'k4']);
    // Nothing is left to fire: a later add is the next key out, not a stale k0.
    q.addAfter('last', 80);
    expect(await q.get()).toBe('last');
    expect(q.length).toBe(0);
  });

  it('keeps thousands of delayed keys and releases them all', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5000; i++) q.addAfter(`k${i}`, 1 + (i % 50));
    for (let i = 0; i < 5000; i += 3) q.addAfter(`k${i}`, 1); // re-adds leave stale entries behind
    const seen = new Set<string>();
    while (seen.size < 5000) {
      const key = (await q.get()) as string;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      q.done(key);
    }
  });

  it('wakes waiting workers with undefined on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });
});
