// The rollout's own path for a store that is Ready and registered and was admitted to a new version of its
// StoreSchema: only the schema work, through the store's own login (the connection this process's last full
// run used, else the one the master DB registered), with the migration lock and lock_timeout as always. No
// job row, no admin session, no Provisioning status: the database and role are as registered, and the
// periodic check keeps them so. A store whose login is not as registered goes the full way (provision()),
// which repairs it; only the schema work's own failures count against the rollout.
import type { StoreDatabase } from '../../api/store-database.js';
import type { DatabaseTarget } from '../../engines/target.js';
import { isStoreopError } from '../../errors.js';
import { readActiveDatabaseConfig } from '../../master/integrations.js';
import { type ProvisionResult, syncStoreSchema, type TargetSchema } from '../../provisioning/pipeline.js';
import type { StoreIntent } from '../../stores/intent.js';
import type { ControllerContext } from '../context.js';
import { checkKey, verifiedId, verifiedStores } from '../store-database/verified.js';

/** Failures that say the login is not as registered, not that the version failed: the full run handles them. */
const NOT_THE_VERSIONS_FAULT = new Set(['ConnectionFailed', 'AuthenticationFailed', 'DatabaseNotFound', 'PermissionDenied']);

/**
 * Applies the admitted version through the store's login; undefined when this path does not apply (an
 * engine without a server login, no registered connection, or a login that fails), and the caller runs the job.
 */
export async function applyAdmittedVersion(
  ctx: ControllerContext,
  sdb: StoreDatabase,
  request: { intent: StoreIntent; target: DatabaseTarget; schema: TargetSchema },
  storeId: string,
): Promise<ProvisionResult | undefined> {
  const { intent, target, schema } = request;
  if (target.engine !== 'postgresql' && target.engine !== 'mysql') return undefined;
  const memory = verifiedStores(ctx);
  const uid = verifiedId(sdb);
  const key = checkKey(sdb, intent, target);
  const known = memory.get(uid);
  const connection =
    known?.key === key
      ? known.result.connection
      : (await readActiveDatabaseConfig(ctx.master.master.db, ctx.master.keyring, storeId))?.connection;
  if (!connection || connection.engine !== target.engine) return undefined;
  try {
    const result = await syncStoreSchema({ slug: intent.slug, connection, schema, seed: intent.seed });
    memory.set(uid, { key, result });
    return result;
  } catch (error) {
    if (isStoreopError(error) && NOT_THE_VERSIONS_FAULT.has(error.code)) {
      memory.delete(uid);
      return undefined;
    }
    throw error;
  }
}
