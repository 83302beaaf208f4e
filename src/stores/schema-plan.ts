// `storeop schema plan`: what a StoreSchema version would do, before anything runs. The change rules
// against the version the master DB admitted last, then every store that uses the schema (the schema the
// master DB records for it; for a store recorded before schemas were, its database's last synced version is
// one of the schema's admitted versions), planned through its own login: the
// changes it would get, the migrations it would run, and the conflicts (a column of another type added
// by hand) that would stop it. Reads only.
import type { Kysely } from 'kysely';
import { DEFAULT_STORE_SCHEMA_NAME } from '../api/store-schema.js';
import { engineFor } from '../engines/index.js';
import { createsStoreRole, type DatabaseTarget, targetSummary } from '../engines/target.js';
import { describeTarget, isStoreopError } from '../errors.js';
import { readActiveDatabaseConfig } from '../master/integrations.js';
import type { Keyring } from '../master/keyring.js';
import { listSchemaVersions } from '../master/schema-versions.js';
import { listStores } from '../master/stores.js';
import type { MasterDB } from '../master/types.js';
import { type ProvisioningPlan, planForConnection, planProvisioning } from '../provisioning/dry-run.js';
import { STORE_TARGET_SCHEMA } from '../provisioning/pipeline.js';
import { definitionFromSpec, schemaFromSpec } from '../schema/from-spec.js';
import { schemaHash } from '../schema/plan.js';
import { type DeclaredSchema, reviewSchema, type SchemaReview } from './store-schemas.js';

export interface StorePlan {
  slug: string;
  /** Where its database is, without credentials. */
  database: string;
  /** The schema version its database is at. */
  version: string;
  plan: ProvisioningPlan;
}

export interface SchemaPlanReport {
  review: SchemaReview;
  stores: StorePlan[];
  /** Stores whose database could not be checked (so whether they use the schema is unknown), with why. */
  unchecked: Array<{ slug: string; reason: string }>;
}

/** Schema checksum (as the history table records it) -> version, for every version of the schema storeop knows. */
async function knownVersions(db: Kysely<MasterDB>, name: string): Promise<Map<string, string>> {
  return versionsOf(name, await listSchemaVersions(db, name));
}

export async function planSchemaForFleet(db: Kysely<MasterDB>, keyring: Keyring, declared: DeclaredSchema): Promise<SchemaPlanReport> {
  const review = await reviewSchema(db, declared);
  const target = schemaFromSpec(declared.spec, declared.name);
  const versions = await knownVersions(db, declared.name);
  const stores: StorePlan[] = [];
  const unchecked: SchemaPlanReport['unchecked'] = [];
  for (const store of await listStores(db)) {
    if (store.database_status !== 'active' && store.database_status !== 'failed') continue;
    if (store.schema_name !== null && store.schema_name !== declared.name) continue; // another schema's store: not connected to
    const config = await readActiveDatabaseConfig(db, keyring, store.id);
    if (!config) continue;
    const { connection } = config;
    const database = describeTarget({
      engine: connection.engine,
      host: connection.host,
      port: connection.port,
      database: connection.database,
    });
    try {
      const plan = await planForConnection(connection, { schema: target });
      const version = (plan.lastSchemaChecksum ? versions.get(plan.lastSchemaChecksum) : undefined) ?? store.schema_version ?? undefined;
      if (version !== undefined) stores.push({ slug: store.slug, database, version, plan });
    } catch (error) {
      unchecked.push({ slug: store.slug, reason: describeError(error) });
    }
  }
  return { review, stores, unchecked };
}

/** A store of the fleet as a cluster describes it: its database target (the operator's view), or why it has none. */
export interface FleetStore {
  slug: string;
  /** The version its status reports, if any. */
  version: string | undefined;
  target: DatabaseTarget | { unchecked: string };
}

/**
 * The same report for stores whose database targets the caller resolved (in cluster mode, from the Stores,
 * StoreDatabases and Secrets as the operator reads them): each database is read through the target's
 * credentials (a create-mode store's through the server admin's), nothing is changed. `versions` maps schema
 * checksums (as history tables record them) to versions, for stores whose status names none.
 */
export async function planSchemaForTargets(
  review: SchemaReview,
  fleet: readonly FleetStore[],
  versions: ReadonlyMap<string, string>,
): Promise<SchemaPlanReport> {
  const { name, spec } = review.schema;
  const target = schemaFromSpec(spec, name);
  const stores: StorePlan[] = [];
  const unchecked: SchemaPlanReport['unchecked'] = [];
  for (const store of fleet) {
    if ('unchecked' in store.target) {
      unchecked.push({ slug: store.slug, reason: store.target.unchecked });
      continue;
    }
    try {
      const plan = await planProvisioning(store.target, { schema: target, slug: store.slug, seed: false });
      // Not created yet: it is provisioned with the version its stage is at, nothing to plan.
      if (!plan.databaseExists) continue;
      const version = store.version ?? (plan.lastSchemaChecksum ? versions.get(plan.lastSchemaChecksum) : undefined) ?? 'unknown';
      stores.push({ slug: store.slug, database: describeDatabase(store.target, store.slug), version, plan });
    } catch (error) {
      unchecked.push({ slug: store.slug, reason: describeError(error) });
    }
  }
  return { review, stores, unchecked };
}

/** Schema checksum -> version for the given specs of a schema (and the built-in one for storeop-default). */
export function versionsOf(
  name: string,
  specs: ReadonlyArray<{ version: string; spec: Parameters<typeof definitionFromSpec>[0] }>,
): Map<string, string> {
  const versions = new Map<string, string>();
  for (const s of specs) versions.set(schemaHash(definitionFromSpec(s.spec), s.version), s.version);
  if (name === DEFAULT_STORE_SCHEMA_NAME)
    versions.set(schemaHash(STORE_TARGET_SCHEMA.definition, STORE_TARGET_SCHEMA.version), STORE_TARGET_SCHEMA.version);
  return versions;
}

/** Where a store's database is, without credentials: a create-mode target names it through its placement. */
function describeDatabase(target: DatabaseTarget, slug: string): string {
  const summary = targetSummary(target);
  const database = createsStoreRole(target) ? engineFor(target.engine).placement(target, slug).database : summary.database;
  return describeTarget({ engine: summary.engine, host: summary.host, port: summary.port, database });
}

function describeError(error: unknown): string {
  return isStoreopError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
}
