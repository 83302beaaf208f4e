// StoreSchema status: the rollout's phase, its Ready/Progressing/Paused conditions with the reason, and the
// per-stage counts; written only when it changes.
import type { StoreSchema, StoreSchemaStatus } from '../../api/store-schema.js';
import type { RolloutDecision } from '../../stores/rollout/plan.js';
import type { ConditionUpdate } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { rolloutProgress, withKstatus } from '../kstatus.js';
import { applyConditions, statusDiffers } from '../status.js';

/** The conditions of a phase: Ready when Complete, Progressing while stores are admitted, Paused with its reason. */
export function rolloutConditions(phase: NonNullable<StoreSchemaStatus['phase']>, reason: string, message: string): ConditionUpdate[] {
  const is = (wanted: typeof phase) => (phase === wanted ? 'True' : 'False');
  return [
    { type: 'Ready', status: is('Complete'), reason, message },
    { type: 'Progressing', status: is('Progressing'), reason, message },
    // Never an empty message: the API server refuses it (client-node sends it as null).
    phase === 'Paused'
      ? { type: 'Paused', status: 'True', reason, message }
      : { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'the rollout is not paused' },
  ];
}

export function decisionStatus(schema: StoreSchema, version: string, decision: RolloutDecision): Partial<StoreSchemaStatus> {
  return {
    phase: decision.phase,
    observedGeneration: schema.metadata.generation,
    version,
    // null removes it (merge patch) once every stage is done.
    currentStage: (decision.currentStage ?? null) as unknown as string,
    stages: decision.stages,
    failedStores: decision.failedStores,
    updated: decision.updated,
    total: decision.total,
    message: decision.message,
    conditions: applyConditions(
      schema.status?.conditions,
      rolloutConditions(decision.phase, decision.reason, decision.message),
      schema.metadata.generation,
    ),
  };
}

/** A version refused, or a spec that cannot be read: Failed with the reason, nothing admitted. */
export function refusedStatus(schema: StoreSchema, reason: string, message: string): Partial<StoreSchemaStatus> {
  return {
    phase: 'Failed',
    observedGeneration: schema.metadata.generation,
    message,
    conditions: applyConditions(schema.status?.conditions, rolloutConditions('Failed', reason, message), schema.metadata.generation),
  };
}

export async function writeStatus(ctx: ControllerContext, schema: StoreSchema, status: Partial<StoreSchemaStatus>): Promise<void> {
  const next = withKstatus(schema.status, status, schema.metadata.generation, rolloutProgress);
  if (!statusDiffers(schema.status, next)) return;
  const written = await ctx.kube.patchStoreSchemaStatus(schema.metadata.name, next);
  ctx.caches.schemas?.wrote(written);
}
