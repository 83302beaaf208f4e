// What `storeop rollout status` prints: one view of a rollout, built from a StoreSchema's status (cluster
// mode) or from the master DB (without a cluster), as a table for people or JSON/YAML for tools.
import type { Kysely } from 'kysely';
import { stringify } from 'yaml';
import type { StoreSchema } from '../api/store-schema.js';
import type { RolloutRow } from '../master/rollouts.js';
import type { MasterDB } from '../master/types.js';
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

/** Without a cluster: the rollout row and the admissions of its version, per stage as admitted. */
export async function viewFromMaster(db: Kysely<MasterDB>, rollout: RolloutRow): Promise<RolloutView> {
  const admissions = await db
    .selectFrom('schema_rollout_stores')
    .innerJoin('stores', 'stores.id', 'schema_rollout_stores.store_id')
    .select([
      'stores.slug',
      'schema_rollout_stores.stage',
      'schema_rollout_stores.state',
      'schema_rollout_stores.reason',
      'schema_rollout_stores.message',
    ])
    .where('schema_rollout_stores.schema_name', '=', rollout.schema_name)
    .where('schema_rollout_stores.version', '=', rollout.version)
    .execute();
  const stores = await db.selectFrom('stores').select(['schema_version']).where('schema_name', '=', rollout.schema_name).execute();
  const updated = stores.filter((s) => s.schema_version === rollout.version).length;
  const stages = new Map<string, RolloutView['stages'][number]>();
  for (const a of admissions) {
    const stage = stages.get(a.stage) ?? { name: a.stage, total: 0, updated: 0, failed: 0, pending: 0 };
    stage.total++;
    if (a.state === 'updated') stage.updated++;
    else if (a.state === 'failed') stage.failed++;
    else stage.pending++;
    stages.set(a.stage, stage);
  }
  const phase = rollout.halted || rollout.paused ? 'Paused' : rollout.complete ? 'Complete' : 'Progressing';
  return {
    schema: rollout.schema_name,
    version: rollout.version,
    phase,
    reason: rollout.halted ? 'FailureBudgetExceeded' : rollout.paused ? 'PausedByUser' : undefined,
    message: rollout.previous_version ? `from version ${rollout.previous_version}` : undefined,
    currentStage: rollout.current_stage ?? undefined,
    updated,
    total: stores.length,
    stages: [...stages.values()],
    failedStores: admissions
      .filter((a) => a.state === 'failed')
      .map((a) => ({ store: a.slug, stage: a.stage, reason: a.reason ?? 'Failed', message: a.message ?? '' })),
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
