// Kubernetes Events for every transition and failure, so `kubectl describe` tells the story. Repeats of
// the same event on the same object bump a count instead of piling up objects.
import { createHash } from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { DatabaseServer } from '../api/database-server.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import type { StoreSchema } from '../api/store-schema.js';
import { FIELD_MANAGER, isNotFound, mergePatch } from '../kube/client.js';
import type { Logger } from '../log.js';

export type EventType = 'Normal' | 'Warning';

/** Events remembered for counting repeats: the most recently recorded ones (client-go's correlator keeps 4,096). */
const MAX_REMEMBERED = 1024;
/** A repeat after this long is a new Event (client-go aggregates within 10 minutes; kube-apiserver keeps events 1 h). */
const REPEAT_WINDOW_MS = 10 * 60_000;

interface Recorded {
  /** The Event object's name, to patch its count. */
  name: string;
  count: number;
  at: number;
}

export class EventRecorder {
  /**
   * Recent events by a digest of what makes them the same (object, type, reason, message), in recording
   * order: bounded in number and age, and a number per entry rather than a key string with the message in it.
   */
  readonly #recent = new Map<number, Recorded>();

  readonly #maxRemembered: number;
  readonly #now: () => number;

  constructor(
    private readonly core: CoreV1Api,
    private readonly log: Logger,
    options: { maxRemembered?: number; now?: () => number } = {},
  ) {
    this.#maxRemembered = options.maxRemembered ?? MAX_REMEMBERED;
    this.#now = options.now ?? Date.now;
  }

  /** Never throws: an event that cannot be written is logged, not allowed to fail a reconcile. */
  async record(
    object: Store | StoreDatabase | DatabaseServer | StoreSchema,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    // A cluster-scoped object's events go to the default namespace, as the kubelet's Node events do.
    const namespace = (object.metadata as { namespace?: string }).namespace ?? 'default';
    const key = digest([object.kind, namespace, object.metadata.name, object.metadata.uid, type, reason, message]);
    const now = this.#now();
    try {
      const seen = this.#recent.get(key);
      if (seen && now - seen.at < REPEAT_WINDOW_MS) {
        seen.count++;
        seen.at = now;
        this.#remember(key, seen); // now the most recent
        if (await this.#bump(namespace, seen)) return;
      }
      const name = await this.#create(object, namespace, type, reason, message, now);
      this.#remember(key, { name, count: 1, at: now });
    } catch (error) {
      this.#recent.delete(key);
      this.log.warn({ err: (error as Error).message, reason }, 'could not record event');
    }
  }

  /** How many events are remembered (for tests: bounded). */
  get remembered(): number {
    return this.#recent.size;
  }

  /** Writes a repeat's count to the existing Event; false when that Event is gone (expired): record a new one. */
  async #bump(namespace: string, seen: Recorded): Promise<boolean> {
    try {
      await this.core.patchNamespacedEvent(
        { namespace, name: seen.name, body: { count: seen.count, lastTimestamp: new Date(seen.at) } as CoreV1Event },
        mergePatch,
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async #create(
    object: Store | StoreDatabase | DatabaseServer | StoreSchema,
    namespace: string,
    type: EventType,
    reason: string,
    message: string,
    now: number,
  ): Promise<string> {
    const timestamp = new Date(now);
    const name = `${object.metadata.name}.${now.toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`;
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
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      },
    });
    return name;
  }

  /** Stores (or moves) an entry as the most recent; the oldest goes beyond the bound. */
  #remember(key: number, recorded: Recorded): void {
    this.#recent.delete(key);
    this.#recent.set(key, recorded);
    if (this.#recent.size > this.#maxRemembered) this.#recent.delete(this.#recent.keys().next().value as number);
  }
}

/** 48 bits of a SHA-1: two different events share one by a chance of 2^-48. */
function digest(parts: unknown[]): number {
  return createHash('sha1').update(JSON.stringify(parts)).digest().readUIntBE(0, 6);
}
