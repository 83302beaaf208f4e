// The credentials lifecycle of a StoreDatabase in create mode: when a rotation is due (rotationPeriod, or a
// new storeop.dev/rotate-credentials value), the rotation itself (stores/rotate-credentials.ts, publishing to
// the connection Secret), the read-only user and its Secret, and status.credentials.
import { durationMs, ROTATE_CREDENTIALS_ANNOTATION, readOnlySecretName } from '../../api/credentials.js';
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { engineFor } from '../../engines/index.js';
import { generatePassword } from '../../engines/password.js';
import { readOnlyUserName } from '../../engines/place.js';
import type { CreateTarget, TenantConnection } from '../../engines/target.js';
import { rotateStoreCredentials } from '../../stores/rotate-credentials.js';
import type { ControllerContext } from '../context.js';
import { findSecretConflict, writeConnectionSecret } from './connection-secret.js';
import { ownedSecretValue } from './secrets.js';
import { patchStatus } from './status.js';
import { verifiedId, verifiedStores } from './verified.js';

/** The rotation request in the annotation, when storeop has not handled that value yet. */
function pendingRequest(sdb: StoreDatabase): string | undefined {
  const value = sdb.metadata.annotations?.[ROTATE_CREDENTIALS_ANNOTATION];
  return value !== undefined && value !== sdb.status?.credentials?.rotationRequest ? value : undefined;
}

/** Milliseconds until the periodic rotation is due (0: now), or undefined without a rotationPeriod. */
export function untilPeriodicRotation(sdb: StoreDatabase, spec: StoreDatabaseSpec, now: number): number | undefined {
  const period = spec.credentials?.rotationPeriod;
  const last = sdb.status?.credentials?.lastRotationTime;
  if (!period || !last) return undefined;
  return Math.max(0, Date.parse(last) + durationMs(period) - now);
}

/** Whether the store role's password is to be rotated now, and why. */
export function rotationDue(sdb: StoreDatabase, spec: StoreDatabaseSpec, now: number): 'requested' | 'period' | undefined {
  if (pendingRequest(sdb) !== undefined) return 'requested';
  return untilPeriodicRotation(sdb, spec, now) === 0 ? 'period' : undefined;
}

/**
 * Rotates the store role's password: kept in the master DB first, then ALTER ROLE/USER, then the master DB
 * config and the connection Secret (see rotateStoreCredentials). status.credentials is written by
 * recordCredentials once the read-only user is rotated too, so a run stopped before that rotates again.
 */
export async function rotateCredentials(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  target: CreateTarget,
  store: { id: string; slug: string },
  reason: 'requested' | 'period',
): Promise<void> {
  const ref = spec.writeConnectionSecretToRef;
  const { connection, resumed } = await rotateStoreCredentials(ctx.master, {
    store,
    target,
    ...(ref
      ? { publish: (c: TenantConnection) => writeConnectionSecret(ctx, sdb, ref.name, c, { ref, exposeServiceRoleKey: false }) }
      : {}),
  });
  // The periodic check's memory holds the old password: the next check logs in with the new one.
  verifiedStores(ctx).delete(verifiedId(sdb));
  await ctx.events.record(
    sdb,
    'Normal',
    'CredentialsRotated',
    `rotated the password of ${connection.user} (${reason === 'requested' ? `requested by ${ROTATE_CREDENTIALS_ANNOTATION}` : `rotationPeriod ${spec.credentials?.rotationPeriod}`}${resumed ? ', finishing an interrupted rotation' : ''})`,
  );
}

/**
 * The read-only user (credentials.readOnlyUser) and its Secret `<connection Secret>-readonly`. Its password
 * is kept in that Secret, written before the user gets it: a run stopped in between sets the same password
 * on the next run. Touches the server on a new generation, a rotation, or when status does not yet name the
 * Secret (a first run, or one stopped before its end); a periodic check costs nothing.
 */
async function ensureReadOnlyUser(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  target: CreateTarget,
  main: TenantConnection,
  options: { slug: string; rotate: boolean; upToDate: boolean },
): Promise<string | undefined> {
  const ref = spec.writeConnectionSecretToRef;
  if (!spec.credentials?.readOnlyUser || !ref) return undefined;
  const name = readOnlySecretName(ref.name);
  const conflict = await findSecretConflict(ctx, sdb, name);
  if (conflict) throw conflict;
  const kept = options.rotate ? undefined : await ownedSecretValue(ctx, sdb, name, 'password');
  if (kept !== undefined && options.upToDate && sdb.status?.credentials?.readOnlySecretName === name) return name;
  const password = kept ?? generatePassword();
  const engine = engineFor(target.engine);
  if (!engine.ensureReadOnlyUser) return undefined;
  if (kept === undefined) {
    const user = readOnlyUserName(target, options.slug);
    await writeConnectionSecret(ctx, sdb, name, { ...main, user, password }, { ref, exposeServiceRoleKey: false });
  }
  await engine.ensureReadOnlyUser(target, options.slug, password);
  return name;
}

/**
 * status.credentials: when the password was last set (the first provisioning counts), the rotation request
 * handled, the read-only Secret. Written only when it changes.
 */
async function recordCredentials(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  update: { rotated: boolean; readOnlySecretName: string | undefined },
): Promise<void> {
  const current = sdb.status?.credentials ?? {};
  const request = sdb.metadata.annotations?.[ROTATE_CREDENTIALS_ANNOTATION];
  // The first password counts as set now, and a request present from the start is already met by it; a
  // request made during a later job stays pending until a rotation handles it.
  const set = update.rotated || !current.lastRotationTime;
  const credentials = {
    ...current,
    ...(set ? { lastRotationTime: new Date().toISOString() } : {}),
    ...(set && request !== undefined ? { rotationRequest: request } : {}),
  };
  // null removes the read-only Secret's name from status (a merge patch) once the user is gone.
  const readOnly = update.readOnlySecretName ?? (current.readOnlySecretName ? null : undefined);
  await patchStatus(ctx, sdb, { credentials: { ...credentials, readOnlySecretName: readOnly as string | undefined } });
}

/**
 * After the store is provisioned: the read-only user (rotated with the store role when `rotated`), then
 * status.credentials. Throws SecretConflictError when the read-only Secret is somebody else's.
 */
export async function settleCredentials(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  target: CreateTarget,
  connection: TenantConnection,
  options: { slug: string; rotated: boolean; upToDate: boolean },
): Promise<void> {
  const readOnly = spec.credentials?.readOnlyUser
    ? await ensureReadOnlyUser(ctx, sdb, spec, target, connection, {
        slug: options.slug,
        rotate: options.rotated,
        upToDate: options.upToDate,
      })
    : await retireReadOnlyUser(ctx, sdb, target, options.slug);
  await recordCredentials(ctx, sdb, { rotated: options.rotated, readOnlySecretName: readOnly });
}

/**
 * readOnlyUser turned off: the user is dropped, so its password stops working at once. Its Secret stays
 * (storeop has no right to delete Secrets) and goes with the StoreDatabase, its owner; status stops naming it.
 */
async function retireReadOnlyUser(ctx: ControllerContext, sdb: StoreDatabase, target: CreateTarget, slug: string): Promise<undefined> {
  const name = sdb.status?.credentials?.readOnlySecretName;
  if (!name) return undefined;
  await engineFor(target.engine).dropReadOnlyUser?.(target, slug);
  await ctx.events.record(sdb, 'Normal', 'ReadOnlyUserDropped', `dropped the read-only user; Secret ${name} no longer logs in`);
  return undefined;
}
