// Where a StoreDatabase's database lives: a server target from the spec and its Secrets, or from the
// DatabaseServer it is placed on (placement.ts), or a Supabase project (prepared, or for a periodic check the
// connection registered in the master DB).
import type { StoreDatabase, StoreDatabaseSpec } from '../../api/store-database.js';
import { resolveSupabaseSettings, type SupabaseSettings } from '../../engines/supabase/prepare.js';
import type { DatabaseTarget } from '../../engines/target.js';
import { isStoreopError } from '../../errors.js';
import type { StoreDescription } from '../../stores/intent.js';
import type { PreparedJob } from '../../stores/provision-store.js';
import { resolveTarget } from '../../stores/resolve-target.js';
import { placedOnServer } from '../../stores/server-placement.js';
import { serverTarget } from '../../stores/server-target.js';
import type { ControllerContext, ReconcileResult } from '../context.js';
import { adminSecretReader } from '../database-server/admin-secret.js';
import { placeStoreDatabase } from './placement.js';
import { readSecret } from './secrets.js';
import { fail, failStatus, NOT_FOUND_RETRY_MS } from './status.js';
import { prepareSupabase, supabaseFromMaster } from './supabase.js';

export interface ResolvedTarget {
  target: DatabaseTarget;
  /** The job Supabase preparation opened, which provisioning continues. */
  preparedJob?: PreparedJob | undefined;
  supabase?: SupabaseSettings | undefined;
}

/** The target, or what to do meanwhile: a missing Secret is waited for, a project still coming up requeues. */
export async function resolveStoreTarget(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  spec: StoreDatabaseSpec,
  description: StoreDescription,
  upToDate: boolean,
): Promise<{ requeue: ReconcileResult } | ResolvedTarget> {
  const namespace = sdb.metadata.namespace as string;
  const read = (secret: string, key: string) => readSecret(ctx, namespace, secret, key);
  try {
    if (spec.engine === 'supabase') {
      const supabase = await resolveSupabaseSettings(spec, read, { apiUrl: ctx.supabaseApiUrl });
      const outcome = upToDate
        ? await supabaseFromMaster(ctx, sdb, supabase)
        : await prepareSupabase(ctx, sdb, spec, supabase, description.slug, description.declaration);
      if ('requeue' in outcome) return outcome;
      return { target: outcome.target, preparedJob: outcome.job, supabase };
    }
    if (placedOnServer(spec)) {
      const placed = await placeStoreDatabase(ctx, sdb, spec, description);
      if ('requeue' in placed) return placed;
      return { target: await serverTarget(spec, placed.server, adminSecretReader(ctx, placed.server.spec)) };
    }
    return { target: await resolveTarget(spec, read, { home: ctx.pgliteHome, slug: description.slug }) };
  } catch (error) {
    if (isStoreopError(error, 'InvalidSpec') && error.retryable) {
      // A missing Secret: wait for it (its creation re-enqueues us through the Secret watch).
      await failStatus(ctx, sdb, 'SecretNotFound', error.message);
      await ctx.events.record(sdb, 'Warning', 'SecretNotFound', error.message);
      return { requeue: { requeueAfterMs: NOT_FOUND_RETRY_MS } };
    }
    return { requeue: await fail(ctx, sdb, error) };
  }
}
