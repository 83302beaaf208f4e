// The connection Secret a StoreDatabase writes (writeConnectionSecretToRef): the conflict with a Secret
// storeop does not own, the store password kept in it, and writing it.
import type { ConnectionSecretRef } from '../../api/credentials.js';
import type { StoreDatabase } from '../../api/store-database.js';
import { extraSecretData } from '../../engines/connection-strings.js';
import { createsStoreRole, type DatabaseTarget, type TenantConnection } from '../../engines/target.js';
import { connectionUrl } from '../../engines/url.js';
import { ownedSecret, SecretConflictError } from '../../kube/client.js';
import { type ControllerContext, MANAGED_BY_LABELS, type ReconcileResult } from '../context.js';
import { applyConditions } from '../status.js';
import { cachedSecretAccess, findSecret, ownedSecretValue } from './secrets.js';
import { NOT_FOUND_RETRY_MS, patchStatus } from './status.js';

/** A connection Secret that exists and is not this StoreDatabase's: reported before anything is provisioned for it. */
export async function findSecretConflict(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  secretName: string | undefined,
): Promise<SecretConflictError | undefined> {
  if (!secretName) return undefined;
  const existing = await findSecret(ctx, sdb.metadata.namespace as string, secretName);
  return existing && !ownedSecret(existing, sdb) ? new SecretConflictError(secretName, sdb) : undefined;
}

/** The store password kept in the connection Secret, so the role is re-adopted instead of rotated. */
export async function passwordFromConnectionSecret(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  target: DatabaseTarget,
): Promise<string | undefined> {
  const name = sdb.spec.writeConnectionSecretToRef?.name;
  if (!name || !createsStoreRole(target)) return undefined;
  return ownedSecretValue(ctx, sdb, name, 'password');
}

export interface ConnectionSecretOptions {
  /** writeConnectionSecretToRef: its keys and templates (its name is the caller's `name`). */
  ref: ConnectionSecretRef;
  exposeServiceRoleKey: boolean;
}

/** What a connection Secret holds: the standard keys, the optional keys asked for and the rendered templates. */
export function connectionSecretData(connection: TenantConnection, options: ConnectionSecretOptions): Record<string, string> {
  const data: Record<string, string> = {
    engine: connection.engine,
    host: connection.host,
    port: String(connection.port),
    database: connection.database,
    username: connection.user,
    password: connection.password ?? '',
    url: connectionUrl(connection, { includePassword: true }),
  };
  if (connection.schema) data.schema = connection.schema;
  if (connection.projectUrl) data.supabaseUrl = connection.projectUrl;
  if (connection.anonKey) data.anonKey = connection.anonKey;
  // The service-role key bypasses row-level security: only when asked for explicitly.
  if (options.exposeServiceRoleKey && connection.serviceRoleKey) data.serviceRoleKey = connection.serviceRoleKey;
  return { ...data, ...extraSecretData(connection, options.ref) };
}

/** Writes (or updates) an owned connection Secret; throws SecretConflictError if a foreign one appeared. */
export async function writeConnectionSecret(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  name: string,
  connection: TenantConnection,
  options: ConnectionSecretOptions,
): Promise<void> {
  const data = connectionSecretData(connection, options);
  const namespace = sdb.metadata.namespace as string;
  const outcome = await ctx.kube.applySecret(
    namespace,
    name,
    data,
    sdb,
    { ...MANAGED_BY_LABELS, 'storeop.dev/storedatabase': sdb.metadata.name },
    cachedSecretAccess(ctx, namespace, name),
  );
  if (outcome !== 'unchanged') await ctx.events.record(sdb, 'Normal', 'ConnectionSecretWritten', `connection Secret ${name} ${outcome}`);
}

/**
 * The connection Secret exists and is not storeop's: nothing is written (or, later, deleted with this
 * object). Re-checked periodically, since a foreign Secret's removal may not reach the Secret watch.
 */
export async function reportSecretConflict(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  conflict: SecretConflictError,
): Promise<ReconcileResult> {
  const message = conflict.message;
  await patchStatus(ctx, sdb, {
    phase: 'Failed',
    observedGeneration: sdb.metadata.generation,
    message,
    conditions: applyConditions(
      sdb.status?.conditions,
      [
        { type: 'ConnectionSecretReady', status: 'False', reason: 'SecretConflict', message },
        { type: 'Ready', status: 'False', reason: 'SecretConflict', message },
      ],
      sdb.metadata.generation,
    ),
  });
  await ctx.events.record(sdb, 'Warning', 'SecretConflict', message);
  return { requeueAfterMs: NOT_FOUND_RETRY_MS };
}
