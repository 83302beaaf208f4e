// Rotating a store role's password, crash-safe: the new password is kept (encrypted, pending) in the master
// DB before the role has it; then the role is altered; then the master DB config and the caller's copy (the
// connection Secret) are updated; only then is the pending password dropped. A run stopped at any step is
// finished by the next one with the same pending password, so there is always one working password, and
// the master DB and the Secret agree once a run completes.
import { toStoreopError } from '../engines/driver-errors.js';
import { engineFor } from '../engines/index.js';
import { generatePassword } from '../engines/password.js';
import { type CreateTarget, secretsOf, type TenantConnection, targetSummary } from '../engines/target.js';
import { recordAudit } from '../master/audit.js';
import { saveDatabaseConfig } from '../master/integrations.js';
import { dropPendingPasswords, keepPendingPassword, type MasterContext, pendingPassword } from './provision-store.js';

/** The steps of a rotation, in order: where tests stop a run to prove the next one converges. */
export type RotationStep = 'kept' | 'altered' | 'registered' | 'published';

export interface RotationRequest {
  store: { id: string; slug: string };
  target: CreateTarget;
  /** Writes the new connection where apps read it (the connection Secret), after the master DB has it. */
  publish?: (connection: TenantConnection) => Promise<void>;
  onStepDone?: (step: RotationStep) => void | Promise<void>;
}

export interface RotationResult {
  connection: TenantConnection;
  /** Whether this run finished a rotation an earlier run started (its pending password). */
  resumed: boolean;
}

export async function rotateStoreCredentials(ctx: MasterContext, request: RotationRequest): Promise<RotationResult> {
  const { db } = ctx.master;
  const { store, target } = request;
  const stepDone = async (step: RotationStep) => request.onStepDone?.(step);
  const pending = await pendingPassword(db, ctx.keyring, store.id);
  const password = pending ?? generatePassword();
  try {
    if (!pending) await keepPendingPassword(db, ctx.keyring, store.id, target.engine, password);
    await stepDone('kept');
    // The same admin path as provisioning: the role's ownership is proven before ALTER ROLE/USER runs.
    const connection = await engineFor(target.engine).ensureDatabase(target, store.slug, password);
    await stepDone('altered');
    await saveDatabaseConfig(db, ctx.keyring, store.id, connection);
    await stepDone('registered');
    await request.publish?.(connection);
    await stepDone('published');
    await dropPendingPasswords(db, store.id);
    await recordAudit(db, {
      storeId: store.id,
      actor: ctx.actor,
      action: 'store.credentials.rotated',
      targetType: 'store',
      targetId: store.slug,
      details: { engine: target.engine, user: connection.user, resumed: pending !== undefined },
    });
    return { connection, resumed: pending !== undefined };
  } catch (error) {
    throw toStoreopError(error, targetSummary(target), [password, ...secretsOf(target)], 'rotating the store credentials');
  }
}
