// A StoreSchema rollout without a cluster (storeop apply, storeop rollout resume): the same stage logic
// (plan.ts) and the same durable state in the master DB as the operator, run to where it stops. The
// stores are the ones the master DB records at a version of the schema, with the labels storeop apply
// recorded for them; each admitted store gets the version through its registered login (syncStoreSchema:
// no admin session), and the next store is admitted as soon as one finishes, within maxConcurrent and
// maxConcurrentPerServer. A run killed midway leaves admissions in flight: the next run finishes those first.
import type { Kysely } from 'kysely';
import { rolloutSpec } from '../../api/store-schema.js';
import { isStoreopError, StoreopError } from '../../errors.js';
import { readActiveDatabaseConfig } from '../../master/integrations.js';
import type { Keyring } from '../../master/keyring.js';
import {
  admitStores,
  findRollout,
  fleetFacts,
  recordProgress,
  recordSchemaApplied,
  recordSchemaFailed,
  schemaStores,
} from '../../master/rollouts.js';
import { findSchemaVersion } from '../../master/schema-versions.js';
import type { MasterDB } from '../../master/types.js';
import { syncStoreSchema, type TargetSchema } from '../../provisioning/pipeline.js';
import { type MemberState, planRollout, type RolloutDecision, type RolloutMember } from './plan.js';
import { targetSchema } from './target-schema.js';

export interface StandaloneContext {
  db: Kysely<MasterDB>;
  keyring: Keyring;
}

export interface StoreMember extends RolloutMember {
  storeId: string;
  slug: string;
}

/** Database statuses whose stores take part: a suspended, detached or unfinished store runs no schema work. */
const TAKING_PART = new Set(['active', 'failed']);

/** Where a rollout stands without a cluster: its version as a TargetSchema, its members and the stage logic's answer. */
export interface StandaloneState {
  schema: TargetSchema;
  members: StoreMember[];
  decision: RolloutDecision<StoreMember>;
  /** The failure budget was already reached before this decision. */
  halted: boolean;
}

/** Reads the rollout's state and asks the stage logic; writes nothing. Undefined when the schema has no rollout. */
export async function rolloutState(db: Kysely<MasterDB>, schemaName: string): Promise<StandaloneState | undefined> {
  const rollout = await findRollout(db, schemaName);
  if (!rollout) return undefined;
  const version = rollout.version;
  const record = await findSchemaVersion(db, schemaName, version);
  const schema = await targetSchema(db, schemaName, version);
  if (!schema) return undefined;
  const rows = (await schemaStores(db, schemaName)).filter((r) => TAKING_PART.has(r.databaseStatus));
  const { admissions, facts } = await fleetFacts(
    db,
    schemaName,
    version,
    rows.map((r) => r.id),
  );
  const members = rows.map((row): StoreMember => {
    const admission = admissions.get(row.id);
    let state: MemberState = 'pending';
    if (admission) state = admission.state === 'admitted' ? 'inFlight' : admission.state;
    else if (facts.get(row.id)?.schemaVersion === version) state = 'updated';
    return {
      namespace: '',
      name: row.slug,
      slug: row.slug,
      storeId: row.id,
      labels: row.labels,
      server: row.server,
      state,
      ...(admission?.state === 'failed' ? { failure: { reason: admission.reason ?? 'Failed', message: admission.message ?? '' } } : {}),
    };
  });
  const decision = planRollout(record?.spec.rollout ?? rolloutSpec.parse({}), members, {
    pausedByUser: rollout.paused,
    halted: rollout.halted,
    approvedStage: rollout.approved_stage ?? undefined,
  });
  return { schema, members, decision, halted: rollout.halted };
}

/**
 * Runs the rollout of the schema's current version until nothing is in flight and nothing more may be
 * admitted: Complete, Paused (a gate, a pause or the failure budget) or Failed. Undefined when the schema
 * has no rollout. `onLine` hears one line per store finished.
 */
export async function runRollout(
  ctx: StandaloneContext,
  schemaName: string,
  onLine: (line: string) => void = () => {},
): Promise<RolloutDecision | undefined> {
  const { db } = ctx;
  const running = new Map<string, Promise<void>>();
  for (;;) {
    const state = await rolloutState(db, schemaName);
    if (!state) return undefined;
    const { schema, members, decision } = state;
    if (decision.admit.length > 0)
      await admitStores(
        db,
        schemaName,
        schema.version,
        decision.admit.map((m) => ({ storeId: m.storeId, stage: m.stage })),
      );
    await recordProgress(db, schemaName, {
      startedStage: decision.startedStage ?? null,
      awaitingStage: decision.awaitingStage ?? null,
      complete: decision.phase === 'Complete',
      halted: state.halted || decision.haltNow,
    });
    // Admitted now, or left in flight by a run that was stopped: this run makes them.
    const toRun = [...members.filter((m) => m.state === 'inFlight'), ...decision.admit].filter((m) => !running.has(m.storeId));
    for (const member of toRun) {
      const work = migrateStore(ctx, schemaName, schema, member, onLine).finally(() => running.delete(member.storeId));
      running.set(member.storeId, work);
    }
    if (running.size === 0) return decision;
    await Promise.race(running.values());
  }
}

/** One store to the version: recorded as updated, or as failed with the reason (it keeps the version it had). */
async function migrateStore(
  ctx: StandaloneContext,
  schemaName: string,
  schema: TargetSchema,
  member: StoreMember,
  onLine: (line: string) => void,
): Promise<void> {
  const { db } = ctx;
  try {
    const config = await readActiveDatabaseConfig(db, ctx.keyring, member.storeId);
    if (!config) throw new StoreopError('NoDatabaseConfigured', 'the master DB has no database configuration for it', { retryable: false });
    // Seeding is for new stores: a rollout changes the schema only.
    await syncStoreSchema({ slug: member.slug, connection: config.connection, schema, seed: false });
    await recordSchemaApplied(db, member.storeId, schemaName, schema.version);
    onLine(`store ${member.slug}: version ${schema.version} of StoreSchema ${schemaName}`);
  } catch (error) {
    const reason = isStoreopError(error) ? error.code : 'ProvisioningFailed';
    const message = (error as Error)?.message ?? String(error);
    await recordSchemaFailed(db, member.storeId, schemaName, schema.version, { reason, message });
    onLine(
      `store ${member.slug}: version ${schema.version} of StoreSchema ${schemaName} failed (${reason}): ${message}; it keeps its previous version`,
    );
  }
}
