// kstatus conditions (sigs.k8s.io/cli-utils/pkg/kstatus), derived from an object's phase and Ready condition
// so that every status write carries them: `Reconciling` while work is in flight, `Stalled` with the reason
// when only a change of the spec (or of something outside storeop) can help. Both are "abnormal-true":
// present only while True, each with observedGeneration. Tools that read kstatus (Flux, kpt, Argo CD's
// health checks in manifests/argocd/) then tell a failed object from one still progressing.
import type { Condition } from '../api/common.js';
import { getCondition, setCondition } from './conditions.js';

/** Ready reasons no retry can fix: the spec must change first (or the conflicting object must go). */
export const TERMINAL_REASONS: ReadonlySet<string> = new Set([
  'InvalidSpec',
  'Conflict',
  'SecretConflict',
  'SchemaConflict',
  'MigrationChanged',
]);

/** Whether the object is working towards its spec, stuck on it, or settled (Ready, Suspended). */
export type Progress =
  | { state: 'reconciling'; reason: string; message: string }
  | { state: 'stalled'; reason: string; message: string }
  | { state: 'settled' };

/**
 * Store and StoreDatabase: Failed with a terminal reason is Stalled; Pending, Provisioning, Deleting,
 * Degraded and retried failures are Reconciling (the controller is on it); Ready and Suspended are settled.
 */
export function storeProgress(phase: string | undefined, conditions: readonly Condition[] | undefined): Progress {
  const ready = getCondition(conditions, 'Ready');
  const reason = ready && ready.status !== 'True' ? ready.reason : (phase ?? 'Pending');
  const message = ready && ready.status !== 'True' ? ready.message : `phase ${phase ?? 'Pending'}`;
  if (phase === 'Failed' && TERMINAL_REASONS.has(reason)) return { state: 'stalled', reason, message };
  if (phase === 'Ready' || phase === 'Suspended') return { state: 'settled' };
  return { state: 'reconciling', reason, message };
}

/** Sets Reconciling/Stalled as `progress` says and removes the one that does not apply. */
export function withProgressConditions(
  conditions: readonly Condition[] | undefined,
  progress: Progress,
  generation: number | undefined,
  now = new Date(),
): Condition[] {
  let list = [...(conditions ?? [])];
  for (const [type, state] of [
    ['Reconciling', 'reconciling'],
    ['Stalled', 'stalled'],
  ] as const) {
    if (progress.state === state)
      list = setCondition(list, { type, status: 'True', reason: progress.reason, message: progress.message }, generation, now);
    else list = list.filter((c) => c.type !== type);
  }
  return list;
}

/**
 * A status patch (phase and/or conditions) completed with the kstatus conditions that follow from it and
 * from what status already says; a patch that touches neither is returned as it is.
 */
export function withKstatus<S extends { phase?: string | undefined; conditions?: Condition[] | undefined }>(
  current: S | undefined,
  patch: Partial<S>,
  generation: number | undefined,
  progressOf: (phase: string | undefined, conditions: readonly Condition[] | undefined) => Progress = storeProgress,
): Partial<S> {
  if (patch.phase === undefined && patch.conditions === undefined) return patch;
  const phase = patch.phase ?? current?.phase;
  const conditions = patch.conditions ?? current?.conditions;
  return { ...patch, conditions: withProgressConditions(conditions, progressOf(phase, conditions), generation) };
}

/** DatabaseServer: a spec it cannot use is Stalled; its health (Ready, Unreachable) is observed, not worked on. */
export function serverProgress(phase: string | undefined, conditions: readonly Condition[] | undefined): Progress {
  const ready = getCondition(conditions, 'Ready');
  if (phase === 'Failed' && ready && TERMINAL_REASONS.has(ready.reason))
    return { state: 'stalled', reason: ready.reason, message: ready.message };
  if (!phase || phase === 'Pending') return { state: 'reconciling', reason: 'Pending', message: 'the server has not been checked yet' };
  return { state: 'settled' };
}

/** StoreSchema: a refused version (Failed) is Stalled, a rollout admitting stores is Reconciling; Paused and Complete are settled. */
export function rolloutProgress(phase: string | undefined, conditions: readonly Condition[] | undefined): Progress {
  const ready = getCondition(conditions, 'Ready');
  const reason = ready?.reason ?? phase ?? 'Progressing';
  const message = ready?.message ?? `rollout ${phase ?? 'Progressing'}`;
  if (phase === 'Failed') return { state: 'stalled', reason, message };
  if (phase === 'Progressing') return { state: 'reconciling', reason, message };
  return { state: 'settled' };
}
