// storeop run: the operator. Connects to the cluster and the master DB, then reconciles until SIGTERM.
import { resolve } from 'node:path';
import { type KubeConfig, VersionApi } from '@kubernetes/client-node';
import { z } from 'zod';
import { DEFAULT_USAGE_INTERVAL_MS, Manager } from '../../controller/manager.js';
import { setAdminConnectionLimit } from '../../engines/admin-limit.js';
import { StoreopError } from '../../errors.js';
import { describeApiError, isNotFound, KubeClient } from '../../kube/client.js';
import { loadKubeConfig } from '../../kube/kubeconfig.js';
import { createLogger, LOG_LEVELS } from '../../log.js';
import { DEFAULT_MASTER_POOL_SIZE, openMaster } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { parseFlags, UsageError } from '../args.js';
import { durationSchema } from '../duration.js';

export const runHelp = `usage: storeop run [flags]

Runs the operator: watches Store, StoreDatabase and DatabaseServer resources and reconciles them.

  --kubeconfig PATH                  kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --namespace NS                     watch one namespace (default: all)
  --master-database-url URL          master DB (default: $STOREOP_MASTER_DATABASE_URL, else embedded PGlite in ./.storeop)
  --metrics-bind-address ADDR        Prometheus /metrics (default :8080)
  --health-probe-bind-address ADDR   /healthz and /readyz (default :8081)
  --leader-elect                     elect a leader on a Lease so only one replica reconciles
  --leader-election-namespace NS     namespace of the Lease (default: $POD_NAMESPACE, else default)
  --operator-namespace NS            the operator's own namespace, where a DatabaseServer's adminSecretRef
                                     without a namespace points (default: $POD_NAMESPACE, else default)
  --leader-election-id NAME          name of the Lease (default storeop-leader)
  --database-server-selector SEL     manage only the DatabaseServers this label selector matches (e.g.
                                     storeop.dev/shard=a): one operator per shard of servers (default: all)
  --max-concurrent-reconciles N      workers per controller (default 4); also the bound on admin sessions
                                     per database server (plus 2 for short nested lookups)
  --master-pool-size N               connections to a PostgreSQL master database, at most (default 10)
  --resync-period DURATION           re-check every database for drift this often (default 10m)
  --grace-period DURATION            on SIGTERM, wait this long for in-flight reconciles (default 30s)
  --log-level LEVEL                  trace, debug, info, warn, error (default info)
  --api-bind-address ADDR            also serve the provisioning API; a POST creates or updates the Store
  --api-namespace NS                 namespace where API-created Stores live (default: --namespace, else default)
  --api-token-hashes-file FILE       SHA-256 hashes of the API's bearer tokens (else $STOREOP_API_TOKEN_HASHES)
  --supabase-api-url URL             Supabase Management API (default https://api.supabase.com)
  --supabase-poll-interval DURATION  how often to re-check a Supabase project that is coming up (default 10s)
  --pglite-home DIR                  folder (a volume) for embedded pglite stores, in DIR/stores/SLUG (else
                                     $STOREOP_PGLITE_HOME); without it pglite StoreDatabases are refused
  --usage-interval DURATION          collect stores' usage and check their plan limits this often, as the
                                     leader (default 15m, jittered; 0s: never)
  --store-plan-selector SEL          honour only the StorePlans this label selector matches (default: all)
  --usage-metrics-per-store          also label usage metrics by store (for small fleets)`;

const address = z.string().regex(/^[^:]*:\d{1,5}$/, 'must look like HOST:PORT or :PORT');

const namespaceName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name');

const flags = z.object({
  kubeconfig: z.string().optional(),
  namespace: namespaceName.optional(),
  'operator-namespace': namespaceName.optional(),
  // Checked again by the API server at the first list; this refuses what can never be a label selector.
  'database-server-selector': z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z0-9_./\-=!,() ]+$/, 'must be a label selector such as storeop.dev/shard=a')
    .optional(),
  'master-database-url': z.string().optional(),
  'metrics-bind-address': address.default(':8080'),
  'health-probe-bind-address': address.default(':8081'),
  'leader-elect': z.boolean().default(false),
  'leader-election-namespace': z.string().optional(),
  'leader-election-id': z.string().default('storeop-leader'),
  'max-concurrent-reconciles': z.coerce.number().int().min(1).max(256).default(4),
  'master-pool-size': z.coerce.number().int().min(1).max(256).default(DEFAULT_MASTER_POOL_SIZE),
  'resync-period': durationSchema.default(600_000),
  'grace-period': durationSchema.default(30_000),
  'log-level': z.enum(LOG_LEVELS).optional(), // unset: STOREOP_LOG_LEVEL, else info
  home: z.string().optional(),
  'api-bind-address': address.optional(),
  'api-namespace': z.string().optional(),
  'api-token-hashes-file': z.string().optional(),
  'supabase-api-url': z.url().optional(),
  'supabase-poll-interval': durationSchema.default(10_000),
  'pglite-home': z.string().min(1).optional(),
  'usage-interval': durationSchema.default(DEFAULT_USAGE_INTERVAL_MS),
  'store-plan-selector': z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z0-9_./\-=!,() ]+$/, 'must be a label selector such as storeop.dev/tier=standard')
    .optional(),
  'usage-metrics-per-store': z.boolean().default(false),
});

const spec = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'operator-namespace': { type: 'string' },
  'database-server-selector': { type: 'string' },
  'master-database-url': { type: 'string' },
  'metrics-bind-address': { type: 'string' },
  'health-probe-bind-address': { type: 'string' },
  'leader-elect': { type: 'boolean' },
  'leader-election-namespace': { type: 'string' },
  'leader-election-id': { type: 'string' },
  'max-concurrent-reconciles': { type: 'string' },
  'master-pool-size': { type: 'string' },
  'resync-period': { type: 'string' },
  'grace-period': { type: 'string' },
  'log-level': { type: 'string' },
  home: { type: 'string' },
  'api-bind-address': { type: 'string' },
  'api-namespace': { type: 'string' },
  'api-token-hashes-file': { type: 'string' },
  'supabase-api-url': { type: 'string' },
  'supabase-poll-interval': { type: 'string' },
  'pglite-home': { type: 'string' },
  'usage-interval': { type: 'string' },
  'store-plan-selector': { type: 'string' },
  'usage-metrics-per-store': { type: 'boolean' },
} as const;

/** --operator-namespace, else $POD_NAMESPACE (checked like the flag), else default. */
function operatorNamespace(flag: string | undefined): string {
  if (flag) return flag;
  const env = process.env.POD_NAMESPACE;
  if (!env) return 'default';
  const parsed = namespaceName.safeParse(env);
  if (!parsed.success) throw new UsageError(`POD_NAMESPACE: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Parses and validates `storeop run` flags (also used to check the Helm chart's container args). */
export function parseRunFlags(argv: string[]): z.infer<typeof flags> {
  return parseFlags(argv, spec, flags).flags;
}

async function checkCluster(kc: KubeConfig): Promise<void> {
  const server = kc.getCurrentCluster()?.server ?? '(unknown)';
  try {
    await Promise.race([
      kc.makeApiClient(VersionApi).getCode(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 15s')), 15_000).unref()),
    ]);
  } catch (error) {
    throw new StoreopError('ConnectionFailed', `cannot reach the Kubernetes API at ${server}: ${describeApiError(error)}`);
  }
  try {
    await new KubeClient(kc).list('Store', undefined, 1); // one object proves the CRD is served
  } catch (error) {
    if (isNotFound(error)) throw new StoreopError('InvalidSpec', 'the storeop CRDs are not installed: run kubectl apply -f crds/');
    // Forbidden cluster-wide is fine when a namespace is given; the informers report it otherwise.
  }
}

export async function runCommand(argv: string[]): Promise<number> {
  const f = parseRunFlags(argv);
  const log = createLogger({ level: f['log-level'] });
  const kubeConfig = loadKubeConfig(f.kubeconfig);
  await checkCluster(kubeConfig);
  // Admin sessions per database server: one per worker, +2 (admin-limit.ts).
  setAdminConnectionLimit(f['max-concurrent-reconciles']);
  const master = await openMaster({ url: f['master-database-url'], home: f.home, poolSize: f['master-pool-size'] });
  const pgliteHome = f['pglite-home'] ?? (process.env.STOREOP_PGLITE_HOME || undefined);
  const keyring = loadKeyring({ home: f.home, embedded: master.engine === 'pglite' });
  log.info({ master: master.location }, 'master database ready');
  const manager = new Manager({
    kubeConfig,
    master: { master, keyring, actor: 'controller' },
    log,
    // An embedded store in a container dies with it: only where a volume is configured for them.
    pgliteHome: pgliteHome === undefined ? undefined : resolve(pgliteHome),
    namespace: f.namespace,
    maxConcurrentReconciles: f['max-concurrent-reconciles'],
    resyncPeriodMs: f['resync-period'],
    metricsBindAddress: f['metrics-bind-address'],
    healthProbeBindAddress: f['health-probe-bind-address'],
    leaderElect: f['leader-elect'],
    leaderElectionNamespace: f['leader-election-namespace'] ?? process.env.POD_NAMESPACE ?? 'default',
    leaderElectionId: f['leader-election-id'],
    gracePeriodMs: f['grace-period'],
    operatorNamespace: operatorNamespace(f['operator-namespace']),
    databaseServerSelector: f['database-server-selector'],
    supabaseApiUrl: f['supabase-api-url'],
    supabasePollMs: f['supabase-poll-interval'],
    usageIntervalMs: f['usage-interval'],
    storePlanSelector: f['store-plan-selector'],
    usageMetricsPerStore: f['usage-metrics-per-store'],
  });
  const stop = () => void manager.stop(0);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await manager.start();
  if (f['api-bind-address']) {
    // Loaded only when asked for: the HTTP framework, the API's schemas and its OpenAPI document.
    const [{ createApi }, { TokenVerifier }, { ClusterProvisioner }, { listen }] = await Promise.all([
      import('../../http/app.js'),
      import('../../http/auth.js'),
      import('../../http/cluster-provisioner.js'),
      import('../../http/listen.js'),
    ]);
    const ctx = { master, keyring, actor: 'api' };
    const tokens = TokenVerifier.fromConfig({ file: f['api-token-hashes-file'], env: process.env.STOREOP_API_TOKEN_HASHES });
    const provisioner = new ClusterProvisioner(new KubeClient(kubeConfig), f['api-namespace'] ?? f.namespace ?? 'default', ctx);
    const app = createApi({ master: ctx, tokens, provisioner, log });
    const at = f['api-bind-address'].lastIndexOf(':');
    listen(
      app.fetch,
      { hostname: f['api-bind-address'].slice(0, at) || '0.0.0.0', port: Number(f['api-bind-address'].slice(at + 1)) },
      (info) => log.info({ address: `${info.address}:${info.port}` }, 'provisioning API listening (cluster mode)'),
    );
  }
  const code = await manager.finished;
  await master.close().catch(() => {});
  await kubeConfig.close();
  // Watch sockets and pools may linger; the operator's work is done, so leave now.
  process.exit(code);
}
