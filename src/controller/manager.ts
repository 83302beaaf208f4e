// The operator process: informers feed three controller loops (Store, StoreDatabase, DatabaseServer); leader election
// gates reconciling; /metrics, /healthz and /readyz are served; SIGTERM drains within a grace period.
import { createServer, type Server } from 'node:http';
import { CoreV1Api, type KubeConfig, type KubernetesListObject, type V1Secret } from '@kubernetes/client-node';
import type { DatabaseServer } from '../api/database-server.js';
import { databaseServerSpec } from '../api/database-server.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import type { StoreSchema } from '../api/store-schema.js';
import { operationsInFlight } from '../engines/admin-limit.js';
import { StoreopError } from '../errors.js';
import { describeApiError, KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { MasterContext } from '../stores/provision-store.js';
import { DEFAULT_PORT, referencedSecrets } from '../stores/resolve-target.js';
import {
  createdByItsStore,
  databaseServerChanges,
  type InformerEvent,
  mirroredChanges,
  storeChanges,
  storeDatabaseChanges,
  storeSchemaChanges,
} from './change-filter.js';
import type { ControllerContext } from './context.js';
import { ControllerLoop } from './controller-loop.js';
import { CLUSTER, ServerDirectory } from './database-server/directory.js';
import { DatabaseServerReconciler } from './database-server/reconciler.js';
import { EventRecorder } from './events.js';
import { ResilientInformer } from './informer.js';
import { LeaderElector } from './leader-election.js';
import { ControllerMetrics } from './metrics.js';
import { ObjectCache } from './object-cache.js';
import { schemaNameOf } from './rollout/members.js';
import { publishDefaultSchema } from './rollout/publish-default.js';
import { RolloutReconciler } from './rollout/reconciler.js';
import { SecretCache, UNLABELLED_SECRETS_SELECTOR } from './secret-cache.js';
import { StoreDatabaseReconciler } from './store-database/reconciler.js';
import { StoreReconciler } from './store-reconciler.js';
import { UsageMetrics } from './usage/metrics.js';
import { reconcileDurations } from './usage/reconcile-durations.js';
import { UsageLoop } from './usage/usage-loop.js';

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
  /** The operator's own namespace: where a DatabaseServer's adminSecretRef without a namespace points. */
  operatorNamespace: string;
  /** Only the DatabaseServers this label selector matches (several operators sharing a cluster); default all. */
  databaseServerSelector?: string | undefined;
  supabaseApiUrl?: string | undefined;
  supabasePollMs?: number | undefined;
  /** How often the leader collects usage (0: never); default 15 minutes. */
  usageIntervalMs?: number | undefined;
  /** Only the StorePlans this label selector matches; default all. */
  storePlanSelector?: string | undefined;
  /** Label usage metrics by store too (small fleets). */
  usageMetricsPerStore?: boolean | undefined;
}

export const DEFAULT_USAGE_INTERVAL_MS = 15 * 60_000;

/** How long Store changes are gathered before their StoreSchema's rollout runs again. */
const ROLLOUT_COALESCE_MS = 2_000;

/** The Secrets a cluster-wide operator caches: those storeop labels (connection and API Secrets). */
export const SECRET_CACHE_SELECTOR = 'app.kubernetes.io/managed-by=storeop';

/** Index names over the caches: the cross-object lookups of event handlers. */
const BY_STORE = 'storeRef';
const BY_DATABASE = 'databaseRef';
const BY_SECRET = 'secret';

/** The Secrets a StoreDatabase reads or writes. */
function secretsOf(db: StoreDatabase): string[] {
  if (!db.spec) return [];
  const written = db.spec.writeConnectionSecretToRef?.name;
  return [...referencedSecrets(db.spec), ...(written ? [written] : [])];
}

/** Serves `server` on `address` (--metrics-bind-address, --health-probe-bind-address); a taken port is one clear error. */
function listen(server: Server, address: string, flag: string): Promise<string> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at) || '0.0.0.0';
  const port = Number(address.slice(at + 1));
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new StoreopError('ConnectionFailed', `cannot listen on ${address} (${flag}): ${error.code ?? error.message}`, { retryable: false }),
      ),
    );
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
  readonly #databaseServers: ResilientInformer<DatabaseServer>;
  readonly #serverCache: ObjectCache<DatabaseServer>;
  readonly #directory: ServerDirectory;
  readonly #serverLoop: ControllerLoop;
  readonly #storeCache: ObjectCache<Store>;
  readonly #databaseCache: ObjectCache<StoreDatabase>;
  readonly #labelledSecrets: ObjectCache<V1Secret>;
  readonly #secretCache: SecretCache;
  readonly #schemas: ResilientInformer<StoreSchema>;
  readonly #schemaCache: ObjectCache<StoreSchema>;
  readonly #storeLoop: ControllerLoop;
  readonly #databaseLoop: ControllerLoop;
  /** StoreSchema rollouts; off when the cluster has no StoreSchema CRD (or storeop may not read it). */
  readonly #schemaLoop: ControllerLoop;
  #rollouts = false;
  readonly #usage: UsageLoop;
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
    // Which events run a reconcile (see change-filter.ts): status-only updates and storeop's own
    // bookkeeping do not run the same object again, and a Store follows only what it mirrors of its
    // StoreDatabase. A failing StoreDatabase that rewrote its status on every attempt would otherwise retry
    // at once, in a tight loop that bypasses the per-key backoff. Cross-object lookups go through indexes.
    const storeFilter = storeChanges();
    const databaseFilter = storeDatabaseChanges();
    const mirrorFilter = mirroredChanges();
    const schemaFilter = storeSchemaChanges<StoreSchema>();
    const onStore = (s: Store, event: InformerEvent) => {
      const own = this.#storeCache.observe(s, event);
      // Any change of a Store (its status reports the version it has) moves its schema's rollout on: within
      // a short while, so that a burst of Store changes (a fleet being created) is one rollout pass over all
      // its stores (and one status write), not one per change.
      this.#schemaLoop.enqueueClusterScoped(schemaNameOf(s), ROLLOUT_COALESCE_MS);
      if (!storeFilter.changed(s, event) || own) return;
      this.#storeLoop.enqueue(s.metadata.namespace, s.metadata.name);
      for (const db of this.#databases.byIndex(BY_STORE, s.metadata.namespace, s.metadata.name))
        this.#databaseLoop.enqueue(db.metadata.namespace, db.metadata.name);
    };
    const serverFilter = databaseServerChanges();
    /** Stores waiting for a server with room, and those placed on `server`: a server change may be what they wait for. */
    const wakeStores = (server?: string) => {
      for (const key of [...this.#directory.waiting(), ...(server ? this.#directory.storesOn(server) : [])]) {
        const [ns, name] = key.split('/');
        this.#databaseLoop.enqueue(ns, name);
      }
    };
    const onDatabase = (d: StoreDatabase, event: InformerEvent) => {
      // First, so that the Secrets its reconcile reads are being cached when it runs.
      this.#secretCache.track(d.metadata.namespace as string, d.metadata.name, secretsOf(d).length > 0, event);
      this.#directory.observeDatabase(d, event);
      if (event === 'delete' && d.status?.server) wakeStores(); // a store left a server: there may be room now
      const own = this.#databaseCache.observe(d, event);
      if (databaseFilter.changed(d, event) && !own) this.#databaseLoop.enqueue(d.metadata.namespace, d.metadata.name);
      if (!mirrorFilter.changed(d, event) || createdByItsStore(d, event)) return;
      // Its Store, and a Store that references it (a new StoreDatabase wakes the Pending Store that waits for it).
      this.#storeLoop.enqueue(d.metadata.namespace, d.spec?.storeRef?.name);
      for (const store of this.#stores.byIndex(BY_DATABASE, d.metadata.namespace, d.metadata.name))
        this.#storeLoop.enqueue(store.metadata.namespace, store.metadata.name);
    };
    const onSecret = (secret: V1Secret) => {
      for (const db of this.#databases.byIndex(BY_SECRET, secret.metadata?.namespace, secret.metadata?.name))
        this.#databaseLoop.enqueue(db.metadata.namespace, db.metadata.name);
    };
    // The connection Secret a reconcile just wrote does not run that reconcile again.
    const onLabelledSecret = (secret: V1Secret, event: InformerEvent) => {
      if (!this.#labelledSecrets.observe(secret, event)) onSecret(secret);
    };
    const onServer = (server: DatabaseServer, event: InformerEvent) => {
      // The reconciler's own status write does not check the server again, but it may wake stores (reachable again).
      const own = this.#serverCache.observe(server, event);
      if (!serverFilter.changed(server, event)) return;
      if (!own) this.#serverLoop.enqueue(CLUSTER, server.metadata.name);
      wakeStores(server.metadata.name);
    };
    this.#databaseServers = new ResilientInformer<DatabaseServer>({
      name: 'databaseservers',
      kubeConfig,
      path: this.#kube.collectionPath('DatabaseServer'),
      ...(options.databaseServerSelector ? { labelSelector: options.databaseServerSelector } : {}),
      list: () => this.#kube.listDatabaseServers(options.databaseServerSelector),
      onChange: onServer,
      log,
    });
    this.#serverCache = new ObjectCache(this.#databaseServers);
    this.#directory = new ServerDirectory(this.#serverCache, options.operatorNamespace);
    const onSchema = (schema: StoreSchema, event: InformerEvent) => {
      const own = this.#schemaCache.observe(schema, event);
      if (!schemaFilter.changed(schema, event) || own) return;
      this.#schemaLoop.enqueueClusterScoped(schema.metadata.name);
      // Its Stores report in SchemaCurrent whether they have its version.
      for (const store of this.#stores.list())
        if (schemaNameOf(store) === schema.metadata.name) this.#storeLoop.enqueue(store.metadata.namespace, store.metadata.name);
    };
    this.#schemas = new ResilientInformer<StoreSchema>({
      name: 'storeschemas',
      kubeConfig,
      path: this.#kube.storeSchemasPath(),
      list: () => this.#kube.listStoreSchemas(),
      onChange: onSchema,
      log,
    });
    this.#stores = new ResilientInformer<Store>({
      name: 'stores',
      kubeConfig,
      path: this.#kube.collectionPath('Store', namespace),
      list: () => this.#kube.list<Store>('Store', namespace),
      onChange: onStore,
      // An inline database is the StoreDatabase of the Store's own name.
      indexes: { [BY_DATABASE]: (s) => [s.spec?.databaseRef?.name ?? (s.spec?.database ? s.metadata.name : '')] },
      log,
    });
    this.#databases = new ResilientInformer<StoreDatabase>({
      name: 'storedatabases',
      kubeConfig,
      path: this.#kube.collectionPath('StoreDatabase', namespace),
      list: () => this.#kube.list<StoreDatabase>('StoreDatabase', namespace),
      onChange: onDatabase,
      indexes: { [BY_STORE]: (d) => [d.spec?.storeRef?.name ?? ''], [BY_SECRET]: secretsOf },
      log,
    });
    // Which Secrets are cached: with --namespace, every Secret of that namespace (the admin Secrets users
    // create carry no storeop label, and their changes should re-enqueue at once); cluster-wide, the Secrets
    // storeop labels, plus (secret-cache.ts) the unlabelled Secrets of the namespaces where a StoreDatabase
    // names a Secret, so the operator never holds every Secret of the cluster in memory.
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
      onChange: onLabelledSecret,
      log,
    });
    this.#storeCache = new ObjectCache(this.#stores);
    this.#databaseCache = new ObjectCache(this.#databases);
    this.#labelledSecrets = new ObjectCache(this.#secrets);
    this.#secretCache = new SecretCache({
      labelled: this.#labelledSecrets,
      holdsAll: namespace !== undefined,
      namespaceInformer: (secretNamespace) =>
        new ResilientInformer<V1Secret>({
          name: `secrets/${secretNamespace}`,
          kubeConfig,
          path: `/api/v1/namespaces/${secretNamespace}/secrets`,
          labelSelector: UNLABELLED_SECRETS_SELECTOR,
          list: async () =>
            (await core.listNamespacedSecret({
              namespace: secretNamespace,
              labelSelector: UNLABELLED_SECRETS_SELECTOR,
            })) as KubernetesListObject<V1Secret>,
          onChange: onSecret,
          log,
        }),
      get: (secretNamespace, name) => this.#kube.getSecret(secretNamespace, name),
      log,
    });
    this.#schemaCache = new ObjectCache(this.#schemas);
    const context: ControllerContext = {
      kube: this.#kube,
      events: new EventRecorder(core, log),
      master: options.master,
      log,
      pgliteHome: options.pgliteHome,
      resyncPeriodMs: options.resyncPeriodMs,
      caches: { stores: this.#storeCache, databases: this.#databaseCache, secrets: this.#secretCache, schemas: this.#schemaCache },
      watchNamespace: namespace,
      metrics: this.metrics,
      servers: this.#directory,
      supabaseApiUrl: options.supabaseApiUrl,
      supabasePollMs: options.supabasePollMs,
      admissionDone: (schemaName) => this.#schemaLoop.enqueueClusterScoped(schemaName),
    };
    this.#storeLoop = new ControllerLoop('store', new StoreReconciler(context), this.metrics, log);
    this.#databaseLoop = new ControllerLoop('storedatabase', new StoreDatabaseReconciler(context), this.metrics, log);
    this.#serverLoop = new ControllerLoop('databaseserver', new DatabaseServerReconciler(context), this.metrics, log);
    this.#usage = new UsageLoop(context, {
      intervalMs: options.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS,
      storePlanSelector: options.storePlanSelector,
      metrics: new UsageMetrics(this.metrics.registry, options.usageMetricsPerStore ?? false),
      wake: (store) => {
        const ns = store.metadata.namespace;
        const names = new Set([store.spec?.databaseRef?.name ?? store.metadata.name]);
        for (const db of this.#databases.byIndex(BY_STORE, ns, store.metadata.name)) names.add(db.metadata.name);
        for (const name of names) this.#databaseLoop.enqueue(ns, name);
      },
      reconcileDurations: () => reconcileDurations(this.metrics),
    });
    const rollouts = new RolloutReconciler(context, (ns, name) => this.#databaseLoop.enqueue(ns, name));
    this.#schemaLoop = new ControllerLoop('storeschema', rollouts, this.metrics, log);
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
    return (
      this.#stores.synced &&
      this.#databases.synced &&
      this.#secrets.synced &&
      this.#databaseServers.synced &&
      (!this.#rollouts || this.#schemas.synced)
    );
  }

  get healthy(): boolean {
    return (
      this.#stores.healthy &&
      this.#databases.healthy &&
      this.#secrets.healthy &&
      this.#databaseServers.healthy &&
      (!this.#rollouts || this.#schemas.healthy)
    );
  }

  /** Serves probes and metrics, waits for the lease (if any), then starts informers and workers. */
  async start(): Promise<{ metrics: string; health: string }> {
    const { log } = this.#options;
    const metricsServer = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.#refreshPhaseGauge();
        this.#refreshServerGauges();
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
      metrics: await listen(metricsServer, this.#options.metricsBindAddress, '--metrics-bind-address'),
      health: await listen(healthServer, this.#options.healthProbeBindAddress, '--health-probe-bind-address'),
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
    this.#rollouts = await this.#publishDefaultSchema();
    // Servers first: the StoreDatabases' first reconciles place stores on them.
    await this.#databaseServers.start();
    await Promise.all([
      this.#secrets.start(),
      this.#databases.start(),
      this.#stores.start(),
      ...(this.#rollouts ? [this.#schemas.start()] : []),
    ]);
    this.#storeLoop.start(this.#options.maxConcurrentReconciles);
    this.#databaseLoop.start(this.#options.maxConcurrentReconciles);
    this.#serverLoop.start(Math.min(2, this.#options.maxConcurrentReconciles));
    // One worker: a rollout is one key per StoreSchema, and its work is done by the StoreDatabase workers.
    if (this.#rollouts) this.#schemaLoop.start(1);
    // Usage collection runs on the leader only (this point is reached holding the lease).
    this.#usage.start();
    log.info({ workers: this.#options.maxConcurrentReconciles, namespace: this.#options.namespace ?? '(all)' }, 'controllers started');
  }

  /**
   * Publishes storeop-default (as the leader, before any reconcile): whether rollouts can run. A cluster
   * without the StoreSchema CRD, or an operator not allowed to read it, runs without them (stores get the
   * built-in schema), and says so.
   */
  async #publishDefaultSchema(): Promise<boolean> {
    const { log } = this.#options;
    try {
      await publishDefaultSchema(this.#kube, log);
      return true;
    } catch (error) {
      log.warn({ err: describeApiError(error) }, 'StoreSchema rollouts are off: cannot read or publish StoreSchemas');
      return false;
    }
  }

  #refreshPhaseGauge(): void {
    this.metrics.storesByPhase.reset();
    for (const store of this.#stores.list()) this.metrics.storesByPhase.inc({ phase: store.status?.phase ?? 'Pending' });
  }

  #refreshServerGauges(): void {
    for (const server of this.#databaseServers.list()) {
      const name = server.metadata.name;
      const spec = databaseServerSpec.safeParse(server.spec);
      this.metrics.serverStores.set({ server: name }, this.#directory.count(name));
      if (spec.success)
        this.metrics.serverOperationsInFlight.set(
          { server: name },
          operationsInFlight(spec.data.host, spec.data.port ?? DEFAULT_PORT[spec.data.engine]),
        );
    }
  }

  /** Stops taking work, lets in-flight reconciles finish within the grace period, releases the lease. */
  stop(code = 0): Promise<void> {
    this.#stopping ??= (async () => {
      const { log, gracePeriodMs } = this.#options;
      log.info({ gracePeriodMs }, 'shutting down');
      const drained = Promise.all([
        this.#storeLoop.stop(),
        this.#databaseLoop.stop(),
        this.#serverLoop.stop(),
        this.#schemaLoop.stop(),
        this.#usage.stop(),
      ]);
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), gracePeriodMs).unref()),
      ]);
      if (timedOut)
        log.warn(
          { inFlight: this.#storeLoop.inFlight + this.#databaseLoop.inFlight },
          'grace period over; abandoning in-flight reconciles',
        );
      await Promise.all([
        this.#stores.stop(),
        this.#databases.stop(),
        this.#secrets.stop(),
        this.#secretCache.stop(),
        this.#databaseServers.stop(),
        this.#schemas.stop(),
      ]).catch(() => {});
      await this.#elector?.release();
      for (const server of this.#servers) server.close();
      this.#done(code);
    })();
    return this.#stopping;
  }
}
