// Kubernetes Events for every transition and failure, so `kubectl describe` tells the story. Repeats of
// the same event on the same object bump a count instead of piling up objects.
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { DatabaseServer } from '../api/database-server.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import type { StoreSchema } from '../api/store-schema.js';
import { FIELD_MANAGER, mergePatch } from '../kube/client.js';
import type { Logger } from '../log.js';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  readonly #recent = new Map<string, { name: string; count: number }>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly log: Logger,
  ) {}

  /** Never throws: an event that cannot be written is logged, not allowed to fail a reconcile. */
  async record(
    object: Store | StoreDatabase | DatabaseServer | StoreSchema,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    // A cluster-scoped object's events go to the default namespace, as the kubelet's Node events do.
    const namespace = (object.metadata as { namespace?: string }).namespace ?? 'default';
    const key = `${object.kind}/${namespace}/${object.metadata.name}/${object.metadata.uid}/${type}/${reason}/${message}`;
    const now = new Date();
    try {
      const seen = this.#recent.get(key);
      if (seen) {
        seen.count++;
        await this.core.patchNamespacedEvent(
          { namespace, name: seen.name, body: { count: seen.count, lastTimestamp: now } as CoreV1Event },
          mergePatch,
        );
        return;
      }
      const name = `${object.metadata.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`;
      await this.core.createNamespacedEvent({
        namespace,
        fieldManager: FIELD_MANAGER,
        body: {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            ...((object.metadata as { namespace?: string }).namespace ? { namespace } : {}),
            uid: object.metadata.uid as string,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: 'storeop' },
          reportingComponent: 'storeop.dev/controller',
          reportingInstance: process.env.HOSTNAME ?? 'storeop',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      this.#recent.set(key, { name, count: 1 });
      if (this.#recent.size > 5000) this.#recent.delete(this.#recent.keys().next().value as string);
    } catch (error) {
      this.#recent.delete(key);
      this.log.warn({ err: (error as Error).message, reason }, 'could not record event');
    }
  }
}
