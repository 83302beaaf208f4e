// The stage logic of a StoreSchema rollout, as pure functions: which stage each Store is in, what the
// rollout's phase is, and which Stores to admit to the new version now. The controller feeds it the durable
// state (the master DB's admissions and applied versions) and acts on the answer, so a restarted operator
// computes the same in-flight count and never admits past maxConcurrent.
import type { RolloutStage, StoreSchemaSpec, StoreSchemaStatus } from '../../api/store-schema.js';
import { selectorMatches } from '../label-selector.js';

/** The name of the implicit last stage: the Stores no stage selects (not a DNS label, so never a user's stage name). */
export const UNSELECTED_STAGE = '(unselected)';

export interface ResolvedStage {
  name: string;
  selector: RolloutStage['selector'];
  maxConcurrent: number;
  failureBudget: number | string;
  pause: boolean;
}

type RolloutSettings = StoreSchemaSpec['rollout'];

/** The declared stages with the rollout's defaults filled in, then the implicit last stage. */
export function rolloutStages(rollout: RolloutSettings): ResolvedStage[] {
  const declared = rollout.stages.map((stage) => ({
    name: stage.name,
    selector: stage.selector,
    maxConcurrent: stage.maxConcurrent ?? rollout.maxConcurrent,
    failureBudget: stage.failureBudget ?? rollout.failureBudget,
    pause: stage.pause,
  }));
  const rest = {
    name: UNSELECTED_STAGE,
    selector: {},
    maxConcurrent: rollout.maxConcurrent,
    failureBudget: rollout.failureBudget,
    pause: false,
  };
  return [...declared, rest];
}

/** The index of the first stage whose selector matches the labels (the implicit last stage matches all). */
export function stageIndexOf(stages: readonly ResolvedStage[], labels: Readonly<Record<string, string>> | undefined): number {
  const index = stages.findIndex((stage) => selectorMatches(stage.selector, labels));
  return index < 0 ? stages.length - 1 : index;
}

/**
 * How many failures stop a stage: a count, or a percentage of the stage's stores (rounded up). A budget of
 * 0 tolerates none, so the first failure stops the stage, as a budget of 1 does.
 */
export function failureLimit(budget: number | string, total: number): number {
  const count = typeof budget === 'number' ? budget : Math.ceil((Number.parseInt(budget, 10) * total) / 100);
  return Math.max(1, count);
}

/** Where one Store stands with the version being rolled out, from the durable state. */
export type MemberState = 'updated' | 'inFlight' | 'failed' | 'pending';

export interface RolloutMember {
  namespace: string;
  name: string;
  labels?: Readonly<Record<string, string>> | undefined;
  /** The database server its schema work runs on: engine, host and port. */
  server: string;
  state: MemberState;
  failure?: { reason: string; message: string } | undefined;
}

/** What a person or an earlier decision said, kept durably beside the rollout. */
export interface RolloutGates {
  /** `storeop rollout pause`. */
  pausedByUser: boolean;
  /** A stage reached its failure budget earlier; only `storeop rollout resume` clears it. */
  halted: boolean;
  /** The gated stage (pause: true) approved with `storeop rollout resume`, for this version. */
  approvedStage: string | undefined;
}

export type RolloutReason = 'Complete' | 'Progressing' | 'FailureBudgetExceeded' | 'AwaitingApproval' | 'PausedByUser' | 'StoresFailed';

export interface RolloutDecision<M extends RolloutMember = RolloutMember> {
  phase: NonNullable<StoreSchemaStatus['phase']>;
  reason: RolloutReason;
  message: string;
  /** The stage being worked on, or waiting; undefined once every stage is done. */
  currentStage: string | undefined;
  /**
   * The last stage that has started (admissions allowed): the current one, or the one before while the
   * current one waits for approval; undefined before the first starts. A Store created meanwhile gets the
   * new version when its stage has started (versionForNewStore).
   */
  startedStage: string | undefined;
  /** The stage waiting for approval (pause: true, not approved), also while paused by a person: a resume approves it. */
  awaitingStage: string | undefined;
  stages: NonNullable<StoreSchemaStatus['stages']>;
  failedStores: NonNullable<StoreSchemaStatus['failedStores']>;
  updated: number;
  total: number;
  /** Stores to admit to the new version now (never more than the limits allow with what is in flight). */
  admit: Array<M & { stage: string }>;
  /** The failure budget was reached by this decision: the controller records it (RolloutGates.halted). */
  haltNow: boolean;
}

const MAX_FAILED_LISTED = 100;

export function planRollout<M extends RolloutMember>(
  rollout: RolloutSettings,
  members: readonly M[],
  gates: RolloutGates,
): RolloutDecision<M> {
  const stages = rolloutStages(rollout);
  const byStage = stages.map(() => [] as M[]);
  for (const member of [...members].sort(byName)) byStage[stageIndexOf(stages, member.labels)]?.push(member);
  const counts = byStage.map((list) => countStates(list));
  const stageStatus = stages
    .map((stage, i) => ({ name: stage.name, ...(counts[i] as StateCounts) }))
    // The implicit stage is listed only when it holds stores.
    .filter((s) => s.name !== UNSELECTED_STAGE || s.total > 0)
    .map(({ name, total, updated, failed, pending, inFlight }) => ({ name, total, updated, failed, pending: pending + inFlight }));
  const failedStores = byStage
    .flatMap((list, i) =>
      list
        .filter((m) => m.state === 'failed')
        .map((m) => ({
          namespace: m.namespace,
          name: m.name,
          stage: stages[i]?.name ?? UNSELECTED_STAGE,
          reason: m.failure?.reason ?? 'Failed',
          message: m.failure?.message ?? '',
        })),
    )
    .slice(0, MAX_FAILED_LISTED);
  const total = members.length;
  const updated = members.filter((m) => m.state === 'updated').length;
  const failed = members.filter((m) => m.state === 'failed').length;
  const current = counts.findIndex((c) => c.pending + c.inFlight > 0);
  const currentStage = current < 0 ? undefined : stages[current]?.name;
  const awaiting = current >= 0 && stages[current]?.pause === true && gates.approvedStage !== currentStage;
  const startedStage = current < 0 ? stages.at(-1)?.name : awaiting ? stages[current - 1]?.name : currentStage;
  const decide = (
    phase: RolloutDecision['phase'],
    reason: RolloutReason,
    message: string,
    extra: Partial<RolloutDecision<M>> = {},
  ): RolloutDecision<M> => ({
    phase,
    reason,
    message,
    currentStage,
    startedStage,
    awaitingStage: undefined,
    stages: stageStatus,
    failedStores,
    updated,
    total,
    admit: [],
    haltNow: false,
    ...extra,
  });

  // The budget counts the failures of every stage reached so far: a stage whose last store failed is done,
  // and its failures still stop the next one.
  const reached = current < 0 ? stages.length - 1 : current;
  const overBudget = stages.slice(0, reached + 1).find((stage, i) => {
    const c = counts[i] as StateCounts;
    return c.failed > 0 && c.failed >= failureLimit(stage.failureBudget, c.total);
  });
  if (gates.halted || overBudget) {
    const where = overBudget ? `stage ${overBudget.name}` : 'a stage';
    return decide(
      'Paused',
      'FailureBudgetExceeded',
      `${failed} store(s) failed in ${where}, reaching its failure budget; fix the version and run storeop rollout resume`,
      { haltNow: !gates.halted },
    );
  }
  if (current < 0) {
    return failed > 0
      ? decide('Failed', 'StoresFailed', `${updated}/${total} stores updated; ${failed} failed and kept their previous version`)
      : decide('Complete', 'Complete', `${updated}/${total} stores updated`);
  }
  const stage = stages[current] as ResolvedStage;
  // A gated stage stays the one a resume approves while a person's pause holds the rollout too.
  const awaitingStage = awaiting ? currentStage : undefined;
  if (gates.pausedByUser)
    return decide('Paused', 'PausedByUser', 'paused by storeop rollout pause; storeop rollout resume continues', { awaitingStage });
  if (awaiting) {
    return decide('Paused', 'AwaitingApproval', `stage ${stage.name} waits for approval: storeop rollout resume starts it`, {
      awaitingStage,
    });
  }
  const admit = admissions(byStage[current] as M[], members, stage.maxConcurrent, rollout.maxConcurrentPerServer).map((m) => ({
    ...m,
    stage: stage.name,
  }));
  return decide('Progressing', 'Progressing', `stage ${stage.name}: ${updated}/${total} stores updated`, { admit });
}

/** Pending stores of the stage, in name order, while the stage and each server have room. */
function admissions<M extends RolloutMember>(stage: M[], all: readonly RolloutMember[], maxConcurrent: number, perServer: number): M[] {
  let room = maxConcurrent - stage.filter((m) => m.state === 'inFlight').length;
  // Per server, everything in flight counts, whatever its stage.
  const busy = new Map<string, number>();
  for (const m of all) if (m.state === 'inFlight') busy.set(m.server, (busy.get(m.server) ?? 0) + 1);
  const admit: M[] = [];
  for (const member of stage) {
    if (room <= 0) break;
    if (member.state !== 'pending') continue;
    const load = busy.get(member.server) ?? 0;
    if (load >= perServer) continue;
    busy.set(member.server, load + 1);
    room--;
    admit.push(member);
  }
  return admit;
}

interface StateCounts {
  total: number;
  updated: number;
  failed: number;
  pending: number;
  inFlight: number;
}

function countStates(list: readonly RolloutMember[]): StateCounts {
  const count = (state: MemberState) => list.filter((m) => m.state === state).length;
  return { total: list.length, updated: count('updated'), failed: count('failed'), pending: count('pending'), inFlight: count('inFlight') };
}

/** Namespace, then name, by code point: a pass sorts every store of the schema, and runs once per store finished. */
function byName(a: RolloutMember, b: RolloutMember): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The version a Store without one (new, or newly pointed at this schema) starts with during a rollout: the
 * new version once its stage has started (RolloutDecision.startedStage, as the master DB keeps it), else the
 * previous one.
 */
export function versionForNewStore(
  rollout: RolloutSettings,
  labels: Readonly<Record<string, string>> | undefined,
  state: { version: string; previousVersion: string | undefined; startedStage: string | undefined; complete: boolean },
): string {
  if (state.complete || state.previousVersion === undefined) return state.version;
  if (state.startedStage === undefined) return state.previousVersion;
  const stages = rolloutStages(rollout);
  const started = stages.findIndex((s) => s.name === state.startedStage);
  return stageIndexOf(stages, labels) <= started ? state.version : state.previousVersion;
}
