// The staged contract: an engine whose target is not known up front (a Supabase project that has to be
// created and come up first) answers "ready", "waiting" or "failed" to `prepare`, and never sleeps.
// The drivers decide how to wait: the operator requeues, `storeop apply` and the API poll with
// prepareUntilReady. What a waiting answer carries (the project ref) is small, serialisable and secret-free.
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoreDatabaseTemplateSpec } from '../api/store-database.js';
import { StoreopError } from '../errors.js';
import type { DatabaseTarget, SecretReader } from './target.js';

/** What a preparation keeps between calls: plain values only, never a password, token or key. */
export type StageCarry = Readonly<Record<string, string | number | boolean>>;

export type Stage =
  | { state: 'ready'; target: DatabaseTarget; carry: StageCarry }
  | { state: 'waiting'; retryAfterMs: number; reason: string; carry: StageCarry }
  | { state: 'failed'; error: StoreopError; carry: StageCarry };

export interface PrepareContext {
  slug: string;
  /** Reads the Secrets the spec references. */
  read: SecretReader;
  /** What the previous call answered (from status, the job row or memory); empty on the first call. */
  carry: StageCarry;
  /**
   * Keeps a secret the engine generated (a database password) before it is used, somewhere that survives
   * a crash (a Secret, the encrypted master DB); `knownSecret` answers it back on later calls.
   */
  keepSecret(name: string, value: string): Promise<void>;
  knownSecret(name: string): Promise<string | undefined>;
  /** Called as soon as the carry changes (a project was created), before anything else can fail. */
  record(carry: StageCarry): Promise<void>;
  /** Driver-wide defaults, e.g. storeop run --supabase-api-url. */
  defaults?: { supabaseApiUrl?: string | undefined };
  /** How long to ask callers to wait between polls (default 10 s). */
  pollMs?: number | undefined;
}

export interface StagedEngine {
  prepare(spec: StoreDatabaseTemplateSpec, ctx: PrepareContext): Promise<Stage>;
}

export function isStaged(engine: object): engine is StagedEngine {
  return typeof (engine as Partial<StagedEngine>).prepare === 'function';
}

export interface PollOptions {
  /** Give up (Timeout) this long after the first call. */
  deadlineMs: number;
  /** Upper bound on one wait, whatever the engine asks for (default 30 s). */
  maxPollMs?: number;
  /** Told about every waiting answer (for job rows and progress lines). */
  onWaiting?: (stage: Extract<Stage, { state: 'waiting' }>) => Promise<void> | void;
  signal?: AbortSignal;
  /** The carry of an earlier run (a recorded project ref). */
  carry?: StageCarry;
}

/**
 * Calls `prepare` until it answers ready, waiting as long as each waiting answer asks (capped), feeding
 * each answer's carry to the next call. A failed answer throws its error; so does passing the deadline.
 */
export async function prepareUntilReady(
  prepare: (carry: StageCarry) => Promise<Stage>,
  options: PollOptions,
): Promise<Extract<Stage, { state: 'ready' }>> {
  const deadline = Date.now() + options.deadlineMs;
  let carry: StageCarry = options.carry ?? {};
  for (;;) {
    const stage = await prepare(carry);
    if (stage.state === 'ready') return stage;
    if (stage.state === 'failed') throw stage.error;
    carry = stage.carry;
    await options.onWaiting?.(stage);
    const wait = Math.min(Math.max(stage.retryAfterMs, 0), options.maxPollMs ?? 30_000);
    if (Date.now() + wait > deadline)
      throw new StoreopError(
        'ProvisioningFailed',
        `gave up: still waiting after ${Math.round(options.deadlineMs / 1000)} s: ${stage.reason}`,
        {
          retryable: true,
        },
      );
    await sleep(wait, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}
