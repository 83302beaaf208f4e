// Typed access to the Kubernetes objects storeop reads and writes. Status and metadata changes are
// merge patches (status on the status subresource), never full replaces that could drop others' fields.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, GROUP_VERSION, type ObjectMeta, ownValue } from '../api/common.js';
import type { DatabaseServer, DatabaseServerStatus } from '../api/database-server.js';
import type { Store, StoreStatus } from '../api/store.js';
import type { StoreDatabase, StoreDatabaseSpec, StoreDatabaseStatus } from '../api/store-database.js';
import type { StorePlan } from '../api/store-plan.js';
import type { StoreSchema, StoreSchemaStatus } from '../api/store-schema.js';

export const FIELD_MANAGER = 'storeop';
/** Labels on every object storeop creates. */
export const MANAGED_BY_LABELS = { 'app.kubernetes.io/managed-by': 'storeop' };
const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY_VALUE = MANAGED_BY_LABELS[MANAGED_BY_LABEL];
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export type Kind = 'Store' | 'StoreDatabase';
/** The namespaced kinds, and DatabaseServer (cluster-scoped). */
export type WatchedKind = Kind | 'DatabaseServer';
const PLURAL: Record<WatchedKind, string> = { Store: 'stores', StoreDatabase: 'storedatabases', DatabaseServer: 'databaseservers' };

function objectRef(kind: Kind, namespace: string, name: string) {
  return { group: API_GROUP, version: API_VERSION, plural: PLURAL[kind], namespace, name };
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof ApiException && error.code === 409;
}

/** A create refused because the object exists: to a reader of a lagging cache, "exists, look again shortly". */
export function isAlreadyExists(error: unknown): boolean {
  if (!isConflict(error)) return false;
  const body = (error as ApiException<unknown>).body;
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  return (parsed as { reason?: string } | undefined)?.reason === 'AlreadyExists';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A short description of a Kubernetes API error, without the response body (which can echo input). */
export function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as { message?: string } | string | undefined;
    const message = typeof body === 'object' && body?.message ? body.message : `HTTP ${error.code}`;
    return message;
  }
  return (error as Error)?.message ?? String(error);
}

/** StoreSchema is cluster-scoped: its own paths, without a namespace. */
const STORE_SCHEMAS = { group: API_GROUP, version: API_VERSION, plural: 'storeschemas' };

export class KubeClient {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  collectionPath(kind: WatchedKind, namespace?: string): string {
    return namespace
      ? `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${PLURAL[kind]}`
      : `/apis/${API_GROUP}/${API_VERSION}/${PLURAL[kind]}`;
  }

  /** Lists a kind; `limit` asks for a first page only (a probe that the kind is served, not the whole fleet). */
  async list<T extends Store | StoreDatabase>(kind: Kind, namespace?: string, limit?: number): Promise<KubernetesListObject<T>> {
    const params = { group: API_GROUP, version: API_VERSION, plural: PLURAL[kind], ...(limit ? { limit } : {}) };
    return (
      namespace ? await this.custom.listNamespacedCustomObject({ ...params, namespace }) : await this.custom.listClusterCustomObject(params)
    ) as KubernetesListObject<T>;
  }

  /** Every DatabaseServer (cluster-scoped: whatever namespace the operator watches). */
  async listDatabaseServers(labelSelector?: string): Promise<KubernetesListObject<DatabaseServer>> {
    return (await this.custom.listClusterCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: PLURAL.DatabaseServer,
      ...(labelSelector ? { labelSelector } : {}),
    })) as KubernetesListObject<DatabaseServer>;
  }

  async patchDatabaseServerStatus(name: string, status: Partial<DatabaseServerStatus>): Promise<DatabaseServer> {
    return (await this.custom.patchClusterCustomObjectStatus(
      { group: API_GROUP, version: API_VERSION, plural: PLURAL.DatabaseServer, name, body: { status }, fieldManager: FIELD_MANAGER },
      mergePatch,
    )) as DatabaseServer;
  }

  async get<T extends Store | StoreDatabase>(kind: Kind, namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject(objectRef(kind, namespace, name))) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  // Writes return the object as written: its resourceVersion guards the next write of the same reconcile,
  // and a cached reader uses it until the informer has caught up (read-your-writes).

  async patchStatus<T extends Store | StoreDatabase>(kind: Kind, meta: ObjectMeta, status: StoreStatus | StoreDatabaseStatus): Promise<T> {
    return (await this.custom.patchNamespacedCustomObjectStatus(
      { ...objectRef(kind, meta.namespace as string, meta.name), body: { status }, fieldManager: FIELD_MANAGER },
      mergePatch,
    )) as T;
  }

  /** Replaces the finalizers list, guarded by resourceVersion (a concurrent change gives 409 and a retry). */
  async setFinalizers<T extends Store | StoreDatabase>(kind: Kind, meta: ObjectMeta, finalizers: string[]): Promise<T> {
    return this.#mergePatch<T>(kind, meta, { metadata: { finalizers, resourceVersion: meta.resourceVersion } });
  }

  async annotate<T extends Store | StoreDatabase>(kind: Kind, meta: ObjectMeta, annotations: Record<string, string | null>): Promise<T> {
    return this.#mergePatch<T>(kind, meta, { metadata: { annotations } });
  }

  /** A merge patch of the object itself (not its status), as storeop's field manager. */
  async #mergePatch<T>(kind: Kind, meta: ObjectMeta, body: object): Promise<T> {
    return (await this.custom.patchNamespacedCustomObject(
      { ...objectRef(kind, meta.namespace as string, meta.name), body, fieldManager: FIELD_MANAGER },
      mergePatch,
    )) as T;
  }

  async createStoreDatabase(
    namespace: string,
    name: string,
    spec: StoreDatabaseSpec,
    owner: Store,
    metadata: { labels: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] },
  ): Promise<StoreDatabase> {
    const body: StoreDatabase = {
      apiVersion: GROUP_VERSION,
      kind: 'StoreDatabase',
      metadata: { name, namespace, ...metadata, ownerReferences: [ownerReference(owner)] },
      spec,
    };
    return (await this.custom.createNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: PLURAL.StoreDatabase,
      namespace,
      body,
      fieldManager: FIELD_MANAGER,
    })) as StoreDatabase;
  }

  async patchSpec<T extends Store | StoreDatabase>(kind: Kind, meta: ObjectMeta, spec: unknown): Promise<T> {
    return this.#mergePatch<T>(kind, meta, { spec });
  }

  async delete(kind: Kind, namespace: string, name: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject(objectRef(kind, namespace, name));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** StorePlans (cluster-scoped), those a label selector matches when one is given. */
  async listStorePlans(labelSelector?: string): Promise<KubernetesListObject<StorePlan>> {
    return (await this.custom.listClusterCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: 'storeplans',
      ...(labelSelector ? { labelSelector } : {}),
    })) as KubernetesListObject<StorePlan>;
  }

  storeSchemasPath(): string {
    return `/apis/${API_GROUP}/${API_VERSION}/${STORE_SCHEMAS.plural}`;
  }

  async listStoreSchemas(): Promise<KubernetesListObject<StoreSchema>> {
    return (await this.custom.listClusterCustomObject(STORE_SCHEMAS)) as KubernetesListObject<StoreSchema>;
  }

  async getStoreSchema(name: string): Promise<StoreSchema | undefined> {
    try {
      return (await this.custom.getClusterCustomObject({ ...STORE_SCHEMAS, name })) as StoreSchema;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async createStoreSchema(body: StoreSchema): Promise<StoreSchema> {
    return (await this.custom.createClusterCustomObject({ ...STORE_SCHEMAS, body, fieldManager: FIELD_MANAGER })) as StoreSchema;
  }

  /** A merge patch of a StoreSchema (spec or metadata); `resourceVersion` in the body guards it. */
  async patchStoreSchema(name: string, body: object): Promise<StoreSchema> {
    return (await this.custom.patchClusterCustomObject(
      { ...STORE_SCHEMAS, name, body, fieldManager: FIELD_MANAGER },
      mergePatch,
    )) as StoreSchema;
  }

  async patchStoreSchemaStatus(name: string, status: Partial<StoreSchemaStatus>): Promise<StoreSchema> {
    return (await this.custom.patchClusterCustomObjectStatus(
      { ...STORE_SCHEMAS, name, body: { status }, fieldManager: FIELD_MANAGER },
      mergePatch,
    )) as StoreSchema;
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Creates or updates a Secret owned by `owner`; leaves it alone when its data already matches. A Secret
   * storeop does not own (its label and an ownerReference to `owner`) is never written: SecretConflictError.
   * `read` finds the current Secret (a GET unless the caller has it cached); `written` receives what was written.
   */
  async applySecret(
    namespace: string,
    name: string,
    data: Record<string, string>,
    owner: StoreDatabase,
    labels: Record<string, string>,
    options: { read?: () => Promise<V1Secret | undefined>; written?: (secret: V1Secret) => void } = {},
  ): Promise<'created' | 'updated' | 'unchanged'> {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const existing = await (options.read ?? (() => this.getSecret(namespace, name)))();
    const body = { metadata: { name, namespace, labels, ownerReferences: [ownerReference(owner)] }, type: 'Opaque', data: encoded };
    if (!existing) {
      options.written?.(await this.core.createNamespacedSecret({ namespace, body, fieldManager: FIELD_MANAGER }));
      return 'created';
    }
    if (!ownedSecret(existing, owner)) throw new SecretConflictError(name, owner);
    const same = JSON.stringify(Object.entries(existing.data ?? {}).sort()) === JSON.stringify(Object.entries(encoded).sort());
    if (same) return 'unchanged';
    const replaced = await this.core.replaceNamespacedSecret({
      namespace,
      name,
      // The resourceVersion turns a change made since the check above into a 409 and a retry.
      body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } },
      fieldManager: FIELD_MANAGER,
    });
    options.written?.(replaced);
    return 'updated';
  }
}

/** A Secret storeop may write or read back for `owner`: it carries storeop's label and an ownerReference to it. */
export function ownedSecret(secret: V1Secret, owner: StoreDatabase): boolean {
  return (
    secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE &&
    (secret.metadata.ownerReferences ?? []).some((o) => o.uid === owner.metadata.uid)
  );
}

/** A Secret storeop would write exists and is not storeop's for this object: nothing was written. */
export class SecretConflictError extends Error {
  override name = 'SecretConflictError';

  constructor(
    readonly secretName: string,
    owner: StoreDatabase,
  ) {
    super(
      `Secret ${secretName} exists and storeop does not own it (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label with an ownerReference to ${owner.kind} ${owner.metadata.name}); nothing was written: delete it or choose another name`,
    );
  }
}

export function ownerReference(owner: Store | StoreDatabase) {
  return {
    apiVersion: GROUP_VERSION,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid as string,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function secretValue(secret: V1Secret, key: string): string | undefined {
  const raw = ownValue(secret.data, key);
  if (raw !== undefined) return Buffer.from(raw, 'base64').toString('utf8');
  return ownValue(secret.stringData, key);
}
