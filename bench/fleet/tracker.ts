// A watch-fed view of one kind in one namespace (list, then watch from its resourceVersion, re-list on
// 410 Gone): the bench waits on conditions over it instead of polling LISTs or sleeping.
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeError, type KubeHttp, type KubeList, type KubeObject } from './kube-http.js';

export const GROUP_PATH = '/apis/storeop.dev/v1alpha1';

export function isReady(object: KubeObject): boolean {
  return object.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class Tracker {
  readonly objects = new Map<string, KubeObject>();
  /** When each object was first seen Ready (ms since the epoch). */
  readonly readyAt = new Map<string, number>();
  #changed: () => void = () => {};
  readonly #abort = new AbortController();
  #failure: unknown;
  readonly #done: Promise<void>;

  private constructor(
    readonly kube: KubeHttp,
    readonly path: string,
  ) {
    this.#done = this.#run();
  }

  /** Tracks `plural` (stores, storedatabases) in `namespace`. */
  static async start(kube: KubeHttp, namespace: string, plural: string): Promise<Tracker> {
    const tracker = new Tracker(kube, `${GROUP_PATH}/namespaces/${namespace}/${plural}`);
    await tracker.until(() => tracker.#listed, 60_000, `first list of ${plural}`);
    return tracker;
  }

  #listed = false;

  #apply(type: string, object: KubeObject): void {
    const name = object.metadata.name;
    if (type === 'DELETED') {
      this.objects.delete(name);
    } else {
      this.objects.set(name, object);
      if (!this.readyAt.has(name) && isReady(object)) this.readyAt.set(name, Date.now());
    }
    this.#changed();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let resourceVersion: string | undefined;
    while (!signal.aborted) {
      try {
        if (!resourceVersion) {
          const list = (await this.kube.call<KubeList>('GET', this.path)) as KubeList;
          this.objects.clear();
          for (const item of list.items) this.#apply('ADDED', item);
          resourceVersion = list.metadata.resourceVersion;
          this.#listed = true;
          this.#changed();
        }
        await this.kube.watch(
          `${this.path}?watch=true&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${resourceVersion}`,
          (type, object) => {
            resourceVersion = object.metadata.resourceVersion ?? resourceVersion;
            if (type !== 'BOOKMARK') this.#apply(type, object);
          },
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubeError && error.status === 410) {
          resourceVersion = undefined; // too old: list again
        } else {
          this.#failure = error;
          this.#changed();
          await sleep(1000);
          this.#failure = undefined;
        }
      }
    }
  }

  /** Resolves when `condition` holds (checked on every change and every second), else fails after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (condition()) {
          clearInterval(timer);
          clearTimeout(deadline);
          this.#changed = () => {};
          resolve();
        }
      };
      const timer = setInterval(check, 1000);
      const deadline = setTimeout(() => {
        clearInterval(timer);
        this.#changed = () => {};
        const cause = this.#failure ? ` (watch failing: ${(this.#failure as Error).message})` : '';
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${cause}`));
      }, timeoutMs);
      this.#changed = check;
      check();
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done.catch(() => {});
  }
}
