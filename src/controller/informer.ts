// An informer that survives client-node's known pitfalls: it restarts with capped backoff after an
// error (ListWatch otherwise stops for good), re-watches through server-side timeouts with bookmarks
// requested, restarts when the watch goes silent (watchdog), and its handlers only enqueue, never throw.
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { CacheIndex, type IndexFunction } from './cache-index.js';
import { shareStrings } from './intern.js';

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /apis/storeop.dev/v1alpha1/storedatabases. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  onChange: (object: T, event: 'add' | 'update' | 'delete') => void;
  log: Logger;
  /** Only objects with these labels (the list function must apply the same selector). */
  labelSelector?: string;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion after it. */
  watchTimeoutSeconds?: number;
  /** Indexes kept over the cache (updated before onChange runs), looked up with byIndex. */
  indexes?: Record<string, IndexFunction<T>>;
}

const MAX_RESTART_DELAY_MS = 30_000;

export class ResilientInformer<T extends KubernetesObject> {
  #listWatch: ListWatch<T>;
  #synced = false;
  #lastActivity = Date.now();
  #failingSince: number | undefined;
  #restartDelayMs = 500;
  #restartTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #timeoutSeconds: number;
  readonly #indexes = new Map<string, CacheIndex<T>>();

  constructor(private readonly options: InformerOptions<T>) {
    this.#timeoutSeconds = options.watchTimeoutSeconds ?? 300;
    for (const [name, fn] of Object.entries(options.indexes ?? {})) this.#indexes.set(name, new CacheIndex(fn));
    const path = `${options.path}?allowWatchBookmarks=true&timeoutSeconds=${this.#timeoutSeconds}`;
    const list = async () => {
      const result = await options.list();
      for (const item of result.items) this.#prepare(item);
      this.#synced = true;
      this.#activity();
      return result;
    };
    this.#listWatch = new ListWatch<T>(
      path,
      new PreparingWatch(options.kubeConfig, (o) => this.#prepare(o)),
      list,
      false,
      options.labelSelector,
    );
    for (const event of ['add', 'update', 'delete'] as const) {
      this.#listWatch.on(event, (object: T) => {
        this.#activity();
        try {
          for (const index of this.#indexes.values()) index.observe(object, event);
          options.onChange(object, event);
        } catch (error) {
          options.log.error({ err: error, informer: options.name }, 'informer handler failed');
        }
      });
    }
    this.#listWatch.on('connect', () => this.#activity());
    this.#listWatch.on('error', (error: unknown) => this.#onError(error));
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#watchdog = setInterval(() => this.#checkWatchdog(), 15_000);
    this.#watchdog.unref();
    await this.#listWatch.start().catch((error: unknown) => this.#onError(error));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#watchdog) clearInterval(this.#watchdog);
    await this.#listWatch.stop();
  }

  /** Has listed at least once: the cache can be trusted. */
  get synced(): boolean {
    return this.#synced;
  }

  /** False when the informer has been failing to list/watch for over two minutes. */
  get healthy(): boolean {
    return this.#failingSince === undefined || Date.now() - this.#failingSince < 120_000;
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.#listWatch.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#listWatch.get(name, namespace);
  }

  /** The cached objects of `namespace` that the named index files under `value`. */
  byIndex(index: string, namespace: string | undefined, value: string | undefined): T[] {
    const found = this.#indexes.get(index);
    if (!found) throw new Error(`informer ${this.options.name} has no index ${index}`);
    return found.names(namespace, value).flatMap((name) => this.#listWatch.get(name, namespace) ?? []);
  }

  /**
   * What the cache keeps of an object that arrives (listed or watched): trimmed, its strings shared with the
   * version it replaces and with other objects (intern.ts).
   */
  #prepare<O extends KubernetesObject>(object: O): O {
    const { name, namespace } = object.metadata ?? {};
    return prepareForCache(object, name === undefined ? undefined : this.#listWatch?.get(name, namespace));
  }

  #activity(): void {
    this.#lastActivity = Date.now();
    this.#failingSince = undefined;
    this.#restartDelayMs = 500;
  }

  #onError(error: unknown): void {
    if (this.#stopped) return;
    this.#failingSince ??= Date.now();
    const message = (error as Error)?.message ?? String(error);
    this.options.log.warn({ informer: this.options.name, err: message, retryInMs: this.#restartDelayMs }, 'informer stopped; restarting');
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#restartTimer || this.#stopped) return;
    const delay = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopped) return;
      void this.#listWatch
        .stop()
        .then(() => this.#listWatch.start())
        .catch((error: unknown) => this.#onError(error));
    }, delay);
    this.#restartTimer.unref();
  }

  /** A watch can stall without an error (half-open connection): restart when nothing arrived for too long. */
  #checkWatchdog(): void {
    if (this.#stopped || this.#restartTimer) return;
    if (Date.now() - this.#lastActivity > (this.#timeoutSeconds + 60) * 1000) {
      this.options.log.warn({ informer: this.options.name }, 'watch silent for too long; restarting');
      this.#lastActivity = Date.now();
      this.#scheduleRestart();
    }
  }
}

/** kubectl's copy of the last applied manifest: a second copy of the spec that no reconcile reads. */
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the cache keeps of an object: everything but managedFields and kubectl's last-applied copy, which no
 * reconcile reads and which are often most of an object's size (memory with thousands of objects cached).
 */
export function trimForCache<T extends KubernetesObject>(object: T): T {
  const metadata = object.metadata;
  if (!metadata) return object;
  delete metadata.managedFields;
  if (metadata.annotations && LAST_APPLIED_ANNOTATION in metadata.annotations) {
    const { [LAST_APPLIED_ANNOTATION]: _dropped, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  return object;
}

/** What the cache keeps of an arriving object: trimmed, its strings shared with `previous` (the version it replaces) and the pool. */
export function prepareForCache<O extends KubernetesObject>(object: O, previous?: KubernetesObject): O {
  return shareStrings(trimForCache(object), previous);
}

/** A Watch whose objects are prepared for the cache (trimmed, strings shared) before the ListWatch stores them. */
class PreparingWatch extends Watch {
  constructor(
    kubeConfig: KubeConfig,
    private readonly prepare: (object: KubernetesObject) => KubernetesObject,
  ) {
    super(kubeConfig);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: KubernetesObject, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      // A deleted object is dropped from the cache: nothing to prepare.
      (phase, object: KubernetesObject, watchObject) => callback(phase, phase === 'DELETED' ? object : this.prepare(object), watchObject),
      done,
    );
  }
}
