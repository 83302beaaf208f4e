// What the reconcilers share: clients, caches, the master DB and settings.
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import type { StoreSchema } from '../api/store-schema.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { MasterContext } from '../stores/provision-store.js';
import type { ServerDirectory } from './database-server/directory.js';
import type { EventRecorder } from './events.js';
import type { ControllerMetrics } from './metrics.js';
import type { ObjectCache } from './object-cache.js';
import type { SecretCache } from './secret-cache.js';

export const FINALIZER = 'storeop.dev/cleanup';
/** Annotation recording the identity a StoreDatabase was provisioned with, to refuse changes to immutable fields. */
export const APPLIED_ANNOTATION = 'storeop.dev/applied-identity';
/**
 * Annotation recording the identity of a provisioning attempt that has not succeeded yet, so that deleting
 * a StoreDatabase that never became Ready still cleans up what the attempt created (deletionPolicy Delete).
 */
export const ATTEMPTED_ANNOTATION = 'storeop.dev/attempted-identity';
/** Set to "true" to let a deletion finish when cleanup cannot (the database is then left as it is). */
export const SKIP_CLEANUP_ANNOTATION = 'storeop.dev/skip-cleanup';
export { MANAGED_BY_LABELS } from '../kube/client.js';

export interface ControllerContext {
  kube: KubeClient;
  events: EventRecorder;
  master: MasterContext;
  log: Logger;
  /** Folder (a volume) for PGlite stores, in `<pgliteHome>/stores/<slug>`; undefined: pglite StoreDatabases are refused. */
  pgliteHome: string | undefined;
  resyncPeriodMs: number;
  /** Every read of these kinds comes from the informer caches (with the reconcilers' own writes), never a GET or LIST. */
  caches: {
    stores: ObjectCache<Store>;
    databases: ObjectCache<StoreDatabase>;
    secrets: SecretCache;
    /** StoreSchemas are cluster-scoped: read with namespace "". */
    schemas: ObjectCache<StoreSchema>;
  };
  /** --namespace: the one namespace watched (cluster-scoped StoreSchemas are shared with other operators). */
  watchNamespace?: string | undefined;
  metrics: ControllerMetrics;
  /** DatabaseServers: their cache, which store is placed where, and which stores wait for a server. */
  servers: ServerDirectory;
  /** Supabase Management API base URL (--supabase-api-url); a StoreDatabase may override it. */
  supabaseApiUrl?: string | undefined;
  /** How often to re-check a Supabase project that is still coming up. */
  supabasePollMs?: number | undefined;
  /** A store finished (or failed) its rollout admission to a version of this StoreSchema: its rollout moves on now. */
  admissionDone?: ((schemaName: string) => void) | undefined;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How soon a reconcile looks again when its cache lags behind the API server (a create met AlreadyExists). */
export const CACHE_LAG_RETRY_MS = 1_000;

/** An error that retrying the same input cannot fix: reported in status, not retried until something changes. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

/** A ±10% jitter, so periodic work of many objects does not line up (connection storms). */
export function jitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}
