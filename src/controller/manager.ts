// The operator process: informers feed two controller loops (Store, StoreDatabase); leader election
// gates reconciling; /metrics, /healthz and /readyz are served; SIGTERM drains within a grace period.
import { createServer, type Server } from 'node:http';
import { CoreV1Api, type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Secret } from '@kubernetes/client-node';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { MasterContext } from '../stores/provision-store.js';
import { referencedSecrets } from '../stores/resolve-target.js';
import type { ControllerContext } from './context.js';
import { ControllerLoop } from './controller-loop.js';
import { EventRecorder } from './events.js';
import { ResilientInformer } from './informer.js';
import { LeaderElector } from './leader-election.js';
import { ControllerMetrics } from './metrics.js';
import { StoreDatabaseReconciler } from './store-database/reconciler.js';
import { StoreReconciler } from './store-reconciler.js';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  master: MasterContext;
  log: Logger;
  /** Folder (a volume) for PGlite stores; undefined refuses pglite StoreDatabases. */
  pgliteHome: string | undefined;
  /** Watch one namespace, or all when undefined. */
  namespace?: string | undefined;
  maxConcurrentReconciles: number;
  resyncPeriodMs: number;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  gracePeriodMs: number;
  supabaseApiUrl?: string | undefined;
  supabasePollMs?: number | undefined;
}

type InformerEvent = 'add' | 'update' | 'delete';

/** The Secrets a cluster-wide operator caches: those storeop labels (connection and API Secrets). */
export const SECRET_CACHE_SELECTOR = 'app.kubernetes.io/managed-by=storeop';

/** Tells updates that change what a reconcile acts on (spec generation, metadata, deletion) from status-only ones. */
class MetadataChangeFilter {
  readonly #seen = new Map<string, string>();

  changed(object: KubernetesObject, event: InformerEvent): boolean {
    const m = object.metadata ?? {};
    const key = `${m.namespace}/${m.name}`;
    if (event === 'delete') {
      this.#seen.delete(key);
      return true;
    }
    const fingerprint = JSON.stringify([
      m.uid,
      m.generation,
      m.deletionTimestamp ?? null,
      m.finalizers ?? [],
      m.annotations ?? {},
      m.labels ?? {},
    ]);
    const before = this.#seen.get(key);
    this.#seen.set(key, fingerprint);
    return event === 'add' || before !== fingerprint;
  }
}

function listen(server: Server, address: string): Promise<string> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at) || '0.0.0.0';
  const port = Number(address.slice(at + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? `${a.address}:${a.port}` : address);
    });
  });
}

export class Manager {
  readonly metrics = new ControllerMetrics();
  readonly #options: ManagerOptions;
  readonly #kube: KubeClient;
  readonly #stores: ResilientInformer<Store>;
  readonly #databases: ResilientInformer<StoreDatabase>;
  readonly #secrets: ResilientInformer<V1Secret>;
  readonly #storeLoop: ControllerLoop;
  readonly #databaseLoop: ControllerLoop;
  readonly #elector: LeaderElector | undefined;
  #servers: Server[] = [];
  #stopping: Promise<void> | undefined;
  #done!: (code: number) => void;
  readonly finished: Promise<number>;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.finished = new Promise((resolve) => {
      this.#done = resolve;
    });
    const { kubeConfig, log, namespace } = options;
    this.#kube = new KubeClient(kubeConfig);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    // Status-only updates (our own status patches) must not re-enqueue a StoreDatabase: a failing one
    // writes a new jobId into its status and its Store's on every attempt, so those updates would retry
    // it at once, in a tight loop that bypasses the per-key backoff (like controller-runtime's
    // GenerationChangedPredicate, but metadata changes such as annotations and deletion still count).
    const storeChanges = new MetadataChangeFilter();
    const databaseChanges = new MetadataChangeFilter();
    const onStore = (s: Store, event: InformerEvent) => {
      this.#storeLoop.enqueue(s.metadata.namespace, s.metadata.name);
      if (!storeChanges.changed(s, event)) return;
      for (const db of this.#databases.list(s.metadata.namespace)) {
        if (db.spec?.storeRef?.name === s.metadata.name) this.#databaseLoop.enqueue(db.metadata.namespace, db.metadata.name);
      }
    };
    const onDatabase = (d: StoreDatabase, event: InformerEvent) => {
      if (databaseChanges.changed(d, event)) this.#databaseLoop.enqueue(d.metadata.namespace, d.metadata.name);
      // The Store mirrors its database's status: it does follow status-only updates (and converges).
      this.#storeLoop.enqueue(d.metadata.namespace, d.spec?.storeRef?.name);
    };
    const onSecret = (secret: V1Secret) => {
      const ns = secret.metadata?.namespace;
      const name = secret.metadata?.name;
      for (const db of this.#databases.list(ns)) {
        const uses = db.spec
          ? referencedSecrets(db.spec).includes(name as string) || db.spec.writeConnectionSecretToRef?.name === name
          : false;
        if (uses) this.#databaseLoop.enqueue(db.metadata.namespace, db.metadata.name);
      }
    };
    this.#stores = new ResilientInformer<Store>({
      name: 'stores',
      kubeConfig,
      path: this.#kube.collectionPath('Store', namespace),
      list: () => this.#kube.list<Store>('Store', namespace),
      onChange: onStore,
      log,
    });
    this.#databases = new ResilientInformer<StoreDatabase>({
      name: 'storedatabases',
      kubeConfig,
      path: this.#kube.collectionPath('StoreDatabase', namespace),
      list: () => this.#kube.list<StoreDatabase>('StoreDatabase', namespace),
      onChange: onDatabase,
      log,
    });
    // Which Secrets are cached: with --namespace, every Secret of that namespace (the admin Secrets users
    // create carry no storeop label, and their changes should re-enqueue at once); cluster-wide, only the
    // Secrets storeop labels, so the operator never holds every Secret of the cluster in memory. A Secret
    // outside the cache is read with a GET when a reconcile needs it (and re-read on retry and resync).
    const secretSelector = namespace ? undefined : SECRET_CACHE_SELECTOR;
    this.#secrets = new ResilientInformer<V1Secret>({
      name: 'secrets',
      kubeConfig,
      path: namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets',
      ...(secretSelector ? { labelSelector: secretSelector } : {}),
      list: async () =>
        (namespace
          ? core.listNamespacedSecret({ namespace })
          : core.listSecretForAllNamespaces({ labelSelector: SECRET_CACHE_SELECTOR })) as Promise<KubernetesListObject<V1Secret>>,
      onChange: onSecret,
      log,
    });
    const context: ControllerContext = {
      kube: this.#kube,
      events: new EventRecorder(core, log),
      master: options.master,
      log,
      pgliteHome: options.pgliteHome,
      resyncPeriodMs: options.resyncPeriodMs,
      caches: { stores: this.#stores, databases: this.#databases, secrets: this.#secrets },
      metrics: this.metrics,
      supabaseApiUrl: options.supabaseApiUrl,
      supabasePollMs: options.supabasePollMs,
    };
    this.#storeLoop = new ControllerLoop('store', new StoreReconciler(context), this.metrics, log);
    this.#databaseLoop = new ControllerLoop('storedatabase', new StoreDatabaseReconciler(context), this.metrics, log);
    if (options.leaderElect) {
      this.#elector = new LeaderElector({
        kubeConfig,
        namespace: options.leaderElectionNamespace,
        name: options.leaderElectionId,
        log,
        onLeadershipChange: (leading) => this.metrics.leaderStatus.set({ name: options.leaderElectionId }, leading ? 1 : 0),
      });
      // A candidate reports 0 ("backup") from the start, so a follower is told apart from a process without election.
      this.metrics.leaderStatus.set({ name: options.leaderElectionId }, 0);
    }
  }

  get synced(): boolean {
    return this.#stores.synced && this.#databases.synced && this.#secrets.synced;
  }

  get healthy(): boolean {
    return this.#stores.healthy && this.#databases.healthy && this.#secrets.healthy;
  }

  /** Serves probes and metrics, waits for the lease (if any), then starts informers and workers. */
  async start(): Promise<{ metrics: string; health: string }> {
    const { log } = this.#options;
    const metricsServer = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.#refreshPhaseGauge();
        void this.metrics.registry.metrics().then((body) => {
          res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
          res.end(body);
        });
        return;
      }
      res.writeHead(404).end();
    });
    const healthServer = createServer((req, res) => {
      if (req.url === '/healthz') {
        const ok = this.healthy;
        res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'an informer keeps failing');
      } else if (req.url === '/readyz') {
        const ok = this.synced || (this.#elector !== undefined && !this.#elector.leading);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'caches not synced');
      } else {
        res.writeHead(404).end();
      }
    });
    this.#servers = [metricsServer, healthServer];
    const addresses = {
      metrics: await listen(metricsServer, this.#options.metricsBindAddress),
      health: await listen(healthServer, this.#options.healthProbeBindAddress),
    };
    log.info(addresses, 'serving metrics and health probes');
    void this.#run().catch((error: unknown) => {
      log.error({ err: (error as Error)?.message }, 'manager failed');
      void this.stop(1);
    });
    return addresses;
  }

  async #run(): Promise<void> {
    const { log } = this.#options;
    if (this.#elector) {
      log.info({ identity: this.#elector.identity }, 'waiting for the leader lease');
      await this.#elector.acquire();
      void this.#elector.holdUntilLost().then(() => {
        if (!this.#stopping) {
          log.error('leader lease lost; exiting');
          void this.stop(1);
        }
      });
    }
    await Promise.all([this.#secrets.start(), this.#databases.start(), this.#stores.start()]);
    this.#storeLoop.start(this.#options.maxConcurrentReconciles);
    this.#databaseLoop.start(this.#options.maxConcurrentReconciles);
    log.info({ workers: this.#options.maxConcurrentReconciles, namespace: this.#options.namespace ?? '(all)' }, 'controllers started');
  }

  #refreshPhaseGauge(): void {
    this.metrics.storesByPhase.reset();
    for (const store of this.#stores.list()) this.metrics.storesByPhase.inc({ phase: store.status?.phase ?? 'Pending' });
  }

  /** Stops taking work, lets in-flight reconciles finish within the grace period, releases the lease. */
  stop(code = 0): Promise<void> {
    this.#stopping ??= (async () => {
      const { log, gracePeriodMs } = this.#options;
      log.info({ gracePeriodMs }, 'shutting down');
      const drained = Promise.all([this.#storeLoop.stop(), this.#databaseLoop.stop()]);
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), gracePeriodMs).unref()),
      ]);
      if (timedOut)
        log.warn(
          { inFlight: this.#storeLoop.inFlight + this.#databaseLoop.inFlight },
          'grace period over; abandoning in-flight reconciles',
        );
      await Promise.all([this.#stores.stop(), this.#databases.stop(), this.#secrets.stop()]).catch(() => {});
      await this.#elector?.release();
      for (const server of this.#servers) server.close();
      this.#done(code);
    })();
    return this.#stopping;
  }
}
