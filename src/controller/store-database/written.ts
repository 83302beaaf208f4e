// Keeps a reconcile's StoreDatabase in step with its own writes: the object a write returned replaces the
// in-memory metadata and status (so the next guarded write carries the new resourceVersion, not a 409), and
// the cache serves it until the watch delivers it.
import type { StoreDatabase } from '../../api/store-database.js';
import type { ControllerContext } from '../context.js';
import { newerVersion } from '../object-cache.js';

export function adoptWritten(ctx: ControllerContext, sdb: StoreDatabase, written: StoreDatabase): void {
  // Writes may complete out of order (the progress mirror runs beside the flow): keep the newest.
  if (newerVersion(sdb.metadata.resourceVersion, written.metadata.resourceVersion)) return;
  sdb.metadata = written.metadata;
  sdb.status = written.status;
  ctx.caches.databases.wrote(written);
}
