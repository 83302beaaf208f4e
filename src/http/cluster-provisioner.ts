// In cluster mode the API does not provision by itself: a POST creates or updates the Store (and the
// Secrets it brings) so that API, GitOps and kubectl converge on one source of truth, and answers with
// the job the controller starts for it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Secret } from '@kubernetes/client-node';
import { GROUP_VERSION } from '../api/common.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import { StoreopError } from '../errors.js';
import { describeApiError, FIELD_MANAGER, type KubeClient, MANAGED_BY_LABELS, ownerReference } from '../kube/client.js';
import { findStore } from '../master/stores.js';
import type { MasterContext } from '../stores/provision-store.js';
import { secretReferences } from '../stores/resolve-target.js';
import type { Provisioner } from './provisioner.js';
import type { ProvisionRequestBody } from './schemas.js';

const WAIT_FOR_JOB_MS = 30_000;
/** Label naming the store an API-created Secret belongs to. */
export const STORE_LABEL = 'storeop.dev/store';
const API_SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface ApiSecret {
  /** The name in the request's secrets map (and in its database spec). */
  requested: string;
  /** The name storeop gives it in the cluster. */
  name: string;
  values: Record<string, string>;
}

/** The cluster name of a Secret a request brings; a name that already carries the prefix keeps it (a spec read back). */
export function apiSecretName(slug: string, requested: string): string {
  const prefix = `${slug}-storeop-`;
  return requested.startsWith(prefix) ? requested : `${prefix}${requested}`;
}

/** Whether storeop's API wrote this Secret for this store: its labels and an owner reference to the Store. */
function createdForStore(secret: V1Secret, slug: string): boolean {
  const m = secret.metadata;
  return (
    m?.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY_LABELS['app.kubernetes.io/managed-by'] &&
    m.labels[STORE_LABEL] === slug &&
    (m.ownerReferences ?? []).some((o) => o.kind === 'Store' && o.name === slug)
  );
}

/** Sets `object.a.b.c` for the field "a.b.c" (a Secret reference the spec is known to hold). */
function setAt(object: object, field: string, value: string): void {
  const keys = field.split('.');
  let at = object as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[keys[keys.length - 1] as string] = value;
}

export class ClusterProvisioner implements Provisioner {
  constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly ctx: MasterContext,
  ) {}

  async submit(body: ProvisionRequestBody): Promise<{ jobId: string; storeId: string }> {
    const name = body.store.slug;
    const source = `kubernetes:${this.namespace}/${name}`;
    const existing = await findStore(this.ctx.master.db, name);
    if (existing?.source && existing.source !== source) {
      throw new StoreopError('Conflict', `store slug ${name} belongs to another store (declared by ${existing.source})`, {
        retryable: false,
      });
    }
    // Everything is checked before anything is written: a refused request changes no Secret and no Store.
    const { database, secrets } = await this.#ownSecrets(name, body);
    for (const secret of secrets) await this.#assertWritable(name, secret);
    const before = await this.kube.get<StoreDatabase>('StoreDatabase', this.namespace, name);
    const spec = { ...body.store, database };
    let store = await this.kube.get<Store>('Store', this.namespace, name);
    if (store) {
      await this.kube.patchSpec('Store', store.metadata, spec);
    } else {
      store = (await this.kube.custom.createNamespacedCustomObject({
        group: 'storeop.dev',
        version: 'v1alpha1',
        plural: 'stores',
        namespace: this.namespace,
        fieldManager: FIELD_MANAGER,
        body: {
          apiVersion: GROUP_VERSION,
          kind: 'Store',
          metadata: { name, namespace: this.namespace, labels: { ...MANAGED_BY_LABELS, 'storeop.dev/created-by': 'api' } },
          spec,
        },
      })) as Store;
    }
    for (const secret of secrets) await this.#writeSecret(store, secret);
    return this.#waitForJob(name, before?.status?.jobId);
  }

  /**
   * The request's Secrets under names storeop derives (`<slug>-storeop-<name>`), the database spec with its
   * references renamed to match; a reference to a Secret the request does not bring must name one storeop
   * created for this store. So a request can neither overwrite nor read any other Secret of the namespace.
   */
  async #ownSecrets(
    slug: string,
    body: ProvisionRequestBody,
  ): Promise<{ database: ProvisionRequestBody['database']; secrets: ApiSecret[] }> {
    const brought = new Map<string, ApiSecret>();
    for (const [requested, values] of Object.entries(body.secrets ?? {})) {
      const name = apiSecretName(slug, requested);
      if (!API_SECRET_NAME.test(requested) || name.length > 253)
        throw new StoreopError('InvalidSpec', `secrets.${requested}: must be a lowercase DNS-1123 label (a-z, 0-9, "-")`, {
          retryable: false,
        });
      brought.set(requested, { requested, name, values });
    }
    const database = structuredClone(body.database);
    for (const ref of secretReferences(database)) {
      const secret = brought.get(ref.name);
      if (secret) {
        setAt(database, ref.field, secret.name);
        continue;
      }
      const found = await this.kube.getSecret(this.namespace, ref.name);
      if (!found || !createdForStore(found, slug)) {
        throw new StoreopError(
          'InvalidSpec',
          `spec.${ref.field}: Secret ${ref.name} is not in the request's secrets, and is not one storeop created for store ${slug}: bring its values in secrets`,
          { retryable: false },
        );
      }
    }
    return { database, secrets: [...brought.values()] };
  }

  /** A Secret under a derived name is replaced only when storeop wrote it for this store (label and owner). */
  async #assertWritable(slug: string, secret: ApiSecret): Promise<void> {
    const existing = await this.kube.getSecret(this.namespace, secret.name);
    if (existing && !createdForStore(existing, slug)) {
      throw new StoreopError(
        'Conflict',
        `secrets.${secret.requested}: Secret ${secret.name} exists and storeop did not create it for store ${slug}; nothing was written`,
        { retryable: false },
      );
    }
  }

  /** The job the controller runs for this change: a new jobId, or the last one when nothing needed to run. */
  async #waitForJob(name: string, previousJobId: string | undefined): Promise<{ jobId: string; storeId: string }> {
    const deadline = Date.now() + WAIT_FOR_JOB_MS;
    while (Date.now() < deadline) {
      const sdb = await this.kube.get<StoreDatabase>('StoreDatabase', this.namespace, name);
      const status = sdb?.status;
      const settled = status?.observedGeneration === sdb?.metadata.generation && status?.phase !== 'Provisioning';
      if (status?.jobId && status.storeId && (status.jobId !== previousJobId || settled))
        return { jobId: status.jobId, storeId: status.storeId };
      await sleep(250);
    }
    throw new StoreopError(
      'ProvisioningFailed',
      `the controller did not start a job for store ${name} within ${WAIT_FOR_JOB_MS / 1000}s; is storeop run reconciling namespace ${this.namespace}?`,
    );
  }

  async #writeSecret(store: Store, secret: ApiSecret): Promise<void> {
    const data = Object.fromEntries(Object.entries(secret.values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const metadata = {
      name: secret.name,
      namespace: this.namespace,
      labels: { ...MANAGED_BY_LABELS, [STORE_LABEL]: store.metadata.name, 'storeop.dev/created-by': 'api' },
      ownerReferences: [ownerReference(store)],
    };
    const body = { metadata, type: 'Opaque', data };
    try {
      const existing = await this.kube.getSecret(this.namespace, secret.name);
      if (!existing) {
        await this.kube.core.createNamespacedSecret({ namespace: this.namespace, fieldManager: FIELD_MANAGER, body });
        return;
      }
      // Checked again right before writing; the resourceVersion makes a change in between a conflict.
      if (!createdForStore(existing, store.metadata.name))
        throw new StoreopError('Conflict', `secrets.${secret.requested}: Secret ${secret.name} exists and storeop did not create it`, {
          retryable: false,
        });
      await this.kube.core.replaceNamespacedSecret({
        namespace: this.namespace,
        name: secret.name,
        fieldManager: FIELD_MANAGER,
        body: { ...body, metadata: { ...metadata, resourceVersion: existing.metadata?.resourceVersion } },
      });
    } catch (error) {
      if (error instanceof StoreopError) throw error;
      throw new StoreopError('ProvisioningFailed', `could not write Secret ${secret.name}: ${describeApiError(error)}`);
    }
  }

  async drain(): Promise<void> {
    // Jobs run in the controller; nothing to wait for here.
  }
}
