// Deletion of a StoreDatabase: the finalizer, cleanup by deletionPolicy (through the store service, and the
// Supabase project for create mode), then the finalizer removed.

import { databaseServerSpec } from '../../api/database-server.js';
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { storeDatabaseSpec } from '../../api/store-database.js';
import { engineFor } from '../../engines/index.js';
import { resolveSupabaseSettings } from '../../engines/supabase/prepare.js';
import { supabaseDeprovisionTarget } from '../../engines/supabase/stage.js';
import { isStoreopError, redactSecrets, StoreopError } from '../../errors.js';
import { describeApiError, isNotFound } from '../../kube/client.js';
import type { Logger } from '../../log.js';
import { findStore } from '../../master/stores.js';
import { identityOf } from '../../stores/identity.js';
import { resolveTarget } from '../../stores/resolve-target.js';
import { placedOnServer } from '../../stores/server-placement.js';
import { serverTarget } from '../../stores/server-target.js';
import { deleteStore } from '../../stores/service.js';
import { type ControllerContext, FINALIZER, type ReconcileResult, SKIP_CLEANUP_ANNOTATION, TerminalError } from '../context.js';
import { adminSecretReader } from '../database-server/admin-secret.js';
import { applyConditions } from '../status.js';
import { appliedIdentity, cleanupIdentity, type RecordedIdentity, recordedChanges } from './identity.js';
import { readSecret } from './secrets.js';
import { patchStatus } from './status.js';
import { adoptWritten } from './written.js';

/** Adds the finalizer, so that a deletion waits for cleanup. */
export async function ensureFinalizer(ctx: ControllerContext, sdb: StoreDatabase): Promise<void> {
  if (sdb.metadata.finalizers?.includes(FINALIZER)) return;
  const finalizers = [...(sdb.metadata.finalizers ?? []), FINALIZER];
  adoptWritten(ctx, sdb, await ctx.kube.setFinalizers<StoreDatabase>('StoreDatabase', sdb.metadata, finalizers));
}

export async function finalize(ctx: ControllerContext, sdb: StoreDatabase, log: Logger): Promise<ReconcileResult> {
  if (!sdb.metadata.finalizers?.includes(FINALIZER)) return {};
  const provisioned = appliedIdentity(sdb);
  // A StoreDatabase that never became Ready may still have left a database or role behind.
  const recorded = cleanupIdentity(sdb);
  const skip = sdb.metadata.annotations?.[SKIP_CLEANUP_ANNOTATION] === 'true';
  if (recorded && !skip) {
    const applied = JSON.parse(recorded) as RecordedIdentity;
    const policy = sdb.spec.deletionPolicy ?? 'Retain';
    if (sdb.status?.phase !== 'Deleting')
      await patchStatus(ctx, sdb, { phase: 'Deleting', message: `deleting (deletionPolicy ${policy})` });
    try {
      await cleanup(ctx, sdb, applied, policy);
    } catch (error) {
      const message = redactSecrets(isStoreopError(error) ? error.message : describeApiError(error), []);
      log.warn({ err: message }, 'cleanup failed');
      if (!provisioned) {
        // Never Ready: often nothing was created (a wrong password), so do not hold the deletion for a
        // cleanup that may have nothing to do; say what may be left and let the deletion finish.
        await ctx.events.record(
          sdb,
          'Warning',
          'CleanupIncomplete',
          `the database never became Ready and could not be cleaned up: ${message}; anything a failed attempt created on the server is left as it is`,
        );
        return removeFinalizer(ctx, sdb);
      }
      await patchStatus(ctx, sdb, {
        phase: 'Deleting',
        message: `cleanup failed: ${message}`,
        conditions: applyConditions(
          sdb.status?.conditions,
          [
            {
              type: 'Ready',
              status: 'False',
              reason: 'CleanupFailed',
              message: `${message}; fix it, or annotate ${SKIP_CLEANUP_ANNOTATION}=true to delete without cleanup`,
            },
          ],
          sdb.metadata.generation,
        ),
      }).catch(() => {});
      await ctx.events.record(sdb, 'Warning', 'CleanupFailed', message);
      // Not retried until the object changes: retrying the same spec cannot help.
      if (isStoreopError(error) && !error.retryable) throw new TerminalError(message);
      throw error;
    }
  }
  return removeFinalizer(ctx, sdb);
}

/** Cleans up by deletionPolicy what the recorded identity names; throws when it cannot. */
async function cleanup(ctx: ControllerContext, sdb: StoreDatabase, applied: RecordedIdentity, policy: DeletionPolicy): Promise<void> {
  const namespace = sdb.metadata.namespace as string;
  const read = (secret: string, key: string) => readSecret(ctx, namespace, secret, key);
  const { slug } = applied;
  const spec = storeDatabaseSpec.parse(sdb.spec);
  if (policy === 'Delete') {
    // Cleanup acts on the spec as it is now. If an immutable field changed after provisioning (the
    // InvalidSpec case), the spec no longer names the database storeop created: a changed
    // databaseName or host would drop someone else's database, a changed mode would leak ours.
    const changed = recordedChanges(applied, { slug, ...identityOf(spec) });
    if (changed.length)
      throw new StoreopError(
        'InvalidSpec',
        `immutable field(s) changed since provisioning: ${changed.join(', ')}; revert them so that the database storeop created is the one dropped`,
        { retryable: false },
      );
  }
  if (policy === 'Delete' && spec.mode === 'create' && spec.engine === 'supabase') {
    const settings = await resolveSupabaseSettings(spec, read, { apiUrl: ctx.supabaseApiUrl });
    const ref = sdb.status?.supabaseProjectRef;
    if (ref) {
      await engineFor('supabase').deprovision(supabaseDeprovisionTarget(settings, ref), slug);
      await ctx.events.record(sdb, 'Normal', 'Deprovisioned', `deleted Supabase project ${ref}`);
    }
  }
  // The store service drops a create-mode database (Delete), and detaches the store in the master DB.
  const server = policy === 'Delete' && spec.mode === 'create' && spec.engine !== 'supabase';
  const target = server
    ? placedOnServer(spec)
      ? await placedTarget(ctx, sdb, spec, slug)
      : await resolveTarget(spec, read, { home: ctx.pgliteHome, slug })
    : undefined;
  const done = await deleteStore(ctx.master, {
    slug,
    source: `kubernetes:${namespace}/${spec.storeRef.name}`,
    policy,
    intent: target ? { target, identity: identityOf(spec, target) } : undefined,
    home: ctx.pgliteHome,
  });
  if (done.outcome === 'dropped') await ctx.events.record(sdb, 'Normal', 'Deprovisioned', `dropped the database and role of store ${slug}`);
  else if (policy === 'Delete' && spec.mode === 'connect')
    await ctx.events.record(sdb, 'Normal', 'Retained', 'connect mode: the database was not created by storeop and is kept');
}

/**
 * The target of a store placed on a DatabaseServer: the server it was placed on (status, else the master DB).
 * Never placed: nothing was created on any server, and there is nothing to drop.
 */
async function placedTarget(ctx: ControllerContext, sdb: StoreDatabase, spec: StoreDatabaseSpec, slug: string) {
  const name = sdb.status?.server ?? (await findStore(ctx.master.master.db, slug))?.database_server ?? undefined;
  if (!name) return undefined;
  const server = ctx.servers.get(name);
  const parsed = server ? databaseServerSpec.safeParse(server.spec) : undefined;
  if (!parsed?.success)
    throw new StoreopError(
      'InvalidSpec',
      `DatabaseServer ${name}, where the store is placed, ${server ? 'has an invalid spec' : 'does not exist'}: restore it so that the store's database can be dropped`,
      { retryable: true },
    );
  return serverTarget(spec, { name, spec: parsed.data }, adminSecretReader(ctx, parsed.data));
}

type DeletionPolicy = NonNullable<StoreDatabaseSpec['deletionPolicy']>;

/**
 * Guarded by the resourceVersion of this reconcile's own last write (the Deleting status above), so it
 * conflicts only with someone else's change. Without finalizers the object is gone.
 */
async function removeFinalizer(ctx: ControllerContext, sdb: StoreDatabase): Promise<ReconcileResult> {
  const finalizers = (sdb.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  let written: StoreDatabase;
  try {
    written = await ctx.kube.setFinalizers<StoreDatabase>('StoreDatabase', sdb.metadata, finalizers);
  } catch (error) {
    if (isNotFound(error)) return {}; // already gone
    throw error;
  }
  if (finalizers.length === 0) ctx.caches.databases.removed(written);
  else adoptWritten(ctx, sdb, written);
  return {};
}
