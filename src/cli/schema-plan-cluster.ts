// `storeop schema plan --kubeconfig`: the fleet as the operator sees it, through the API server. The version
// is reviewed against the cluster's StoreSchema of that name (the version the fleet is rolling out or has);
// each Store that uses the schema is resolved to its database target as the operator resolves it (its
// StoreDatabase's spec, else its inline spec.database; Secrets and DatabaseServers read from the API
// server), then planned by the store service. Reads only.
import type { DatabaseServer } from '../api/database-server.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase, StoreDatabaseTemplateSpec } from '../api/store-database.js';
import { DEFAULT_STORE_SCHEMA_NAME, type StoreSchema, storeSchemaSpec } from '../api/store-schema.js';
import type { DatabaseTarget } from '../engines/target.js';
import { isStoreopError, StoreopError } from '../errors.js';
import { describeApiError, type KubeClient, secretValue } from '../kube/client.js';
import { type SchemaVersionRecord, specChecksum } from '../master/schema-versions.js';
import { describeStore } from '../stores/intent.js';
import { resolveTarget, type SecretReader } from '../stores/resolve-target.js';
import { type FleetStore, planSchemaForTargets, type SchemaPlanReport, versionsOf } from '../stores/schema-plan.js';
import { placedOnServer } from '../stores/server-placement.js';
import { serverTarget } from '../stores/server-target.js';
import { type DeclaredSchema, reviewAgainst } from '../stores/store-schemas.js';

export interface ClusterPlanOptions {
  /** Only this namespace's Stores (default: every namespace). */
  namespace?: string | undefined;
  /** Where DatabaseServer admin Secrets without a namespace live (the operator's own namespace). */
  operatorNamespace: string;
}

async function api<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new StoreopError('ConnectionFailed', `${what}: ${describeApiError(error)}`);
  }
}

/** The cluster's StoreSchema as the record the declared version is reviewed against. */
function clusterRecord(object: StoreSchema | undefined): SchemaVersionRecord | undefined {
  const parsed = object && storeSchemaSpec.safeParse(object.spec);
  if (!object || !parsed?.success) return undefined;
  return {
    schemaName: object.metadata.name,
    version: parsed.data.version,
    spec: parsed.data,
    checksum: specChecksum(parsed.data),
    firstSeenAt: new Date((object.metadata as { creationTimestamp?: string }).creationTimestamp ?? Date.now()),
  };
}

export async function planSchemaInCluster(
  kube: KubeClient,
  declared: DeclaredSchema,
  options: ClusterPlanOptions,
): Promise<SchemaPlanReport> {
  const current = clusterRecord(await api(`reading StoreSchema ${declared.name}`, () => kube.getStoreSchema(declared.name)));
  const review = reviewAgainst(declared, current, current?.version === declared.spec.version ? current : undefined);
  const stores = (await api('listing Stores', () => kube.list<Store>('Store', options.namespace))).items.filter(
    (s) => !s.metadata.deletionTimestamp && (s.spec?.schemaRef?.name ?? DEFAULT_STORE_SCHEMA_NAME) === declared.name,
  );
  stores.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  let servers: DatabaseServer[] | undefined;
  const serverNamed = async (name: string) => {
    servers ??= (await api('listing DatabaseServers', () => kube.listDatabaseServers())).items;
    return servers.find((s) => s.metadata.name === name);
  };
  const fleet: FleetStore[] = [];
  for (const store of stores) fleet.push(await fleetStore(kube, store, serverNamed, options));
  const versions = versionsOf(declared.name, current ? [current] : []);
  return planSchemaForTargets(review, fleet, versions);
}

function secretReader(kube: KubeClient, namespace: string): SecretReader {
  return async (name, key) => {
    const secret = await api(`reading Secret ${namespace}/${name}`, () => kube.getSecret(namespace, name));
    return secret ? secretValue(secret, key) : undefined;
  };
}

/** A Store's slug, reported version and database target, as the operator would resolve them. */
async function fleetStore(
  kube: KubeClient,
  store: Store,
  serverNamed: (name: string) => Promise<DatabaseServer | undefined>,
  options: ClusterPlanOptions,
): Promise<FleetStore> {
  const namespace = store.metadata.namespace as string;
  const databaseName = store.status?.databaseName ?? store.spec?.databaseRef?.name ?? store.metadata.name;
  const sdb = await api(`reading StoreDatabase ${namespace}/${databaseName}`, () =>
    kube.get<StoreDatabase>('StoreDatabase', namespace, databaseName),
  );
  const version = store.status?.schemaVersion ?? sdb?.status?.schemaVersion;
  const label = `${namespace}/${store.metadata.name}`;
  let spec: StoreDatabaseTemplateSpec | undefined;
  if (sdb?.spec) {
    const { storeRef: _storeRef, ...template } = sdb.spec;
    spec = template;
  } else spec = store.spec?.database;
  if (!spec) return { slug: label, version, target: { unchecked: `StoreDatabase ${databaseName} not found` } };
  let slug = label;
  try {
    slug = describeStore({ name: store.metadata.name, spec: store.spec, database: spec, source: `kubernetes:${label}` }).slug;
    return { slug, version, target: await targetOf(kube, namespace, spec, slug, sdb, serverNamed, options) };
  } catch (error) {
    return { slug, version, target: { unchecked: isStoreopError(error) ? `${error.code}: ${error.message}` : (error as Error).message } };
  }
}

async function targetOf(
  kube: KubeClient,
  namespace: string,
  spec: StoreDatabaseTemplateSpec,
  slug: string,
  sdb: StoreDatabase | undefined,
  serverNamed: (name: string) => Promise<DatabaseServer | undefined>,
  options: ClusterPlanOptions,
): Promise<DatabaseTarget | { unchecked: string }> {
  if (spec.engine === 'pglite') return { unchecked: "an embedded (pglite) database lives in the operator's volume" };
  if (spec.engine === 'supabase') return { unchecked: 'a Supabase project is planned by the operator, not from here' };
  if (placedOnServer(spec)) {
    const name = sdb?.status?.server;
    if (!name) return { unchecked: 'not placed on a DatabaseServer yet' };
    const server = await serverNamed(name);
    if (!server?.spec) return { unchecked: `DatabaseServer ${name} not found` };
    const adminNamespace = server.spec.adminSecretRef.namespace ?? options.operatorNamespace;
    return serverTarget(spec, { name, spec: server.spec }, secretReader(kube, adminNamespace));
  }
  return resolveTarget(spec, secretReader(kube, namespace), { home: undefined, slug });
}
