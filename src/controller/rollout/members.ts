// The Stores of a StoreSchema as rollout members: from the informer caches (labels, the database server)
// and the master DB (admissions to the version, the version each store has). Durable state decides who is
// in flight, so a restarted operator counts the same.
import type { Store } from '../../api/store.js';
import { DEFAULT_STORE_SCHEMA_NAME } from '../../api/store-schema.js';
import { fleetFacts } from '../../master/rollouts.js';
import type { MemberState, RolloutMember } from '../../stores/rollout/plan.js';
import type { ControllerContext } from '../context.js';

export interface SchemaMember extends RolloutMember {
  storeId: string;
  /** The StoreDatabase that runs the store's schema work. */
  databaseName: string;
}

export interface SchemaFleet {
  members: SchemaMember[];
  /** New stores whose StoreDatabase waits for a version of this schema to be recorded (SchemaNotFound). */
  waiting: Array<{ namespace: string; databaseName: string }>;
}

/** The schema a Store uses. */
export function schemaNameOf(store: Store): string {
  return store.spec?.schemaRef?.name ?? DEFAULT_STORE_SCHEMA_NAME;
}

/** The StoreDatabase of a Store: the one it names, or its inline one (of its own name). */
export function databaseNameOf(store: Store): string {
  return store.status?.databaseName ?? store.spec?.databaseRef?.name ?? store.metadata.name;
}

/** Whether any Store this operator watches uses the schema. */
export function schemaInUse(ctx: ControllerContext, schemaName: string): boolean {
  return ctx.caches.stores.informer.list().some((s) => schemaNameOf(s) === schemaName);
}

/**
 * Every Store that uses the schema, is registered in the master DB and is not suspended, with where it stands
 * with `version`; a Store still being provisioned starts with the version its stage is at, without an admission.
 */
export async function rolloutMembers(ctx: ControllerContext, schemaName: string, version: string): Promise<SchemaFleet> {
  const stores = ctx.caches.stores.informer
    .list()
    // A suspended store runs no schema work: it is left out (and gets the version once resumed).
    .filter((s) => !s.metadata.deletionTimestamp && !s.spec?.suspend && s.status?.storeId && schemaNameOf(s) === schemaName);
  const ids = stores.map((s) => s.status?.storeId as string);
  const { admissions, facts } = await fleetFacts(ctx.master.master.db, schemaName, version, ids);
  const waiting: Array<{ namespace: string; databaseName: string }> = [];
  const members = stores.flatMap((store): SchemaMember[] => {
    const storeId = store.status?.storeId as string;
    const namespace = store.metadata.namespace as string;
    const admission = admissions.get(storeId);
    const fact = facts.get(storeId);
    const databaseName = databaseNameOf(store);
    // A store that never had a version of this schema and whose database is not Ready yet is still being
    // provisioned (with the version its stage is at), or cannot be (an invalid spec): not the rollout's to run.
    if (!admission && fact?.schemaName !== schemaName && !databaseReady(ctx, namespace, databaseName)) {
      if (waitsForSchema(ctx, namespace, databaseName)) waiting.push({ namespace, databaseName });
      return [];
    }
    let state: MemberState = 'pending';
    if (admission) state = admission.state === 'admitted' ? 'inFlight' : admission.state;
    else if (fact?.schemaName === schemaName && fact.schemaVersion === version) state = 'updated';
    const member: SchemaMember = {
      namespace,
      name: store.metadata.name,
      labels: store.metadata.labels,
      server: serverOf(ctx, namespace, databaseName),
      state,
      ...(admission?.state === 'failed' ? { failure: { reason: admission.reason ?? 'Failed', message: admission.message ?? '' } } : {}),
      storeId,
      databaseName,
    };
    return [member];
  });
  return { members, waiting };
}

/**
 * The StoreDatabase as the informer holds it, read without a copy (the cache's get() copies): a pass looks
 * at every store of the schema, and a rollout runs a pass per store finished.
 */
function databaseOf(ctx: ControllerContext, namespace: string, databaseName: string) {
  return ctx.caches.databases.informer.get(databaseName, namespace);
}

function readyCondition(ctx: ControllerContext, namespace: string, databaseName: string) {
  return databaseOf(ctx, namespace, databaseName)?.status?.conditions?.find((c) => c.type === 'Ready');
}

function databaseReady(ctx: ControllerContext, namespace: string, databaseName: string): boolean {
  return readyCondition(ctx, namespace, databaseName)?.status === 'True';
}

function waitsForSchema(ctx: ControllerContext, namespace: string, databaseName: string): boolean {
  return readyCondition(ctx, namespace, databaseName)?.reason === 'SchemaNotFound';
}

/** The database server a store's schema work runs on: engine, host and port, as its StoreDatabase reports them. */
function serverOf(ctx: ControllerContext, namespace: string, databaseName: string): string {
  const database = databaseOf(ctx, namespace, databaseName);
  const connection = database?.status?.connection;
  const engine = database?.spec?.engine ?? 'unknown';
  return connection?.host ? `${engine}://${connection.host}:${connection.port}` : `${engine}://${namespace}/${databaseName}`;
}
