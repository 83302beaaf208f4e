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

  it('wakes waiting workers with undefined on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });
});
