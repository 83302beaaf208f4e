import { describe, expect, it } from 'vitest';
import { rolloutSpec } from '../../src/api/store-schema.js';
import { selectorMatches } from '../../src/stores/label-selector.js';
import {
  failureLimit,
  type MemberState,
  planRollout,
  type RolloutGates,
  type RolloutMember,
  UNSELECTED_STAGE,
  versionForNewStore,
} from '../../src/stores/rollout/plan.js';

const open: RolloutGates = { pausedByUser: false, halted: false, approvedStage: undefined };
const canary = { 'storeop.dev/canary': 'true' };

function member(name: string, state: MemberState, options: { labels?: Record<string, string>; server?: string } = {}): RolloutMember {
  return {
    namespace: 'shop',
    name,
    labels: options.labels ?? {},
    server: options.server ?? 'postgresql:db:5432',
    state,
    ...(state === 'failed' ? { failure: { reason: 'SchemaConflict', message: `${name} has a column of another type` } } : {}),
  };
}

const twoStages = rolloutSpec.parse({
  stages: [{ name: 'canary', selector: { matchLabels: canary }, maxConcurrent: 1 }],
  maxConcurrent: 2,
  maxConcurrentPerServer: 4,
});

describe('label selectors', () => {
  it('match labels and expressions as the API server does', () => {
    const labels = { plan: 'enterprise', region: 'eu' };
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { plan: 'enterprise' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { plan: 'free' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'region', operator: 'In', values: ['eu', 'us'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['eu'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    // An inherited member is not a label.
    expect(selectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(false);
  });
});

describe('planRollout', () => {
  it('admits the first stage only, at most maxConcurrent of it', () => {
    const members = [
      member('a', 'pending', { labels: canary }),
      member('b', 'pending', { labels: canary }),
      member('c', 'pending'),
      member('d', 'pending'),
    ];
    const decision = planRollout(twoStages, members, open);
    expect(decision.phase).toBe('Progressing');
    expect(decision.currentStage).toBe('canary');
    expect(decision.admit.map((m) => m.name)).toEqual(['a']);
    expect(decision.stages).toEqual([
      { name: 'canary', total: 2, updated: 0, failed: 0, pending: 2 },
      { name: UNSELECTED_STAGE, total: 2, updated: 0, failed: 0, pending: 2 },
    ]);
  });

  it('counts what is in flight: nothing more is admitted while the stage is full', () => {
    const members = [member('a', 'inFlight', { labels: canary }), member('b', 'pending', { labels: canary })];
    expect(planRollout(twoStages, members, open).admit).toEqual([]);
  });

  it('moves to the next stage once every store of the stage is done', () => {
    const members = [member('a', 'updated', { labels: canary }), member('c', 'pending'), member('d', 'pending'), member('e', 'pending')];
    const decision = planRollout(twoStages, members, open);
    expect(decision.currentStage).toBe(UNSELECTED_STAGE);
    expect(decision.admit.map((m) => m.name)).toEqual(['c', 'd']);
  });

  it('never puts more than maxConcurrentPerServer on one server, counting every stage', () => {
    const spec = rolloutSpec.parse({ maxConcurrent: 10, maxConcurrentPerServer: 2 });
    const members = [
      member('a', 'inFlight', { server: 'pg:one' }),
      member('b', 'pending', { server: 'pg:one' }),
      member('c', 'pending', { server: 'pg:one' }),
      member('d', 'pending', { server: 'mysql:two' }),
    ];
    expect(planRollout(spec, members, open).admit.map((m) => m.name)).toEqual(['b', 'd']);
  });

  it('pauses at the failure budget, even when the failing stage has nothing left to do', () => {
    const members = [member('a', 'failed', { labels: canary }), member('c', 'pending')];
    const decision = planRollout(twoStages, members, open);
    expect(decision).toMatchObject({ phase: 'Paused', reason: 'FailureBudgetExceeded', haltNow: true, admit: [] });
    expect(decision.failedStores).toEqual([
      { namespace: 'shop', name: 'a', stage: 'canary', reason: 'SchemaConflict', message: 'a has a column of another type' },
    ]);
    // Recorded as halted, it stays paused until resumed.
    expect(planRollout(twoStages, [member('c', 'pending')], { ...open, halted: true })).toMatchObject({ phase: 'Paused', haltNow: false });
  });

  it('tolerates failures below the budget and reports them at the end', () => {
    const spec = rolloutSpec.parse({ failureBudget: '50%' });
    const members = [member('a', 'failed'), member('b', 'updated'), member('c', 'updated'), member('d', 'updated')];
    expect(planRollout(spec, members, open)).toMatchObject({ phase: 'Failed', reason: 'StoresFailed', updated: 3, total: 4 });
  });

  it('waits for approval before a paused stage starts', () => {
    const spec = rolloutSpec.parse({
      stages: [
        { name: 'canary', selector: { matchLabels: canary } },
        { name: 'rest', selector: {}, pause: true },
      ],
    });
    const members = [member('a', 'updated', { labels: canary }), member('b', 'pending')];
    expect(planRollout(spec, members, open)).toMatchObject({
      phase: 'Paused',
      reason: 'AwaitingApproval',
      currentStage: 'rest',
      admit: [],
    });
    expect(planRollout(spec, members, { ...open, approvedStage: 'rest' }).admit.map((m) => m.name)).toEqual(['b']);
  });

  it('keeps naming the stage awaiting approval while a person paused the rollout too, but not after a failure', () => {
    const spec = rolloutSpec.parse({
      stages: [
        { name: 'canary', selector: { matchLabels: canary } },
        { name: 'rest', selector: {}, pause: true },
      ],
    });
    const waiting = [member('a', 'updated', { labels: canary }), member('b', 'pending')];
    expect(planRollout(spec, waiting, open).awaitingStage).toBe('rest');
    // A resume lifts the pause and approves that stage at once (the master DB keeps awaitingStage for it).
    expect(planRollout(spec, waiting, { ...open, pausedByUser: true })).toMatchObject({ reason: 'PausedByUser', awaitingStage: 'rest' });
    // A resume after a reached failure budget continues; it does not approve the gate behind it.
    const failed = [member('a', 'failed', { labels: canary }), member('b', 'pending')];
    expect(planRollout(spec, failed, open)).toMatchObject({ reason: 'FailureBudgetExceeded', awaitingStage: undefined });
  });

  it('admits nothing while paused by the user, and is Complete once every store is updated', () => {
    expect(planRollout(twoStages, [member('a', 'pending')], { ...open, pausedByUser: true })).toMatchObject({
      reason: 'PausedByUser',
      admit: [],
    });
    expect(planRollout(twoStages, [member('a', 'updated')], open)).toMatchObject({
      phase: 'Complete',
      currentStage: undefined,
      updated: 1,
    });
  });
});

describe('failure budgets', () => {
  it('are counts or percentages of the stage, at least one failure', () => {
    expect(failureLimit(0, 10)).toBe(1);
    expect(failureLimit(3, 10)).toBe(3);
    expect(failureLimit('10%', 10)).toBe(1);
    expect(failureLimit('25%', 10)).toBe(3);
  });
});

describe('versionForNewStore', () => {
  const state = { version: '2', previousVersion: '1', startedStage: 'canary', complete: false };
  it('gives the new version once its stage has started, else the previous one', () => {
    expect(versionForNewStore(twoStages, canary, state)).toBe('2');
    expect(versionForNewStore(twoStages, {}, state)).toBe('1');
    expect(versionForNewStore(twoStages, canary, { ...state, startedStage: undefined })).toBe('1');
    expect(versionForNewStore(twoStages, {}, { ...state, startedStage: UNSELECTED_STAGE })).toBe('2');
    expect(versionForNewStore(twoStages, {}, { ...state, complete: true })).toBe('2');
  });
});
