// The Secrets reconciles read, all from watches: storeop's labelled Secrets (one cluster-wide informer, or
// every Secret of the namespace with --namespace) and, cluster-wide, the unlabelled Secrets of each namespace
// where a StoreDatabase names a Secret (the users' admin Secrets, a connection Secret's name that someone
// else may hold). A namespace's informer starts with the first StoreDatabase there that names a Secret and
// stops with the last, so the operator never caches the Secrets of namespaces it has no business in, and a
// reconcile never GETs a Secret.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { ResilientInformer } from './informer.js';
import type { ObjectCache } from './object-cache.js';

/** The Secrets storeop does not label, for a namespace's informer: the labelled ones are in the other cache. */
export const UNLABELLED_SECRETS_SELECTOR = 'app.kubernetes.io/managed-by!=storeop';

export interface SecretCacheOptions {
  /** storeop's labelled Secrets, or with --namespace every Secret of that namespace. */
  labelled: ObjectCache<V1Secret>;
  /** Whether `labelled` holds every Secret a reconcile may read (--namespace): then no other informer is needed. */
  holdsAll: boolean;
  /** A (not started) informer of the unlabelled Secrets of a namespace. */
  namespaceInformer: (namespace: string) => ResilientInformer<V1Secret>;
  /** The last resort when a namespace's informer could not list: one GET. */
  get: (namespace: string, name: string) => Promise<V1Secret | undefined>;
  log: Logger;
}

interface NamespaceSecrets {
  informer: ResilientInformer<V1Secret>;
  /** Settles once the first list is done (or failed: the informer then retries on its own). */
  started: Promise<void>;
  /** The StoreDatabases of the namespace that name a Secret. */
  users: Set<string>;
}

export class SecretCache {
  readonly #namespaces = new Map<string, NamespaceSecrets>();
  #stopped = false;

  constructor(private readonly options: SecretCacheOptions) {}

  /** The Secret, or undefined when it does not exist; from the caches (a GET only while a namespace's informer cannot list). */
  async find(namespace: string, name: string): Promise<V1Secret | undefined> {
    const labelled = this.options.labelled.get(namespace, name);
    if (labelled || this.options.holdsAll) return labelled;
    const entry = this.#namespaces.get(namespace);
    if (entry) {
      await entry.started;
      if (entry.informer.synced) {
        const found = entry.informer.get(name, namespace);
        return found === undefined ? undefined : structuredClone(found);
      }
    }
    this.options.log.debug({ namespace, secret: name }, 'Secret not cached (no synced informer for its namespace); reading it once');
    return this.options.get(namespace, name);
  }

  /** Remembers a Secret this process wrote (storeop's own, labelled), until the watch delivers it. */
  wrote(secret: V1Secret): void {
    this.options.labelled.wrote(secret);
  }

  /**
   * Follows a StoreDatabase informer event: `namesSecrets` says whether the object names any Secret. Called
   * before the event enqueues a reconcile, so the namespace's informer has started when the reconcile reads.
   */
  track(namespace: string, name: string, namesSecrets: boolean, event: 'add' | 'update' | 'delete'): void {
    if (this.options.holdsAll || this.#stopped) return;
    const entry = this.#namespaces.get(namespace);
    if (namesSecrets && event !== 'delete') {
      if (entry) entry.users.add(name);
      else this.#start(namespace, name);
      return;
    }
    if (!entry?.users.delete(name) || entry.users.size > 0) return;
    this.#namespaces.delete(namespace);
    void entry.informer.stop().catch(() => {});
  }

  /** The namespaces whose unlabelled Secrets are cached (for metrics and tests). */
  get namespaces(): string[] {
    return [...this.#namespaces.keys()];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const informers = [...this.#namespaces.values()].map((e) => e.informer);
    this.#namespaces.clear();
    await Promise.all(informers.map((informer) => informer.stop().catch(() => {})));
  }

  #start(namespace: string, user: string): void {
    const informer = this.options.namespaceInformer(namespace);
    this.#namespaces.set(namespace, { informer, started: informer.start(), users: new Set([user]) });
  }
}
