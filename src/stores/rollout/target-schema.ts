// Which schema version a store database gets, and that version as the pipeline's TargetSchema.
//
// How a store receives a version (issue 13): the rollout controller admits a store to the new version by
// recording an admission in the master DB (schema_rollout_stores). The StoreDatabase reconciler asks this
// module for its target on every run: an admission in flight gives the new version; otherwise the store keeps
// (and is verified against) the version it has (stores.schema_version); a store that has none yet (new,
// or newly pointed at this schema) starts with the version its stage is at. The reconciler then runs the
// pipeline with that version and records the outcome (recordSchemaApplied / recordSchemaFailed), which the
// rollout controller reads back. A failed admission leaves the store on the version it had.
import type { Kysely } from 'kysely';
import { DEFAULT_STORE_SCHEMA_NAME } from '../../api/store-schema.js';
import { findRollout, pendingAdmission, storeSchemaFacts } from '../../master/rollouts.js';
import { findSchemaVersion } from '../../master/schema-versions.js';
import type { MasterDB } from '../../master/types.js';
import { STORE_TARGET_SCHEMA, type TargetSchema } from '../../provisioning/pipeline.js';
import { schemaFromSpec } from '../../schema/from-spec.js';
import { versionForNewStore } from './plan.js';

export interface SchemaChoice {
  schemaName: string;
  schema: TargetSchema;
  /** The version comes from a rollout admission still in flight: its outcome is recorded for the rollout. */
  admitted: boolean;
}

/** Converted once per schema and version: the pipeline memoises its expectation key per TargetSchema object. */
const converted = new Map<string, TargetSchema>();

export async function storeTargetSchema(
  db: Kysely<MasterDB>,
  store: { storeId: string | undefined; schemaName: string | undefined; labels: Readonly<Record<string, string>> | undefined },
): Promise<SchemaChoice | { missing: string }> {
  const schemaName = store.schemaName ?? DEFAULT_STORE_SCHEMA_NAME;
  const admittedVersion = store.storeId ? await pendingAdmission(db, store.storeId, schemaName) : undefined;
  let version = admittedVersion;
  if (version === undefined && store.storeId) {
    const facts = await storeSchemaFacts(db, store.storeId);
    if (facts?.schemaName === schemaName && facts.schemaVersion) version = facts.schemaVersion;
  }
  if (version === undefined) {
    const rollout = await findRollout(db, schemaName);
    const admitted = rollout && (await findSchemaVersion(db, schemaName, rollout.version));
    if (rollout && admitted) {
      version = versionForNewStore(admitted.spec.rollout, store.labels, {
        version: rollout.version,
        previousVersion: rollout.previous_version ?? undefined,
        startedStage: rollout.current_stage ?? undefined,
        complete: rollout.complete,
      });
    }
  }
  const schema = await targetSchema(db, schemaName, version);
  if (!schema) return { missing: `StoreSchema ${schemaName}${version ? ` version ${version}` : ''} is not known yet` };
  return { schemaName, schema, admitted: admittedVersion !== undefined && admittedVersion === schema.version };
}

/**
 * A version's TargetSchema from the spec kept in the master DB. storeop's built-in schema needs no record;
 * a built-in version older than this storeop's (never recorded) is verified against the current one.
 */
export async function targetSchema(
  db: Kysely<MasterDB>,
  schemaName: string,
  version: string | undefined,
): Promise<TargetSchema | undefined> {
  const builtIn = schemaName === DEFAULT_STORE_SCHEMA_NAME;
  if (builtIn && (version === undefined || version === STORE_TARGET_SCHEMA.version)) return STORE_TARGET_SCHEMA;
  if (version === undefined) return undefined;
  const key = `${schemaName}@${version}`;
  const known = converted.get(key);
  if (known) return known;
  const admitted = await findSchemaVersion(db, schemaName, version);
  if (!admitted) return builtIn ? STORE_TARGET_SCHEMA : undefined;
  // The rollout controller admitted the version only once schemaFromSpec accepted it.
  const schema = schemaFromSpec(admitted.spec, schemaName);
  converted.set(key, schema);
  return schema;
}
