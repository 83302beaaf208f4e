// Queries of StoreSchema rollouts (migration 0006): a rollout's state and gates, the stores admitted to a
// version and the schema version each store has (the versions' specs: schema-versions.ts). The rollout controller and
// `storeop rollout` read and write the same rows, so either can act after the other (or after a crash).
import { type Kysely, type Selectable, sql } from 'kysely';
import type { MasterDB, SchemaRolloutsTable } from './types.js';

export type RolloutRow = Selectable<SchemaRolloutsTable>;

export interface StoreSchemaFacts {
  storeId: string;
  /** The schema and version the store database has (recorded when a run succeeded). */
  schemaName: string | null;
  schemaVersion: string | null;
}

export interface Admission {
  storeId: string;
  version: string;
  stage: string;
  state: 'admitted' | 'updated' | 'failed';
  reason: string | null;
  message: string | null;
}

export async function findRollout(db: Kysely<MasterDB>, schemaName: string): Promise<RolloutRow | undefined> {
  return db.selectFrom('schema_rollouts').selectAll().where('schema_name', '=', schemaName).executeTakeFirst();
}

export async function listRollouts(db: Kysely<MasterDB>): Promise<RolloutRow[]> {
  return db.selectFrom('schema_rollouts').selectAll().orderBy('schema_name').execute();
}

/**
 * The rollout of `version`: created, or moved on from the version it had (the previous version is the one
 * the stores have; a stage approval no longer counts). A reached failure budget stays until a resume.
 */
export async function startRollout(db: Kysely<MasterDB>, schemaName: string, version: string): Promise<RolloutRow> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('schema_rollouts')
      .selectAll()
      .where('schema_name', '=', schemaName)
      .forUpdate()
      .executeTakeFirst();
    if (current?.version === version) return current;
    if (!current) {
      return trx.insertInto('schema_rollouts').values({ schema_name: schemaName, version }).returningAll().executeTakeFirstOrThrow();
    }
    return trx
      .updateTable('schema_rollouts')
      .set({
        version,
        // The version the stores have: the one before, once complete; else the one it was rolling out from.
        previous_version: current.complete ? current.version : (current.previous_version ?? current.version),
        current_stage: null,
        complete: false,
        approved_stage: null,
        updated_at: sql`now()`,
      })
      .where('schema_name', '=', schemaName)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/**
 * Where the rollout stands, for stores created meanwhile (current_stage: the last stage that has started);
 * written only when it changed.
 */
export async function recordProgress(
  db: Kysely<MasterDB>,
  schemaName: string,
  progress: { startedStage: string | null; awaitingStage: string | null; complete: boolean; halted: boolean },
): Promise<void> {
  await db
    .updateTable('schema_rollouts')
    .set({
      current_stage: progress.startedStage,
      awaiting_stage: progress.awaitingStage,
      complete: progress.complete,
      halted: progress.halted,
      updated_at: sql`now()`,
    })
    .where('schema_name', '=', schemaName)
    .where((eb) =>
      eb.or([
        eb('current_stage', 'is distinct from', progress.startedStage),
        eb('awaiting_stage', 'is distinct from', progress.awaitingStage),
        eb('complete', '!=', progress.complete),
        eb('halted', '!=', progress.halted),
      ]),
    )
    .execute();
}

/** storeop rollout pause without a cluster (the controller reads it as an annotation's equal). */
export async function setPaused(db: Kysely<MasterDB>, schemaName: string, paused: boolean): Promise<boolean> {
  const result = await db
    .updateTable('schema_rollouts')
    .set({ paused, updated_at: sql`now()` })
    .where('schema_name', '=', schemaName)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * A resume, once per token: the pause and a reached failure budget are lifted, the gated stage the
 * rollout waits at is approved, and the stores that failed this version are retried.
 */
export async function applyResume(db: Kysely<MasterDB>, schemaName: string, token: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('schema_rollouts').selectAll().where('schema_name', '=', schemaName).forUpdate().executeTakeFirst();
    if (!row || row.resume_token === token) return false;
    await trx
      .updateTable('schema_rollouts')
      .set({
        paused: false,
        halted: false,
        approved_stage: row.awaiting_stage ?? row.approved_stage,
        resume_token: token,
        updated_at: sql`now()`,
      })
      .where('schema_name', '=', schemaName)
      .execute();
    await trx
      .deleteFrom('schema_rollout_stores')
      .where('schema_name', '=', schemaName)
      .where('version', '=', row.version)
      .where('state', '=', 'failed')
      .execute();
    return true;
  });
}

/** The admissions to a version, and the schema facts of the given stores. */
export async function fleetFacts(
  db: Kysely<MasterDB>,
  schemaName: string,
  version: string,
  storeIds: readonly string[],
): Promise<{ admissions: Map<string, Admission>; facts: Map<string, StoreSchemaFacts> }> {
  const rows = await db
    .selectFrom('schema_rollout_stores')
    .select(['store_id', 'version', 'stage', 'state', 'reason', 'message'])
    .where('schema_name', '=', schemaName)
    .where('version', '=', version)
    .execute();
  const admissions = new Map(rows.map((r) => [r.store_id, { storeId: r.store_id, ...r }]));
  const facts = new Map<string, StoreSchemaFacts>();
  // In slices: one statement per thousand stores keeps the parameter list well within limits.
  for (let i = 0; i < storeIds.length; i += 1000) {
    const slice = storeIds.slice(i, i + 1000);
    const stores = await db.selectFrom('stores').select(['id', 'schema_name', 'schema_version']).where('id', 'in', slice).execute();
    for (const s of stores) facts.set(s.id, { storeId: s.id, schemaName: s.schema_name, schemaVersion: s.schema_version });
  }
  return { admissions, facts };
}

/** Admits stores to a version (idempotent: an admission already recorded is kept as it is). */
export async function admitStores(
  db: Kysely<MasterDB>,
  schemaName: string,
  version: string,
  stores: ReadonlyArray<{ storeId: string; stage: string }>,
): Promise<void> {
  if (stores.length === 0) return;
  await db
    .insertInto('schema_rollout_stores')
    .values(stores.map((s) => ({ schema_name: schemaName, version, store_id: s.storeId, stage: s.stage, state: 'admitted' as const })))
    .onConflict((oc) => oc.columns(['schema_name', 'version', 'store_id']).doNothing())
    .execute();
}

/** The store's admission still in flight for a schema, if any: the version it is to receive. */
export async function pendingAdmission(db: Kysely<MasterDB>, storeId: string, schemaName: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('schema_rollout_stores')
    .select('version')
    .where('store_id', '=', storeId)
    .where('schema_name', '=', schemaName)
    .where('state', '=', 'admitted')
    .orderBy('admitted_at', 'desc')
    .executeTakeFirst();
  return row?.version;
}

export async function storeSchemaFacts(db: Kysely<MasterDB>, storeId: string): Promise<StoreSchemaFacts | undefined> {
  const row = await db.selectFrom('stores').select(['id', 'schema_name', 'schema_version']).where('id', '=', storeId).executeTakeFirst();
  return row && { storeId: row.id, schemaName: row.schema_name, schemaVersion: row.schema_version };
}

/** A run of the store at a version succeeded: the store has it, and its admission (if any) is done. */
export async function recordSchemaApplied(db: Kysely<MasterDB>, storeId: string, schemaName: string, version: string): Promise<void> {
  // One statement (a data-modifying CTE), one round trip: this runs after every job.
  await db
    .with('applied', (w) =>
      w
        .updateTable('stores')
        .set({ schema_name: schemaName, schema_version: version })
        .where('id', '=', storeId)
        .where((eb) => eb.or([eb('schema_name', 'is distinct from', schemaName), eb('schema_version', 'is distinct from', version)]))
        .returning('id'),
    )
    .updateTable('schema_rollout_stores')
    .set({ state: 'updated', finished_at: sql`now()` })
    .where('store_id', '=', storeId)
    .where('schema_name', '=', schemaName)
    .where('version', '=', version)
    .where('state', '=', 'admitted')
    .execute();
}

/** The store's run at an admitted version failed: it keeps the version it had. */
export async function recordSchemaFailed(
  db: Kysely<MasterDB>,
  storeId: string,
  schemaName: string,
  version: string,
  failure: { reason: string; message: string },
): Promise<void> {
  await db
    .updateTable('schema_rollout_stores')
    .set({ state: 'failed', reason: failure.reason.slice(0, 64), message: failure.message.slice(0, 2000), finished_at: sql`now()` })
    .where('store_id', '=', storeId)
    .where('schema_name', '=', schemaName)
    .where('version', '=', version)
    .where('state', '=', 'admitted')
    .execute();
}

/**
 * Without a cluster, a Store's labels (which rollout stages select) live in the master DB: storeop apply
 * records those of every Store it applies, one platform_settings row per store.
 */
const LABELS_KEY = 'store-labels/';

export async function recordStoreLabels(db: Kysely<MasterDB>, storeId: string, labels: Readonly<Record<string, string>>): Promise<void> {
  const key = `${LABELS_KEY}${storeId}`;
  const value = JSON.stringify(labels);
  // Written only when the labels changed: applying the same manifests again writes nothing here.
  const current = await db.selectFrom('platform_settings').select('value').where('key', '=', key).executeTakeFirst();
  if (current && sameLabels(current.value as Record<string, unknown>, labels)) return;
  await db
    .insertInto('platform_settings')
    .values({ key, value, description: 'labels of a Store applied by storeop apply (rollout stage selectors)' })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: sql`now()` }))
    .execute();
}

function sameLabels(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}

/** A schema's stores without a cluster: the ones the master DB records at a version of it, with their labels. */
export interface SchemaStoreRow {
  id: string;
  slug: string;
  databaseStatus: string;
  /** Where its schema work runs: engine, host (and the DatabaseServer, when placed on one). */
  server: string;
  labels: Record<string, string>;
}

export async function schemaStores(db: Kysely<MasterDB>, schemaName: string): Promise<SchemaStoreRow[]> {
  const rows = await db
    .selectFrom('stores')
    .leftJoin('platform_settings', (join) => join.on('platform_settings.key', '=', sql<string>`${LABELS_KEY} || stores.id::text`))
    .select([
      'stores.id',
      'stores.slug',
      'stores.database_status',
      'stores.database_type',
      'stores.database_host',
      'stores.database_server',
    ])
    .select('platform_settings.value as labels')
    .where('stores.schema_name', '=', schemaName)
    .orderBy('stores.slug')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    databaseStatus: r.database_status,
    server: r.database_server ?? `${r.database_type ?? 'unknown'}://${r.database_host ?? r.slug}`,
    labels: (typeof r.labels === 'string' ? JSON.parse(r.labels) : (r.labels ?? {})) as Record<string, string>,
  }));
}
