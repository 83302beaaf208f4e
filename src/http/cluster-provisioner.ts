// In cluster mode the API does not provision by itself: a POST creates or updates the Store (and the
// Secrets it brings) so that API, GitOps and kubectl converge on one source of truth, and answers with
// the job the controller starts for it.
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP_VERSION } from '../api/common.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import { StoreopError } from '../errors.js';
import { describeApiError, FIELD_MANAGER, isNotFound, type KubeClient, MANAGED_BY_LABELS } from '../kube/client.js';
import { findStore } from '../master/stores.js';
import type { MasterContext } from '../stores/provision-store.js';
import type { Provisioner } from './provisioner.js';
import type { ProvisionRequestBody } from './schemas.js';

const WAIT_FOR_JOB_MS = 30_000;

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
    for (const [secretName, values] of Object.entries(body.secrets ?? {})) await this.#applySecret(secretName, values);
    const before = await this.kube.get<StoreDatabase>('StoreDatabase', this.namespace, name);
    const spec = { ...body.store, database: body.database };
    const store = await this.kube.get<Store>('Store', this.namespace, name);
    if (store) {
      await this.kube.patchSpec('Store', store.metadata, spec);
    } else {
      await this.kube.custom.createNamespacedCustomObject({
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
      });
    }
    return this.#waitForJob(name, before?.status?.jobId);
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

  async #applySecret(name: string, values: Record<string, string>): Promise<void> {
    const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const body = { metadata: { name, namespace: this.namespace, labels: { ...MANAGED_BY_LABELS } }, type: 'Opaque', data };
    try {
      const existing = await this.kube.core.readNamespacedSecret({ namespace: this.namespace, name });
      await this.kube.core.replaceNamespacedSecret({
        namespace: this.namespace,
        name,
        fieldManager: FIELD_MANAGER,
        body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } },
      });
    } catch (error) {
      if (!isNotFound(error)) throw new StoreopError('ProvisioningFailed', `could not write Secret ${name}: ${describeApiError(error)}`);
      await this.kube.core.createNamespacedSecret({ namespace: this.namespace, fieldManager: FIELD_MANAGER, body });
    }
  }

  async drain(): Promise<void> {
    // Jobs run in the controller; nothing to wait for here.
  }
}
