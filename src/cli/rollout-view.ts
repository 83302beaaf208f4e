// What `storeop rollout status` prints: one view of a rollout, built from a StoreSchema's status (cluster
// mode) or from the master DB (without a cluster), as a table for people or JSON/YAML for tools.
import type { Kysely } from 'kysely';
import { stringify } from 'yaml';
import type { StoreSchema } from '../api/store-schema.js';
import type { RolloutRow } from '../master/rollouts.js';
import type { MasterDB } from '../master/types.js';
import { rolloutState } from '../stores/rollout/standalone.js';
import { formatTable } from './output.js';

export interface RolloutView {
  schema: string;
  version: string | undefined;
  phase: string | undefined;
  reason: string | undefined;
  message: string | undefined;
  currentStage: string | undefined;
  updated: number;
  total: number;
  stages: Array<{ name: string; total: number; updated: number; failed: number; pending: number }>;
  failedStores: Array<{ store: string; stage: string; reason: string; message: string }>;
}

export function viewFromStatus(schema: StoreSchema): RolloutView {
  const status = schema.status ?? {};
  const condition = status.conditions?.find((c) => c.type === (status.phase === 'Paused' ? 'Paused' : 'Ready'));
  return {
    schema: schema.metadata.name,
    version: status.version ?? schema.spec?.version,
    phase: status.phase,
    reason: condition?.reason,
    message: status.message,
    currentStage: status.currentStage,
    updated: status.updated ?? 0,
    total: status.total ?? 0,
    stages: status.stages ?? [],
    failedStores: (status.failedStores ?? []).map((f) => ({
      store: `${f.namespace}/${f.name}`,
      stage: f.stage,
      reason: f.reason,
      message: f.message,
    })),
  };
}

/** Without a cluster: the stage logic's answer on the master DB's state, as the standalone runner sees it. */
export async function viewFromMaster(db: Kysely<MasterDB>, rollout: RolloutRow): Promise<RolloutView> {
  const state = await rolloutState(db, rollout.schema_name);
  const decision = state?.decision;
  return {
    schema: rollout.schema_name,
    version: rollout.version,
    phase: decision?.phase,
    reason: decision?.reason,
    message: decision?.message ?? (rollout.previous_version ? `from version ${rollout.previous_version}` : undefined),
    currentStage: decision?.currentStage,
    updated: decision?.updated ?? 0,
    total: decision?.total ?? 0,
    stages: decision?.stages ?? [],
    failedStores: (decision?.failedStores ?? []).map((f) => ({ store: f.name, stage: f.stage, reason: f.reason, message: f.message })),
  };
}

export function formatView(view: RolloutView, output: 'table' | 'json' | 'yaml'): string {
  if (output === 'json') return `${JSON.stringify(view, null, 2)}\n`;
  if (output === 'yaml') return stringify(view);
  const lines = [
    `StoreSchema ${view.schema}: version ${view.version ?? '-'}, ${view.phase ?? 'not started'}${view.reason ? ` (${view.reason})` : ''}`,
    `updated ${view.updated}/${view.total}${view.currentStage ? `, current stage ${view.currentStage}` : ''}`,
  ];
  if (view.message) lines.push(view.message);
  if (view.stages.length) {
    const rows = view.stages.map((s) => [s.name, String(s.total), String(s.updated), String(s.failed), String(s.pending)]);
    lines.push('', formatTable(['STAGE', 'TOTAL', 'UPDATED', 'FAILED', 'PENDING'], rows));
  }
  if (view.failedStores.length) {
    const rows = view.failedStores.map((f) => [f.store, f.stage, f.reason, f.message]);
    lines.push('', formatTable(['FAILED STORE', 'STAGE', 'REASON', 'MESSAGE'], rows));
  }
  return `${lines.join('\n')}\n`;
}
