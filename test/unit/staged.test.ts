// prepareUntilReady: the loop `storeop apply` and `storeop api` wait in for a staged engine (Supabase).
import { describe, expect, it } from 'vitest';
import { prepareUntilReady, type Stage, type StageCarry } from '../../src/engines/staged.js';
import type { DatabaseTarget } from '../../src/engines/target.js';
import { StoreopError } from '../../src/errors.js';

const target: DatabaseTarget = { engine: 'pglite', mode: 'create', dataDir: '/tmp/job-staged' };

describe('prepareUntilReady', () => {
  it('asks again while the engine waits, handing each answer carry to the next call, and returns the ready target', async () => {
    const calls: StageCarry[] = [];
    const answers: Stage[] = [
      { state: 'waiting', retryAfterMs: 1, reason: 'project coming up', carry: { projectRef: 'abc', polls: 1 } },
      { state: 'waiting', retryAfterMs: 1, reason: 'project coming up', carry: { projectRef: 'abc', polls: 2 } },
      { state: 'ready', target, carry: { projectRef: 'abc' } },
    ];
    const waits: string[] = [];
    const ready = await prepareUntilReady(
      async (carry) => {
        calls.push(carry);
        return answers[calls.length - 1] as Stage;
      },
      { deadlineMs: 60_000, carry: { projectRef: 'recorded' }, onWaiting: (s) => void waits.push(s.reason) },
    );
    expect(ready.target).toBe(target);
    expect(calls).toEqual([{ projectRef: 'recorded' }, { projectRef: 'abc', polls: 1 }, { projectRef: 'abc', polls: 2 }]);
    expect(waits).toEqual(['project coming up', 'project coming up']);
  });

  it('throws the error of a failed answer', async () => {
    const error = new StoreopError('ProvisioningFailed', 'Supabase project abc is INIT_FAILED', { retryable: false });
    await expect(prepareUntilReady(async () => ({ state: 'failed', error, carry: {} }), { deadlineMs: 60_000 })).rejects.toBe(error);
  });

  it('gives up when the next wait would pass the deadline, saying what it waited for', async () => {
    let calls = 0;
    const outcome = prepareUntilReady(
      async () => {
        calls++;
        return { state: 'waiting', retryAfterMs: 5_000, reason: 'waiting for Supabase project abc (COMING_UP)', carry: {} };
      },
      { deadlineMs: 1_000 },
    );
    await expect(outcome).rejects.toThrow(/still waiting after 1 s: waiting for Supabase project abc \(COMING_UP\)/);
    expect(calls).toBe(1);
  });
});
